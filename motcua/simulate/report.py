"""What a scenario run found: every check with pass/fail, and the measured figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class ScenarioReport:
    path: str
    name: str = ""
    procedure_id: str = ""
    dossier_code: str | None = None
    started_at: str | None = None  # start.at as resolved for this run (ISO, Vietnam time)
    status: str | None = None
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def check(self, name: str, passed: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(passed), detail))
        return bool(passed)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def failure_text(self) -> str:
        lines = [f"✗ {c.name}: {c.detail}" for c in self.failures()]
        if self.started_at:
            lines.append(f"(the case started at {self.started_at})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def format(self) -> str:
        """A short, human report: a header, one line per check, the figures."""
        mark = "✓" if self.passed else "✗"
        lines = [f"{mark} {self.name or self.path}  ({self.path})"]
        if self.dossier_code:
            lines.append(f"  case {self.dossier_code} of {self.procedure_id}: {self.status or '-'}")
        if self.started_at:
            lines.append(f"  started at {self.started_at}")
        for c in self.checks:
            detail = f" — {c.detail}" if c.detail else ""
            lines.append(f"  {'✓' if c.passed else '✗'} {c.name}{detail}")
        if self.figures:
            lines.append("  figures:")
            for key, value in self.figures.items():
                lines.append(f"    {key}: {_figure(value)}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def _figure(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)
