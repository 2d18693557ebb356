"""Golden histories: every recorded case must replay against today's workflow code.

A change that is not replay-safe (a new command, a reordered step) fails here; put such a
change behind `workflow.patched` and record a new history beside the old ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from motcua.temporal import data_converter
from motcua.worker import workflow_runner
from motcua.workflows.procedure import ProcedureWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert len(HISTORIES) >= 3, "run `make histories` to record the golden histories"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(
        workflows=[ProcedureWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=data_converter(),
    )
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await replayer.replay_workflow(history)
