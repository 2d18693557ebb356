"""Cases as the CLI and the API both handle them: starting one (`starting`), pre-filling a
dossier from the registries (`prefill`), the procedures offered to citizens (`offering`)
and the words a citizen reads about a case (`labels`)."""
