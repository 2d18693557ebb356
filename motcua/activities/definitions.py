"""The definition store: compiled definitions kept once, by content hash (ADR 0012).

A bundle's start input names its members by reference; each member case fetches its own
definition with `definitions.fetch` as its first act. So every definition in a case tree is
recorded once, in the history of the case that runs it, and that history stays
self-contained. The store is the result store (motcua.activities.store): a definition is
kept as its canonical JSON, whose SHA-256 is its hash, so the reference is
`<hash>.json` and every read is verified against it.

Starters put the definitions a case may need before they start it (`pin_members`); workers
on other machines must see the same store (a shared data directory, or an object store
behind `ResultStore`).
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from motcua.activities.base import ActivityInput
from motcua.activities.store import ResultStore, StoreError, get_store
from motcua.workflows.contracts import CompiledProcedure, DefinitionRef, canonical
from motcua.workflows.dsl.model import ProcedureDefinition

SUFFIX = ".json"


def put(procedure: CompiledProcedure, store: ResultStore | None = None) -> DefinitionRef:
    """Keep `procedure` in the store (a no-op when it is there) and return its reference."""
    ref = (store or get_store()).put(canonical(procedure.definition), SUFFIX)
    if ref != procedure.hash + SUFFIX:  # the hash was not taken of this definition
        raise ValueError(f"definition {procedure.definition.id}: hash does not match its content")
    return procedure.ref


def pin_members(members: dict[str, CompiledProcedure]) -> dict[str, DefinitionRef]:
    """Store a bundle's member definitions; the references its start input carries."""
    store = get_store()
    return {name: put(member, store) for name, member in members.items()}


def get(hash_: str, store: ResultStore | None = None) -> CompiledProcedure:
    """The definition stored under `hash_`; StoreError if absent or altered."""
    data = (store or get_store()).get(hash_ + SUFFIX)
    definition = ProcedureDefinition.model_validate_json(data)
    return CompiledProcedure(definition=definition, hash=hash_)


class FetchDefinition(ActivityInput):
    hash: str


@activity.defn(name="definitions.fetch")
async def fetch(request: FetchDefinition) -> CompiledProcedure:
    """The definition a member case runs. Missing: retried (the store may be catching up on
    another machine), then the case stalls for an officer. Altered or unreadable: not
    retried, the case stalls at once."""
    where = f"definition {request.hash[:12]}"
    store = get_store()
    try:
        if not store.exists(request.hash + SUFFIX):
            raise ApplicationError(f"{where} is not in the definition store", type="NOT_FOUND")
        return get(request.hash, store)
    except (StoreError, ValidationError) as e:
        problem = f"{e.error_count()} errors" if isinstance(e, ValidationError) else str(e)
        raise ApplicationError(
            f"{where} does not load: {problem}", type="DEFINITION_CORRUPT", non_retryable=True
        ) from e


ACTIVITIES = [fetch]
