"""The worker: registers ProcedureWorkflow and every catalogued activity. Wiring only.

`python -m motcua.worker` also serves the Temporal SDK's metrics (task slots, poll and
schedule-to-start latencies, activity and workflow task outcomes) for Prometheus at
http://MOTCUA_WORKER_METRICS_HOST:MOTCUA_WORKER_METRICS_PORT/metrics (127.0.0.1:9464; port 0
turns them off; a port already taken is logged and the worker runs without them).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from motcua.activities.heartbeat import HeartbeatInterceptor
from motcua.activities.registry import catalogue
from motcua.audit.archive import ArchiveWaiter
from motcua.settings import get_settings
from motcua.temporal import connect
from motcua.workflows.archiving import CaseArchiveWorkflow
from motcua.workflows.procedure import ProcedureWorkflow

# Imported once per worker instead of once per cached case (ADR 0011). Jinja2 compiles
# expressions lazily and keeps caches behind locks; it is deterministic, so it is passed
# through rather than re-imported (and refused) inside the sandbox. The workflow package
# is passed through whole: re-executing procedure.py for every case cost each cached case
# ~80 KiB of code objects; its determinism is held by tests/test_workflow_determinism.py
# and the golden-history replays instead of the sandbox's import proxies. The place names
# that the `place_name`/`agency_title` filters read are pinned data (motcua.places, from
# vietnam_provinces): loaded once per worker, not into each case's sandbox.
PASSED_THROUGH = (
    "jinja2", "markupsafe", "motcua.workflows", "motcua.places", "vietnam_provinces", "enum_tools",
    "jwt", "cryptography",  # officers' tokens are verified in the case (ADR 0013)
)  # fmt: skip


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox the worker and the replayer share."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_worker(
    client: Client,
    *,
    task_queue: str | None = None,
    extra: list[Callable[..., Any]] | None = None,
    short_lived: bool = False,
) -> Worker:
    """The worker. `short_lived`: a worker on a task queue of its own, stopped once its
    cases are done (a test, `motcua simulate`), that first finishes their archiving."""
    waiter = ArchiveWaiter() if short_lived else None
    options: dict[str, Any] = dict(
        task_queue=task_queue or get_settings().task_queue,
        workflows=[ProcedureWorkflow, CaseArchiveWorkflow],
        workflow_runner=workflow_runner(),
        activities=[
            spec.fn
            for spec in catalogue(
                [*(extra or []), *([waiter.activity()] if waiter else [])]
            ).values()
        ],
        interceptors=[HeartbeatInterceptor()],
    )
    return ShortLivedWorker(client, waiter, **options) if waiter else Worker(client, **options)


class ShortLivedWorker(Worker):
    def __init__(self, client: Client, waiter: ArchiveWaiter, **options: Any) -> None:
        super().__init__(client, **options)
        self.waiter = waiter

    async def __aexit__(self, *exc: Any) -> None:
        await self.waiter.settled(self.client)
        await super().__aexit__(*exc)


log = logging.getLogger("motcua.worker")


def metrics_runtime() -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics for Prometheus, or None when off."""
    host = os.environ.get("MOTCUA_WORKER_METRICS_HOST", "127.0.0.1")
    port = os.environ.get("MOTCUA_WORKER_METRICS_PORT", "9464")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"MOTCUA_WORKER_METRICS_PORT={port!r} is not a port number (0 is off)")
    if int(port) == 0:
        return None
    address = f"{host}:{port}"
    try:
        metrics = PrometheusConfig(bind_address=address)
        runtime = Runtime(telemetry=TelemetryConfig(metrics=metrics))
    except ValueError as e:  # the port is taken: work without metrics rather than not at all
        log.warning("no worker metrics on %s: %s", address, e)
        return None
    log.info("worker metrics on http://%s/metrics", address)
    return runtime


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    runtime = metrics_runtime()
    if runtime is not None:
        Runtime.set_default(runtime)  # before connecting: the client's runtime is the default
    client = await connect()
    worker = build_worker(client)
    log.info("worker polling task queue %s", worker.task_queue)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
