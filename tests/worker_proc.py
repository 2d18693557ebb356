"""A worker process for tests that kill it: the product worker plus the test activities.

Run as `python -m tests.worker_proc`; address, task queue and data directory come from the
environment like the product worker's.
"""

from __future__ import annotations

import asyncio

from motcua.temporal import connect
from motcua.worker import build_worker
from tests import engine_activities


async def main() -> None:
    client = await connect()
    await build_worker(client, extra=engine_activities.ACTIVITIES).run()


if __name__ == "__main__":
    asyncio.run(main())
