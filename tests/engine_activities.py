"""Activities the engine tests register beside the product's: a switchable failure.

They exist to drive the interpreter through stalls and retries; the writes that must be
proven to happen once go to the product's own register (register.write).
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

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


ACTIVITIES = [echo]
