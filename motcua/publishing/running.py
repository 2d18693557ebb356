"""How many running cases each version of a procedure has, read from Temporal.

Visibility lists a procedure's running cases (`ProcedureId`, execution status Running,
motcua.worklists.listing); which version a case runs only the case knows: its `state`
query's `definition_hash` (the workflow records no search attribute for it, and workflow
code is not changed for this). So a count costs one visibility page per 500 running cases
plus one `state` query per case not seen before: a case never changes its definition, so
each dossier code's hash is remembered (up to REMEMBERED codes per API process) and a
repeated listing queries only the cases started since. The first listing of a procedure
with 10,000 running cases is 10,000 queries, 16 at a time (a worker answers each, replaying
the case's history when it is not in its cache): seconds, and load on the workers. A
`DefinitionHash` search attribute set at the start would make it one count per version.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from motcua.worklists.listing import CaseFilter, every_case, visibility_query
from motcua.worklists.states import states_of

if TYPE_CHECKING:
    from temporalio.client import Client

REMEMBERED = 200_000
_hashes: OrderedDict[str, str] = OrderedDict()  # dossier code -> definition hash


@dataclass(frozen=True)
class Running:
    """Running cases of one procedure: how many on each definition hash, in all, and how
    many did not say which (no worker answered their query)."""

    by_hash: Counter[str]
    total: int
    unanswered: int

    def unpublished(self, hashes: Iterable[str]) -> int:
        """Cases that answered on none of `hashes`: running a definition never published
        (started from its file)."""
        return self.total - self.unanswered - sum(self.by_hash.get(h, 0) for h in set(hashes))


def _remember(code: str, hash_: str) -> None:
    _hashes[code] = hash_
    if len(_hashes) > REMEMBERED:
        _hashes.popitem(last=False)


async def running(client: Client, procedure_id: str) -> Running:
    """The running cases of `procedure_id` by definition hash (WorkRefused when Temporal
    cannot list them)."""
    rows = await every_case(client, CaseFilter(procedure=procedure_id))
    codes = [r.dossier_code for r in rows]
    unknown = [c for c in codes if c not in _hashes]
    states, unanswered = await states_of(client, unknown)
    for code, state in states.items():
        _remember(code, state.definition_hash)
    by_hash = Counter(_hashes[c] for c in codes if c in _hashes)
    return Running(by_hash, len(codes), len(unanswered))


async def count_running(client: Client, procedure_id: str) -> int:
    """How many cases of `procedure_id` run (one visibility count, no queries)."""
    query = visibility_query(CaseFilter(procedure=procedure_id), datetime.now(UTC))
    return (await client.count_workflows(query)).count


async def on_versions(client: Client, procedure_id: str, *, published: bool) -> Running:
    """The running cases of `procedure_id`; a procedure never `published` needs no state
    queries: all its cases run a file (one count). WorkRefused or RPCError when Temporal
    cannot answer."""
    if published:
        return await running(client, procedure_id)
    return Running(Counter(), await count_running(client, procedure_id), 0)
