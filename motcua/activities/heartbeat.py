"""Every activity heartbeats while it runs, without each one having to remember to.

A worker-side interceptor runs a small task beside each activity that calls
`activity.heartbeat()` every HEARTBEAT_EVERY seconds. With a heartbeat timeout on the call
(motcua.activities.profiles), Temporal notices an attempt lost with a killed worker within
seconds and retries it, and an attempt that has timed out learns it is cancelled at its next
heartbeat instead of running on beside its retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from motcua.activities.profiles import HEARTBEAT_EVERY


class _Heartbeating(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if activity.info().is_local:  # runs inside the workflow task: nothing to beat to
            return await self.next.execute_activity(input)
        beat = asyncio.create_task(_beat())
        try:
            return await self.next.execute_activity(input)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat


async def _beat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_EVERY)


class HeartbeatInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Heartbeating(next)
