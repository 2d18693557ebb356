"""Analysts: validate a definition, publish a version, list versions with their running
cases, diff two versions, draw one.

Who may call: analysts and admins read and validate (`require("analyst", "admin")`);
only analysts publish (`require("analyst")`): a version is recorded with its publisher,
the person answerable for its content, and operating the system (admin) is not writing
procedures. A published version is immutable and named by its content hash; new cases
start on the latest (motcua.publishing, ADR 0018). Running cases are counted from
Temporal (motcua.publishing.running says how that scales). A new version published is
appended to the audit log (motcua.audit.log).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from pathlib import Path as FilePath
from typing import Annotated, Literal

import click
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from temporalio.client import Client
from temporalio.service import RPCError

from motcua.api.analyst_views import (
    TEXT_BODY,
    DefinitionOut,
    DiagnosticOut,
    ValidationOut,
    VersionOut,
    VersionText,
    definition_text,
    running_out,
)
from motcua.api.deps import require
from motcua.api.identity import Principal
from motcua.audit.log import record
from motcua.publishing import checking, store
from motcua.publishing import publish as publishing
from motcua.publishing import running as counting
from motcua.workflows.contracts import CompiledProcedure
from motcua.workflows.dsl.graph import to_format
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.worklists.errors import WorkRefused

log = logging.getLogger(__name__)
router = APIRouter(prefix="/definitions", tags=["analyst"])

Reader = Annotated[Principal, Depends(require("analyst", "admin"))]
Publisher = Annotated[Principal, Depends(require("analyst"))]
Text = Annotated[str, Depends(definition_text)]
ProcedureId = Annotated[
    str,
    Path(max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", description="Procedure id"),
]
Version = Annotated[int, Path(ge=1, le=2_000_000_000, description="A published version")]
FileName = Annotated[
    str,
    Query(
        min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
        description="The name the diagnostics give the text (e.g. its path in the repository)",
    ),
]  # fmt: skip
CountRunning = Annotated[bool, Query(description="Count the running cases on each version")]
MEDIA = {"mermaid": "text/plain", "dot": "text/vnd.graphviz", "svg": "image/svg+xml"}


def _checked(text: str, file: str) -> checking.Checked:
    try:
        return checking.check_text(text, file=file)
    except store.Corrupt as e:
        raise HTTPException(409, str(e)) from None


def _row(procedure_id: str, version: int) -> store.PublishedDefinition:
    found = store.row(procedure_id, version)
    if found is None:
        raise HTTPException(
            404, f"{procedure_id} has no published version {version} (GET /definitions/"
            f"{procedure_id}/versions lists them)",
        )  # fmt: skip
    return found


def _client(request: Request) -> Client | None:
    client: Client | None = getattr(request.app.state, "temporal", None)
    return client


# ---------------------------------------------------------------- validate and publish


@router.post("/validate", response_model=ValidationOut, openapi_extra=TEXT_BODY)
def validate(caller: Reader, text: Text, file: FileName = "definition.yaml") -> ValidationOut:
    """Check a definition as `motcua validate` checks a file: every problem located
    (`file:line:col: CODE message hint`), child procedures resolved against the catalogue
    (with their latest published versions)."""
    checked = _checked(text, file)
    defn = checked.definition
    latest = store.versions(defn.id)[-1:] if defn is not None else []
    compiled = _compile(checked)
    return ValidationOut(
        valid=defn is not None,
        procedure_id=defn.id if defn else None,
        version=defn.version if defn else None,
        hash=compiled.hash if compiled else None,
        catalogue_file=_relative(checked.catalogue_file),
        latest_published=latest[0].version if latest else None,
        diagnostics=[DiagnosticOut.of(d) for d in checked.diagnostics],
    )


def _compile(checked: checking.Checked) -> CompiledProcedure | None:
    return CompiledProcedure.of(checked.definition) if checked.definition else None


def _relative(path: FilePath | None) -> str | None:
    from motcua.settings import get_settings

    if path is None:
        return None
    root = get_settings().procedure_dir
    return str(path.relative_to(root)) if path.is_relative_to(root) else path.name


@router.post(
    "/publish",
    response_model=VersionOut,
    status_code=201,
    openapi_extra=TEXT_BODY,
    responses={200: {"model": VersionOut, "description": "This content was published before"}},
)
def publish(
    caller: Publisher, text: Text, response: Response, file: FileName = "definition.yaml"
) -> VersionOut:
    """Publish a version: 201 with its version and hash, recorded with who and when; the
    same content again answers 200 with the version it has. A definition that does not
    validate is 422 (the diagnostics); a `version:` not above the latest published is 409."""
    try:
        done = publishing.publish_text(text, file=file, by=caller.sub)
    except publishing.Refused as e:
        raise HTTPException(422, str(e)) from None
    except (store.VersionTaken, store.Corrupt) as e:
        raise HTTPException(409, str(e)) from None
    published = done.version
    if done.created:
        log.info(
            "published %s version %d (%s)",
            published.procedure_id, published.version, published.hash[:12],
        )  # fmt: skip
        record(
            "publish", actor=caller.sub, role=caller.role,
            detail={"procedure_id": published.procedure_id, "version": published.version,
                    "hash": published.hash},
        )  # fmt: skip
    else:
        response.status_code = 200
    return VersionOut.of(published)


# ---------------------------------------------------------------- versions


async def _running(
    client: Client | None, procedure_id: str, published: bool
) -> tuple[counting.Running | None, str | None]:
    """The running cases of a procedure, or why they are not counted. A procedure never
    published needs no state queries: all its cases run its file."""
    if client is None:
        return None, "Temporal is not reachable: running cases not counted"
    try:
        return await counting.on_versions(client, procedure_id, published=published), None
    except (WorkRefused, RPCError) as e:
        log.warning("running cases of %s not counted: %s", procedure_id, type(e).__name__)
        return None, f"running cases not counted: {e}"


async def _describe(
    client: Client | None,
    procedure_id: str,
    versions: list[store.Published],
    file: tuple[FilePath, ProcedureDefinition] | None,
    count: bool,
) -> DefinitionOut:
    run: counting.Running | None = None
    note: str | None = "not counted (running=false)"
    if count:
        run, note = await _running(client, procedure_id, bool(versions))
    title = versions[-1].title if versions else file[1].title if file else ""
    return DefinitionOut(
        procedure_id=procedure_id,
        title=title,
        catalogue_file=_relative(file[0]) if file else None,
        latest_version=versions[-1].version if versions else None,
        versions=[VersionOut.of(v, run) for v in versions],
        running=running_out(versions, run) if run is not None else None,
        running_note=note,
    )


@router.get("", response_model=list[DefinitionOut])
async def definitions(
    caller: Reader, request: Request, running: CountRunning = True
) -> list[DefinitionOut]:
    """Every procedure of the catalogue and every published one, with its versions (who,
    when, hash) and the running cases on each."""
    files = await asyncio.to_thread(checking.catalogue)
    by_id: dict[str, list[store.Published]] = {}
    for v in await asyncio.to_thread(store.versions):
        by_id.setdefault(v.procedure_id, []).append(v)
    client, gate = _client(request), asyncio.Semaphore(4)

    async def one(pid: str) -> DefinitionOut:
        async with gate:
            return await _describe(client, pid, by_id.get(pid, []), files.get(pid), running)

    return list(await asyncio.gather(*(one(pid) for pid in sorted({*files, *by_id}))))


@router.get("/{procedure_id}/versions", response_model=DefinitionOut)
async def versions(
    procedure_id: ProcedureId, caller: Reader, request: Request, running: CountRunning = True
) -> DefinitionOut:
    """The published versions of one procedure (who, when, hash), oldest first, with the
    running cases on each and those running a definition never published."""
    files = await asyncio.to_thread(checking.catalogue)
    published = await asyncio.to_thread(store.versions, procedure_id)
    if not published and procedure_id not in files:
        raise HTTPException(404, f"no procedure '{procedure_id}' (GET /definitions lists them)")
    file = files.get(procedure_id)
    return await _describe(_client(request), procedure_id, published, file, running)


@router.get("/{procedure_id}/versions/{version}", response_model=VersionText)
def version(procedure_id: ProcedureId, version: Version, caller: Reader) -> VersionText:
    """One published version with its YAML as published."""
    found = _row(procedure_id, version)
    meta = VersionOut.of(store.published(found))
    return VersionText(**meta.model_dump(), yaml=found.source)


@router.get(
    "/{procedure_id}/versions/{a}/diff/{b}",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "A unified diff"}},
)
def diff(procedure_id: ProcedureId, a: Version, b: Version, caller: Reader) -> str:
    """The unified diff of two versions' YAML texts (empty when they are the same)."""
    old, new = _row(procedure_id, a), _row(procedure_id, b)

    def lines(text: str) -> list[str]:
        return (text if text.endswith("\n") else text + "\n").splitlines(keepends=True)

    def label(v: store.PublishedDefinition) -> str:
        return f"{v.procedure_id} version {v.version} (sha256 {v.hash[:12]})"

    return "".join(
        difflib.unified_diff(lines(old.source), lines(new.source), label(old), label(new))
    )


@router.get(
    "/{procedure_id}/versions/{version}/diagram",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in MEDIA.values()}, "description": "The diagram"},
        503: {"description": "SVG asked, and Graphviz's `dot` is not installed on the server"},
    },
)
def diagram(
    procedure_id: ProcedureId,
    version: Version,
    caller: Reader,
    format: Annotated[Literal["mermaid", "dot", "svg"], Query()] = "mermaid",
) -> Response:
    """The version's flowchart, as `motcua graph` draws it: Mermaid, Graphviz DOT or SVG."""
    try:
        definition = store.compiled(_row(procedure_id, version)).definition
    except store.Corrupt as e:
        raise HTTPException(409, str(e)) from None
    text = to_format(definition, "dot" if format == "svg" else format)
    if format == "svg":
        from motcua.cli.graph import render_svg

        try:
            text = render_svg(text)
        except click.ClickException as e:
            raise HTTPException(503, e.message) from None
    return Response(text, media_type=f"{MEDIA[format]}; charset=utf-8")
