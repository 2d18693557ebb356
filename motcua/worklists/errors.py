"""One error for every refusal in worklists, with a stable kind.

The API maps the kind to an HTTP status (KIND_STATUS); the CLI prints the message. A
refused Update's message is the case's own (motcua.workflows.case_book), passed on as is.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Literal, TypeVar

T = TypeVar("T")

Kind = Literal["no_case", "closed", "no_worker", "no_answer", "conflict", "invalid", "forbidden"]
KIND_STATUS: dict[Kind, int] = {
    "no_case": 404,
    "closed": 409,
    "conflict": 409,
    "invalid": 422,
    "forbidden": 403,
    "no_worker": 503,
    "no_answer": 503,
}

# How the case words a refusal that is about its present state (try again later, or
# nothing to do), or about who is asking; any other refusal is about the request itself.
_CONFLICT = ("no open task", "is not waiting for", "is not stalled")
_FORBIDDEN = ("refused: ", "role '", "agency '")


class WorkRefused(Exception):
    """A refusal or failure explained for the caller; `kind` says which (KIND_STATUS)."""

    def __init__(self, kind: Kind, message: str) -> None:
        super().__init__(message)
        self.kind: Kind = kind
        self.message = message


def refusal_kind(message: str) -> Kind:
    """The kind of a refusal from a case's Update validator, by its wording."""
    if message.startswith(_FORBIDDEN) or " is assigned to " in message:
        return "forbidden"
    if any(words in message for words in _CONFLICT):
        return "conflict"
    return "invalid"


def refusal_message(error: BaseException) -> str:
    """What a refused Update says: the validator's ApplicationError message."""
    from temporalio.exceptions import ApplicationError

    cause = getattr(error, "cause", None) or error.__cause__
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)


async def on_case(code: str, call: Awaitable[T]) -> T:
    """Await a query or Update on case `code`, turning Temporal's failures into
    WorkRefused: no such case, a closed case, no worker answering, a refused Update."""
    from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
    from temporalio.service import RPCError, RPCStatusCode

    try:
        return await call
    except WorkflowUpdateFailedError as e:
        message = refusal_message(e)
        raise WorkRefused(refusal_kind(message), message) from None
    except WorkflowQueryFailedError as e:
        raise WorkRefused(
            "no_answer", f"case {code} could not answer its state query: {e}"
        ) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            if "completed" in e.message.lower() or "closed" in e.message.lower():
                raise WorkRefused("closed", f"case {code} is closed") from None
            raise WorkRefused("no_case", f"no case with dossier code {code}") from None
        if e.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise WorkRefused(
                "no_worker", f"case {code} did not answer in time: is a worker running?"
            ) from None
        raise
