"""Starting a case: compile the procedure, check the dossier, derive the receiving agency,
claim the dossier's subject (one open dossier per subject), draw a dossier code and start
the workflow. Shared by `motcua start` and the citizen API.

Two stages, so a refusal on the dossier needs no Temporal: `prepare(...)` (no I/O but the
procedure files and the published versions, motcua.publishing) and `start(client,
prepared, ...)`. Every refusal is a `StartRefused` subclass carrying what the caller needs
to word it; `str(error)` is a message for any caller, never holding a dossier's values.
The CLI words a few of them its own way (e.g. "pass --agency"), the API maps them to
409/422 (`StartRefused.conflict`).

Temporal's SDK and the workflow are imported when a case starts, so a refusal on the
arguments answers fast (motcua/cli/cases.py says why that matters).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motcua import dossier_codes
from motcua.settings import get_settings

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowExecutionDescription

    from motcua.workflows.contracts import CompiledProcedure, TokenTrust

Compiled = tuple["CompiledProcedure", dict[str, "CompiledProcedure"]]
RPC_TIMEOUT = timedelta(seconds=15)
CODE_ATTEMPTS = 50


class StartRefused(Exception):
    """A case that cannot start. `conflict` is True when the dossier is fine but the state of
    things refuses it (an open dossier on the same subject, a server that does not match);
    False when the request itself is wrong (HTTP 422)."""

    conflict = False


class InvalidDefinition(StartRefused):
    conflict = True

    def __init__(self, file: Path, diagnostics: str) -> None:
        self.file = file
        self.diagnostics = diagnostics
        super().__init__(f"{file} is not a valid procedure:\n{diagnostics}")


class InvalidDossier(StartRefused):
    def __init__(self, procedure_id: str, problems: list[str]) -> None:
        self.procedure_id = procedure_id
        self.problems = problems
        super().__init__(
            f"the dossier does not match the input of {procedure_id}:\n"
            + "\n".join(f"  {p}" for p in problems)
        )


class NoAgency(StartRefused):
    def __init__(self, level: str) -> None:
        self.level = level
        super().__init__(
            f"cannot derive the receiving agency of a {level}-level procedure from this dossier"
        )


class BadAgency(StartRefused):
    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"agency: {problem}")


class SubjectOpen(StartRefused):
    """Another dossier about the same subject (the same birth, the same death) is open."""

    conflict = True

    def __init__(self, message: str, dossier_code: str | None) -> None:
        self.dossier_code = dossier_code
        super().__init__(message)


class ServerMismatch(StartRefused):
    """The Temporal server or the sequence database is not set up for motcua."""

    conflict = True


@dataclass(frozen=True)
class Prepared:
    """A case ready to start: its compiled procedure and members, the checked dossier and
    the agency code that prefixes its dossier code."""

    procedure: CompiledProcedure
    members: dict[str, CompiledProcedure]
    dossier: dict[str, Any]
    prefix: str


@dataclass(frozen=True)
class Started:
    code: str
    task_queue: str


def compile_file(file: Path) -> Compiled:
    """The procedure in `file` and the members it starts, compiled; InvalidDefinition."""
    from motcua.workflows.dsl.compile import load_bundle
    from motcua.workflows.dsl.diagnostics import DefinitionError

    try:
        return load_bundle(file)
    except DefinitionError as e:
        raise InvalidDefinition(file, str(e)) from None


def case_definition(file: Path, compile: Callable[[Path], Compiled] = compile_file) -> Compiled:
    """What a new case of the procedure in `file` runs: its latest published version and
    the procedures it starts (motcua.publishing.current), where it has one, else `file`
    compiled by `compile` (offering passes its cached compile). The file is the draft:
    while it does not compile, a published version still runs, and InvalidDefinition is
    raised only for a procedure never published."""
    from motcua import publishing

    try:
        from_files = compile(file)
    except InvalidDefinition:
        procedure_id = _declared_id(file)
        published = publishing.current_of(procedure_id) if procedure_id else None
        if published is None:
            raise
        return published
    return publishing.current(from_files)


def _declared_id(file: Path) -> str | None:
    """The `id:` the YAML in `file` declares, if it reads as YAML at all."""
    from motcua.workflows.dsl.diagnostics import DefinitionError
    from motcua.workflows.dsl.loader import load_yaml

    try:
        data, _ = load_yaml(file, filename=str(file))
    except (DefinitionError, OSError, UnicodeDecodeError):
        return None
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


def prepare(
    compiled: Compiled,
    dossier: dict[str, Any],
    agency: str | None = None,
) -> Prepared:
    """Check `dossier` against the procedure's input and settle the agency prefix: `agency`,
    else derived from the dossier (dossier_codes.agency_for). The case runs the latest
    published version of the procedure and of each member, where one is published, else
    the compiled files (motcua.publishing.current)."""
    from motcua import publishing
    from motcua.workflows.dsl import dossier as dossier_check

    procedure, members = publishing.current(compiled)
    definition = procedure.definition
    problems = dossier_check.check(definition.input, dossier)
    if problems:
        raise InvalidDossier(definition.id, problems)
    prefix = agency or dossier_codes.agency_for(definition.agency, dossier)
    if prefix is None:
        raise NoAgency(definition.agency)
    problem = dossier_codes.agency_problem(prefix)
    if problem:
        raise BadAgency(problem)
    return Prepared(procedure, members, dossier, prefix)


async def start(
    client: Client,
    prepared: Prepared,
    *,
    channel: str = "online",
    on_code: Callable[[str], Awaitable[None]] | None = None,
    memo: dict[str, Any] | None = None,
    trust: TokenTrust | None = None,
) -> Started:
    """Claim the dossier's subject, then start its case. `on_code(code)` is awaited with each
    dossier code just before the workflow is started under it, and `memo` goes on the
    workflow: a caller that must survive a crash in between records the code and recognises
    its own case by the memo. With `trust` the case checks its officers' tokens itself
    (motcua.api.identity.case_trust, ADR 0013)."""
    from temporalio.client import WorkflowExecutionStatus

    from motcua import open_dossiers

    subject = open_dossiers.subject_key(prepared.procedure.definition, prepared.dossier)
    if subject is not None:

        async def is_open(code: str) -> bool:
            described = await describe(client, code)
            return described is not None and described.status == WorkflowExecutionStatus.RUNNING

        try:
            await open_dossiers.claim(subject, is_open)
        except open_dossiers.DossierOpen as e:
            raise SubjectOpen(str(e), e.dossier_code) from None
    try:
        started = await _start_workflow(client, prepared, channel, on_code, memo, trust)
    except BaseException:
        if subject is not None:
            await open_dossiers.release(subject)
        raise
    if subject is not None:
        await open_dossiers.opened(subject, started.code)
    return started


async def _start_workflow(
    client: Client,
    prepared: Prepared,
    channel: str,
    on_code: Callable[[str], Awaitable[None]] | None,
    memo: dict[str, Any] | None,
    trust: TokenTrust | None,
) -> Started:
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError

    from motcua.activities.calendar import snapshot as calendar_snapshot
    from motcua.activities.definitions import pin_members
    from motcua.workflows.contracts import CaseStart, initial_search_attributes
    from motcua.workflows.procedure import ProcedureWorkflow

    definition = prepared.procedure.definition
    queue = get_settings().task_queue
    for _ in range(CODE_ATTEMPTS):
        code = await asyncio.to_thread(dossier_codes.next_code, prepared.prefix)
        start = CaseStart(
            dossier_code=code,
            procedure=prepared.procedure,
            member_refs=pin_members(prepared.members),
            dossier=prepared.dossier,
            channel=channel,
            calendar=calendar_snapshot(),
            trust=trust,
        )
        if on_code is not None:
            await on_code(code)
        try:
            await client.start_workflow(
                ProcedureWorkflow.run,
                start,
                id=code,
                task_queue=queue,
                search_attributes=initial_search_attributes(code, definition.id),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo=memo,
                rpc_timeout=RPC_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            continue  # the sequence table is younger than the server's cases: next number
        except RPCError as e:
            if "search attribute" in e.message.lower():
                raise ServerMismatch(
                    f"the server does not know motcua's search attributes ({e.message}): "
                    "start it with `make run`, or register them (docs/operations.md)"
                ) from None
            raise
        return Started(code, queue)
    raise ServerMismatch(
        f"dossier codes {prepared.prefix}-…: {CODE_ATTEMPTS} numbers in a row are already used "
        "on the server; the sequence database (DATABASE_URL) does not match this server"
    )


async def describe(client: Client, code: str) -> WorkflowExecutionDescription | None:
    """The case `code` as the server describes it, or None if the server has no such case."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        return await client.get_workflow_handle(code).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
