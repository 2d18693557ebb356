"""Activities the engine tests register beside the product's: a switchable failure.

They exist to drive the interpreter through stalls and retries; the writes that must be
proven to happen once go to the product's own register (register.write).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from motcua.activities import calendar, register
from motcua.activities.base import ActivityInput

# step id -> how many more attempts fail; tests set this while the worker runs in-process.
FAILURES: dict[str, int] = {}
CALLS: list[str] = []


class EchoInput(ActivityInput):
    value: Any = None


class EchoResult(ActivityInput):
    value: Any = None
    attempt: int = 0


@activity.defn(name="test.echo")
async def echo(req: EchoInput) -> EchoResult:
    """Returns its input, failing while FAILURES says so for the calling step."""
    CALLS.append(req.idempotency_key)
    step = req.idempotency_key.rsplit(":", 1)[-1]
    if FAILURES.get(step, 0) > 0:
        FAILURES[step] -= 1
        raise ApplicationError("registry unavailable (injected)", type="Unavailable")
    return EchoResult(value=req.value, attempt=activity.info().attempt)


@activity.defn(name="test.refuse")
async def refuse(req: EchoInput) -> EchoResult:
    """Refuses, quoting what it was given: the careless registry message that the payload
    codec must keep out of plain text (failure messages travel in the history)."""
    raise ApplicationError(f"registry refused {req.value}", type="NotEligible", non_retryable=True)


class SlowWriteInput(ActivityInput):
    book: str
    entry: dict[str, Any]
    delay: float = 0.0


@activity.defn(name="test.slow_register")
async def slow_register(req: SlowWriteInput) -> register.WriteResult:
    """Writes to the register, then dawdles on its first attempt: a worker killed meanwhile
    has applied the write but never reported it, so Temporal runs the activity again."""
    result = await register.write(
        register.WriteInput(
            book=req.book,
            entry=req.entry,
            idempotency_key=req.idempotency_key,
            dossier_code=req.dossier_code,
        )
    )
    if activity.info().attempt == 1:
        await asyncio.sleep(req.delay)
    return result


# Set by a test to make the calendar below answer with a date nobody can read.
CALENDAR_ANSWERS_NONSENSE = False


@activity.defn(name="calendar.add_working_days")
async def switchable_calendar(request: calendar.DeadlineRequest) -> dict[str, Any]:
    """The product's calendar, unless a test switches it to nonsense: stands for a bug in
    a component, which the workflow must record rather than lose. Registered only by tests
    that ask for it (new_worker(extra=...))."""
    if CALENDAR_ANSWERS_NONSENSE:
        return {"due": "không phải ngày"}
    answer = await calendar.add_working_days(request)
    return answer.model_dump(mode="json")


ACTIVITIES = [echo, refuse, slow_register]
