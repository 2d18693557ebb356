"""Officers' and supervisors' work lists over the running cases, shared by the API
(motcua/api/routers/officer.py) and the CLI (`motcua cases`, `motcua resume-all`).

Everything here reads Temporal itself, not a read model: visibility (the search attributes
every case keeps current: DossierCode, ProcedureId, CaseStatus, Agency, DueAt) picks the
cases, and each picked case's `state` query says what exactly is open or stalled in it.
ADR 0016 says what that costs and what a read model would change.

- listing: cases by status, agency, procedure and due date, a page at a time;
- tasks: an agency's inbox, and deciding a task as the token's holder;
- stalls: the stalled list, resuming one case or every case stalled on one activity;
- overdue: overdue work per role, for supervisors;
- errors: one error with a stable kind, which the API maps to a status and the CLI prints.
"""
