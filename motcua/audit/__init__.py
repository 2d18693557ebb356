"""The audit trail: who read or changed which case, kept so that it proves itself."""
