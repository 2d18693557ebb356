"""One benchmark worker process: the engine or the twin, with the stub activities.

    python bench/bench_worker.py engine|twin --address HOST:PORT --task-queue Q
                                 [--profile DIR]

Each engine runs in its own process so that its CPU time and memory can be read from
/proc/<pid>. The engine worker is the product's (`motcua.worker.build_worker`) with the
stubs replacing the activities of the same names; the twin's is a plain `Worker` with the
same activities and interceptor. Both use the project's data converter (payload
encryption included), so activity and codec costs are the same on both sides.

`--profile DIR`: from SIGUSR1 on, run under cProfile, and at the end (SIGTERM) write
`workflow.prof` (the thread that runs workflow activations: the SDK runs them in a thread
pool, here of one thread so that one profiler sees them all) and `loop.prof` (the event
loop: polling, payload codec, activities). A look at where the time goes, not part of the
timed comparison (profiling slows everything down).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import stub_activities  # noqa: E402
from harness import READY  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402
from twin import BirthRegistrationTwin  # noqa: E402

from motcua.activities.heartbeat import HeartbeatInterceptor  # noqa: E402
from motcua.activities.registry import catalogue  # noqa: E402
from motcua.temporal import data_converter  # noqa: E402
from motcua.worker import build_worker, workflow_runner  # noqa: E402
from motcua.workflows.archiving import CaseArchiveWorkflow  # noqa: E402
from motcua.workflows.procedure import ProcedureWorkflow  # noqa: E402


def make_worker(
    kind: str, client: Client, queue: str, executor: ThreadPoolExecutor | None
) -> Worker:
    stubs = stub_activities.ACTIVITIES
    if kind == "engine" and executor is None:
        return build_worker(client, task_queue=queue, extra=stubs)
    if kind == "engine":
        # build_worker's arguments, plus the profiled executor it has no parameter for.
        return Worker(
            client,
            task_queue=queue,
            workflows=[ProcedureWorkflow, CaseArchiveWorkflow],
            workflow_runner=workflow_runner(),
            activities=[spec.fn for spec in catalogue(stubs).values()],
            interceptors=[HeartbeatInterceptor()],
            workflow_task_executor=executor,
        )
    return Worker(
        client,
        task_queue=queue,
        workflows=[BirthRegistrationTwin],
        activities=stubs,
        interceptors=[HeartbeatInterceptor()],
        workflow_task_executor=executor,
    )


class Profiles:
    """Two profilers, started on SIGUSR1 (after the warm-up) and saved at the end: one in
    the workflow thread, one in the event loop."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.executor = ThreadPoolExecutor(max_workers=1)  # all activations, one thread
        self.workflow, self.loop = cProfile.Profile(), cProfile.Profile()
        self.running = False

    def start(self) -> None:
        self.executor.submit(self.workflow.enable).result()
        self.loop.enable()  # signal handlers run in the loop's thread
        self.running = True

    def save(self) -> None:
        if self.running:
            self.loop.disable()
            self.executor.submit(self.workflow.disable).result()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.workflow.dump_stats(self.directory / "workflow.prof")
        self.loop.dump_stats(self.directory / "loop.prof")


async def serve(kind: str, address: str, queue: str, profiles: Profiles | None) -> None:
    client = await Client.connect(address, data_converter=data_converter())
    executor = profiles.executor if profiles is not None else None
    worker = make_worker(kind, client, queue, executor)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if profiles is not None:
        loop.add_signal_handler(signal.SIGUSR1, profiles.start)
    async with worker:
        print(READY, flush=True)  # noqa: T201
        await stop.wait()
    if profiles is not None:
        profiles.save()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("kind", choices=["engine", "twin"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    profiles = Profiles(args.profile) if args.profile else None
    asyncio.run(serve(args.kind, args.address, args.task_queue, profiles))


if __name__ == "__main__":
    main()
