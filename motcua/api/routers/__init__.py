"""One router per audience: public, citizen, officer (and supervisor), analyst, ops."""
