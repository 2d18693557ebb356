"""Record the golden histories replayed by tests/test_replay.py.

Run `make histories` after a deliberate behaviour change (behind `workflow.patched`), and
commit the new files next to the old ones: old histories must keep replaying.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from motcua.temporal import data_converter, ensure_search_attributes
from tests.conftest import BIN
from tests.demo_case import run_every_step
from tests.helpers import new_worker

HERE = Path(__file__).resolve().parent
# Bump when a patched behaviour change needs new histories; keep the older files, since
# cases started before the change must keep replaying.
GENERATION = "v2"


async def save(client: Client, handle: WorkflowHandle, name: str) -> None:
    history = await handle.fetch_history()
    path = HERE / f"{name}.{GENERATION}.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"wrote tests/histories/{path.name} ({len(history.events)} events)")  # noqa: T201


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    try:
        async with new_worker(env.client) as worker:
            for name, review, police in [
                ("every_step_approved", "approve", "approve"),
                ("every_step_rejected_by_member", "approve", "reject"),
                ("every_step_rejected_at_review", "reject", "approve"),
            ]:
                code = f"DEMO-00001-261123-{name}"
                _, handle = await run_every_step(
                    env.client, worker, code, review=review, police=police
                )
                await save(env.client, handle, name)
                if review == "approve":
                    member = env.client.get_workflow_handle(f"{code}.confirmation")
                    await save(env.client, member, f"{name}.member")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
