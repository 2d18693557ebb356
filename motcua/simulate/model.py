"""The scenario file (docs/scenarios.md): strict pydantic models and a located loader.

`load_scenario(path)` returns a `Scenario` or raises `ScenarioError`, whose diagnostics
read like the procedure validator's: `file:line:col: E003 unknown key 'x' (at steps[2].decide)`.
A step is a mapping with exactly one kind key (`decide`, `supplement`, `resume`, `faults`,
`advance`, `expect`); its value is validated by that kind's model, so an error points into it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from motcua.activities.calendar import WorkingCalendar
from motcua.simulate.moments import EXAMPLES, parse_moment
from motcua.workflows.dsl.diagnostics import (
    DataPath,
    DefinitionError,
    Diagnostic,
    did_you_mean,
)
from motcua.workflows.dsl.loader import Positions, load_yaml

FinalStatus = Literal["completed", "rejected", "aborted", "failed"]
AnyStatus = Literal[
    "running",
    "waiting_officer",
    "waiting_citizen",
    "stalled",
    "completed",
    "rejected",
    "aborted",
    "failed",
]


class ScenarioError(DefinitionError):
    """A scenario file that cannot be used; every problem found, located."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- header


class Start(Strict):
    at: datetime | str = Field(
        description="When the dossier is submitted, relative to the run ('next working day "
        "09:00', see docs/scenarios.md) or, for a one-off run, a date with its zone; the "
        "clock moves there first"
    )
    channel: str = Field("online", description="'online' or the receiving one-stop centre")

    @field_validator("at", mode="before")
    @classmethod
    def _moment(cls, value: object) -> datetime | str:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                parse_moment(value)  # MomentError (a ValueError) says what would be right
                return value
        else:
            raise ValueError(f"expected a moment such as {EXAMPLES}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(
                "give a time zone, e.g. 2027-03-01T09:00:00+07:00, or write the moment "
                "relative to the run, e.g. 'next working day 09:00'"
            )
        return moment

    def resolve(self, now: datetime, calendar: WorkingCalendar) -> datetime:
        """The start as a datetime: a relative moment is the first one after `now`."""
        if isinstance(self.at, datetime):
            return self.at
        return parse_moment(self.at).resolve(now, calendar)


class SandboxSpec(Strict):
    seed: int = 42
    citizens: int = Field(2_000, ge=10, le=200_000)
    today: date | None = Field(None, description="Default: the date the case starts, in Vietnam")


# ---------------------------------------------------------------- steps


class _OnCase(Strict):
    case: str | None = Field(None, description="Bundle member by step id; omitted: the main case")


class Decide(_OnCase):
    step: str
    action: str
    role: str
    agency: str = Field("{{ agency }}", description="Default: the open task's agency")
    actor: str = "simulator"
    comment: str = ""
    form: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    refused: str | None = Field(None, description="The Update must be refused with this text")


class Supplement(_OnCase):
    step: str
    documents: dict[str, Any] = Field(default_factory=dict)
    note: str = ""
    actor: str = "citizen"
    refused: str | None = None


class Resume(_OnCase):
    step: str
    action: Literal["retry", "provide", "skip", "abort"]
    reason: str
    actor: str = "simulator"
    result: dict[str, Any] | None = None
    refused: str | None = None


class Faults(Strict):
    service: str | None = None
    outage: bool = False
    latency_ms: int = Field(0, ge=0, le=120_000)
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    error_after_apply: bool = False
    clear: bool = False

    @model_validator(mode="after")
    def _one(self) -> Faults:
        if self.clear == (self.service is not None):
            raise ValueError(
                "give either `service` (with outage/latency_ms/error_rate) or `clear: true`"
            )
        return self


class Advance(Strict):
    working_days: int | None = Field(None, ge=0, le=400)
    days: float | None = Field(None, ge=0)
    hours: float | None = Field(None, ge=0)
    minutes: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _some(self) -> Advance:
        if all(v is None for v in (self.working_days, self.days, self.hours, self.minutes)):
            raise ValueError("give working_days, days, hours or minutes")
        return self


class DueExpect(Strict):
    working_days: int = Field(
        ge=0,
        le=400,
        description="The case is due at the end of office hours on this working day after the "
        "day its dossier counts from (the procedure's cut-off applies), as the calendar says",
    )


class StateExpect(_OnCase):
    status: AnyStatus | None = None
    stalled_step: str | None = None
    open_step: str | None = Field(None, description="A task of this step id is open")
    waiting_for: Literal["officer", "citizen"] | None = None
    escalated: bool | None = Field(None, description="The open task was escalated (overdue)")
    due: DueExpect | None = None
    wait: bool = Field(
        True, description="Wait (real time, simulated clock still) until it holds; else check now"
    )


STEP_KINDS: dict[str, type[Strict]] = {
    "decide": Decide,
    "supplement": Supplement,
    "resume": Resume,
    "faults": Faults,
    "advance": Advance,
    "expect": StateExpect,
}


class ScenarioStep(Strict):
    kind: str
    spec: Any
    line: int = 0


# ---------------------------------------------------------------- final expectations


class Matches(Strict):
    matches: str

    @field_validator("matches")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        return value


class WorkingDaysExpect(Strict):
    at_most: int | None = Field(None, ge=0)
    at_least: int | None = Field(None, ge=0)
    equals: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _some(self) -> WorkingDaysExpect:
        if self.at_most is None and self.at_least is None and self.equals is None:
            raise ValueError("give at_most, at_least or equals")
        return self


