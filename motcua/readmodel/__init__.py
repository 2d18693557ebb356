"""The read model: what officers, supervisors, citizens and the programme ask of many cases
at once, in SQL (ADR 0014).

Each case writes its own rows, through the `readmodel.project` local activity, whenever what
they show changes (motcua.workflows.procedure): the dossier, its tasks, decisions and
stalls (`tables`). Documents, notifications, ratings, submissions and published definitions
are rows their own activities and endpoints write (motcua.activities.documents,
motcua.activities.notifications, motcua.api.submissions, motcua.publishing.store).
`motcua rebuild-read-model` rebuilds the projected tables from Temporal (`rebuild`).
"""
