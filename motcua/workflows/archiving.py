"""The archiving of a closed case: a small workflow that outlives the case it archives.

A case cannot archive its own history: until it has closed, the history lacks its last
events. So as its last act a case starts `CaseArchiveWorkflow` through the local activity
`archive.start` (a workflow of its own, not a child: nothing ties it to the case's end).
Its one activity, `archive.write_case`
(motcua.audit.archive), waits until the case has closed, then writes its full history, its
definition, its documents' hashes, decisions and members to the archive. The activity is
retried with backoff until the archive takes the write (idempotent), so a worker crash or
an unreachable archive delays the archive and loses nothing.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

ARCHIVE_WORKFLOW = "CaseArchiveWorkflow"
ARCHIVE_ACTIVITY = "archive.write_case"
ARCHIVE_START_ACTIVITY = "archive.start"


class ArchiveInput(BaseModel):
    dossier_code: str
    run_id: str


class ArchiveReceipt(BaseModel):
    dossier_code: str
    run_id: str
    written: bool  # False: the archive already held this run (a retry, a second archiving)
    history_sha256: str
    events: int


def archive_workflow_id(dossier_code: str) -> str:
    """The archiving workflow's id: beside the case's, never a member's (`<code>.<step>`)."""
    return f"{dossier_code}/archive"


@workflow.defn(name=ARCHIVE_WORKFLOW)
class CaseArchiveWorkflow:
    @workflow.run
    async def run(self, case: ArchiveInput) -> ArchiveReceipt:
        return await workflow.execute_activity(
            ARCHIVE_ACTIVITY,
            case,
            result_type=ArchiveReceipt,
            start_to_close_timeout=timedelta(minutes=2),
            # Until the archive takes it: the first attempts wait for the case to close
            # (a second at most), later ones for an archive that could not be written.
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(minutes=10),
            ),
        )
