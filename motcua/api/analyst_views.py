"""What the analysts' endpoints answer (pydantic models), and how a definition's text
comes in: as YAML (`Content-Type: application/yaml`, `text/yaml` or `text/plain`) or as
JSON `{"yaml": "..."}`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from motcua.publishing.running import Running
from motcua.publishing.store import Published
from motcua.workflows.dsl.diagnostics import Diagnostic, path_text

MAX_TEXT = 1_000_000  # bytes of YAML; the largest procedure file is under 20 kB
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
TEXT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": 'The definition: YAML text, or JSON {"yaml": "..."}',
        "content": {
            **{t: {"schema": {"type": "string"}} for t in YAML_TYPES[::2]},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"yaml": {"type": "string", "description": "The YAML text"}},
                    "required": ["yaml"],
                    "additionalProperties": False,
                }
            },
        },
    }
}


class DefinitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str


async def definition_text(request: Request) -> str:
    """The YAML text of the request body (413, 415, 422 when there is none to read)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_TEXT:
        raise HTTPException(413, f"a definition is at most {MAX_TEXT} bytes")
    raw = await request.body()
    if len(raw) > MAX_TEXT:
        raise HTTPException(413, f"a definition is at most {MAX_TEXT} bytes")
    if kind == "application/json":
        try:
            return DefinitionIn.model_validate_json(raw).yaml
        except ValidationError:
            raise HTTPException(
                422, 'send JSON {"yaml": "<the definition>"} and nothing else'
            ) from None
    if kind not in YAML_TYPES:
        raise HTTPException(
            415, 'send the definition as application/yaml (or text/yaml), or as JSON {"yaml": ...}'
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HTTPException(422, f"the definition is not UTF-8 (byte {e.start})") from None


class DiagnosticOut(BaseModel):
    """One problem, as `motcua validate` prints it (`text`) and in parts."""

    text: str = Field(description="file:line:col: CODE message (at path) hint")
    file: str
    line: int
    col: int
    code: str = Field(description="Stable code, docs/error-codes.md")
    message: str
    path: str = Field(description="Where in the definition, e.g. steps[3].call")
    hint: str | None = None

    @classmethod
    def of(cls, d: Diagnostic) -> DiagnosticOut:
        return cls(
            text=d.format(), file=d.file, line=d.line, col=d.col, code=d.code,
            message=d.message, path=path_text(d.path), hint=d.hint,
        )  # fmt: skip


class ValidationOut(BaseModel):
    valid: bool
    procedure_id: str | None = Field(None, description="When the definition is valid")
    version: int | None = None
    hash: str | None = Field(None, description="SHA-256 of the compiled definition")
    catalogue_file: str | None = Field(
        None, description="The file declaring this procedure under procedure_defs/"
    )
    latest_published: int | None = Field(None, description="Its latest published version")
    diagnostics: list[DiagnosticOut]


class VersionOut(BaseModel):
    procedure_id: str
    version: int
    hash: str = Field(description="SHA-256 of the compiled definition; cases pin it")
    title: str
    published_by: str = Field(description="The publisher's account (their token's subject)")
    published_at: datetime
    running_cases: int | None = Field(None, description="Cases running it now (None: not counted)")

    @classmethod
    def of(cls, p: Published, running: Running | None = None) -> VersionOut:
        return cls(
            procedure_id=p.procedure_id, version=p.version, hash=p.hash, title=p.title,
            published_by=p.published_by, published_at=p.published_at,
            running_cases=None if running is None else running.by_hash.get(p.hash, 0),
        )  # fmt: skip


class VersionText(VersionOut):
    yaml: str = Field(description="The definition as it was published")


class RunningOut(BaseModel):
    total: int = Field(description="Cases of the procedure running now")
    unpublished: int = Field(
        description="Running a definition never published (started from the file)"
    )
    unanswered: int = Field(description="Whose version is unknown: no worker answered")


class DefinitionOut(BaseModel):
    procedure_id: str
    title: str
    catalogue_file: str | None = Field(description="Its file under procedure_defs/")
    latest_version: int | None = Field(description="The version new cases start on")
    versions: list[VersionOut] = Field(description="Published versions, oldest first")
    running: RunningOut | None = Field(description="None: not counted (see running_note)")
    running_note: str | None = None


def running_out(versions: list[Published], running: Running) -> RunningOut:
    unpublished = running.unpublished(v.hash for v in versions)
    return RunningOut(total=running.total, unpublished=unpublished, unanswered=running.unanswered)