class FinalExpect(Strict):
    status: FinalStatus
    reason: str | None = None
    output: dict[str, Any] | None = Field(None, description="Exact values or {matches: regex}")
    members: dict[str, str] | None = None
    documents: list[str] | None = None
    notifications: list[str] | None = None
    working_days: WorkingDaysExpect | None = None

    @field_validator("output")
    @classmethod
    def _matchers(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for item in (value or {}).values():
            if isinstance(item, dict) and "matches" in item:
                Matches.model_validate(item)
        return value


class Scenario(Strict):
    name: str
    description: str | None = None
    procedure: str = Field(description="Procedure file, from the repository root")
    start: Start
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec)
    samples: bool | Annotated[int, Field(ge=1, le=1000)] = Field(
        False,
        description="true: the sandbox's test samples as `samples`, 100 of each kind; "
        "a number: that many of each kind (at most 1000)",
    )
    input: dict[str, Any] = Field(default_factory=dict)
    steps: list[ScenarioStep] = Field(default_factory=list)
    expect: FinalExpect
    file: str = ""


# ---------------------------------------------------------------- loading


def _diagnostics(
    err: ValidationError, filename: str, positions: Positions, prefix: DataPath, data: Any
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for item in err.errors():
        loc = tuple(
            p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))
        )
        path: DataPath = (*prefix, *loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            line, col = positions.key_at(path)
            parent = _at(data, loc[:-1])
            options = parent.keys() if isinstance(parent, dict) else ()
            hint = did_you_mean(loc[-1], [o for o in _known_keys(prefix, loc, options)])
            message = f"unknown key '{loc[-1]}'"
            out.append(Diagnostic(filename, line, col, "E003", message, path, hint))
        elif kind == "missing":
            line, col = positions.at(path)
            out.append(
                Diagnostic(
                    filename, line, col, "E005", f"missing required key '{loc[-1]}'", path[:-1]
                )
            )
        else:
            line, col = positions.at(path)
            message = str(item["msg"]).removeprefix("Value error, ")
            out.append(Diagnostic(filename, line, col, "E004", message, path))
    return out


def _at(data: Any, loc: DataPath) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _known_keys(prefix: DataPath, loc: DataPath, present: Any) -> list[str]:
    """Field names of the model the unknown key was written in (for 'did you mean')."""
    model: Any = Scenario
    if prefix and prefix[0] == "steps" and len(prefix) >= 3:
        model = STEP_KINDS.get(str(prefix[2]), Strict)
    for part in loc[:-1]:
        fields = getattr(model, "model_fields", {})
        info = fields.get(part) if isinstance(part, str) else None
        if info is None:
            return []
        annotation = info.annotation
        candidates = [
            a for a in getattr(annotation, "__args__", (annotation,)) if hasattr(a, "model_fields")
        ]
        if not candidates:
            return []
        model = candidates[0]
    return [n for n in getattr(model, "model_fields", {}) if n != "file"]


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; ScenarioError lists every problem, located."""
    filename = str(path)
    try:
        data, positions = load_yaml(path, filename=filename)
    except DefinitionError as e:
        raise ScenarioError(e.diagnostics) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            [Diagnostic(filename, 1, 1, "E004", "a scenario is a mapping (name, procedure, ...)")]
        )
    problems: list[Diagnostic] = []
    steps: list[ScenarioStep] = []
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list):
        line, col = positions.at(("steps",))
        problems.append(Diagnostic(filename, line, col, "E004", "steps is a list", ("steps",)))
        raw_steps = []
    for i, raw in enumerate(raw_steps):
        where: DataPath = ("steps", i)
        line, col = positions.at(where)
        if not isinstance(raw, dict) or len(raw) != 1:
            kinds = ", ".join(STEP_KINDS)
            problems.append(
                Diagnostic(
                    filename,
                    line,
                    col,
                    "E016",
                    f"a step is a mapping with exactly one of: {kinds}",
                    where,
                )
            )
            continue
        [(kind, value)] = raw.items()
        if kind not in STEP_KINDS:
            kline, kcol = positions.key_at((*where, kind))
            problems.append(
                Diagnostic(
                    filename,
                    kline,
                    kcol,
                    "E003",
                    f"unknown step kind '{kind}'",
                    (*where, kind),
                    did_you_mean(kind, STEP_KINDS),
                )
            )
            continue
        try:
            spec = STEP_KINDS[kind].model_validate(value if value is not None else {})
        except ValidationError as e:
            problems += _diagnostics(e, filename, positions, (*where, kind), value)
            continue
        steps.append(ScenarioStep(kind=kind, spec=spec, line=line))
    header = {k: v for k, v in data.items() if k != "steps"}
    try:
        scenario = Scenario.model_validate({**header, "file": filename})
    except ValidationError as e:
        problems += _diagnostics(e, filename, positions, (), data)
        scenario = None
    if "file" in data:
        line, col = positions.key_at(("file",))
        problems.append(Diagnostic(filename, line, col, "E003", "unknown key 'file'", ("file",)))
    if problems or scenario is None:
        raise ScenarioError(sorted(problems, key=lambda d: d.sort_key()))
    return scenario.model_copy(update={"steps": steps})
