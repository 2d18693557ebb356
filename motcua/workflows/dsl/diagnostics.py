"""Located, one-line diagnostics for procedure definitions, with stable codes.

Every problem the loader or the validator finds is a `Diagnostic`; `format()` prints it
the way compilers and linters do, so editors can jump to it:

    x.yaml:12:7: E002 unknown activity 'send_emial' (at steps[3].call) did you mean 'send_email'?

The codes are an interface (docs/error-codes.md); never reuse a retired one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

DataPath = tuple[Any, ...]

CODES: dict[str, str] = {
    "E001": "YAML syntax error, or the file cannot be read",
    "E002": "unknown activity",
    "E003": "unknown key",
    "E004": "wrong type or value",
    "E005": "missing required key",
    "E006": "duplicate step id",
    "E007": "expression does not parse",
    "E008": "undefined name in an expression",
    "E009": "undeclared role",
    "E010": "unknown task action",
    "E011": "unreachable step",
    "E012": "unknown child procedure",
    "E013": "unknown argument for an activity",
    "E014": "missing required activity argument",
    "E015": "duplicate YAML key",
    "E016": "step without exactly one kind key",
    "E017": "undeclared document or notification template",
    "E018": "child procedure input misses a required field",
    "E019": "child procedure input has an unknown field",
    "E020": "compensate names a step that is not an earlier call with undo",
    "E021": "two files declare the same procedure id",
    "E022": "child procedures start each other in a cycle",
    "E099": "internal error of the validator",
}


def path_text(path: Sequence[Any]) -> str:
    """("steps", 3, "with", "pid") -> 'steps[3].with.pid'."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def closest(word: Any, options: Iterable[Any]) -> str | None:
    """The option `word` is most likely a misspelling of, or None."""
    choices = sorted({str(o) for o in options})
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: Any, options: Iterable[Any]) -> str | None:
    """'did you mean 'x'?' for the closest option, or None."""
    close = closest(word, options)
    return f"did you mean '{close}'?" if close else None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int
    col: int
    code: str
    message: str
    path: DataPath = ()
    hint: str | None = None

    def format(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.code} {_one_line(self.message)}"
        if self.path:
            text += f" (at {_one_line(path_text(self.path))})"
        if self.hint:
            text += f" {_one_line(self.hint)}"
        return text

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.col, self.code)


class DefinitionError(Exception):
    """A definition that cannot be used; carries every diagnostic found, not just the first."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))

    def __str__(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)
