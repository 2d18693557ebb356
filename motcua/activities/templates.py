"""Vietnamese templates that activities render: documents and notifications alike.

One folder per kind under procedure_defs/templates/, Jinja2 in an immutable sandbox with
undefined values as errors, text normalised to NFC (NFD text would not match what a reader
searches for). Errors are non-retryable and name the template and line, never the data.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from temporalio.exceptions import ApplicationError

from motcua.settings import get_settings
from motcua.workflows.dsl.filters import FILTERS as ANALYST_FILTERS
from motcua.workflows.dsl.filters import RENAMED

TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,99}$")


def invalid(message: str, type_: str = "InvalidInput") -> ApplicationError:
    """An error retrying cannot fix."""
    return ApplicationError(message, type=type_, non_retryable=True)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class TemplateFolder:
    """procedure_defs/templates/<kind>/<name><suffix>, e.g. documents/x.md.j2."""

    kind: str  # "document" or "notification": used in messages
    folder: str
    suffix: str

    def directory(self) -> Path:
        return get_settings().procedure_dir / "templates" / self.folder

    def available(self) -> list[str]:
        d = self.directory()
        if not d.is_dir():
            return []
        return sorted(p.name[: -len(self.suffix)] for p in d.glob(f"*{self.suffix}"))

    def path(self, name: str) -> Path:
        if not TEMPLATE_NAME.match(name):
            raise invalid(
                f"invalid {self.kind} template name: lower-case letters, digits, '_' and '-'",
                "UnknownTemplate",
            )
        path = self.directory() / f"{name}{self.suffix}"
        if not path.is_file():
            known = ", ".join(self.available()) or "none"
            raise invalid(
                f"unknown {self.kind} template {name!r}: no file {path.name} in "
                f"procedure_defs/templates/{self.folder} (available: {known})",
                "UnknownTemplate",
            )
        return path

    def render(
        self,
        name: str,
        source: str,
        context: dict[str, Any],
        *,
        finalize: Callable[[Any], str],
        filters: dict[str, Callable[[Any], str]] | None = None,
        first_line: int = 1,
    ) -> str:
        """Render `source` (the body of template `name`, starting at file line `first_line`)."""
        env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined,
            autoescape=False,
            finalize=finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters.update(ANALYST_FILTERS)  # the same as in expressions
        env.filters.update({old: ANALYST_FILTERS[new] for old, new in RENAMED.items()})
        env.filters.update(filters or {})
        where = f"{self.kind} template {name!r}"
        try:
            return nfc(env.from_string(source).render(context))
        except TemplateSyntaxError as err:
            line = (err.lineno or 1) + first_line - 1
            raise invalid(f"{where} line {line}: {err.message}", "TemplateError") from err
        except UndefinedError as err:
            raise invalid(
                f"{where} needs a value the data lacks: {err.message}", "TemplateError"
            ) from err
        except SecurityError as err:
            raise invalid(f"{where}: unsafe operation refused", "TemplateError") from err
        except TemplateError as err:
            raise invalid(f"{where}: {type(err).__name__}", "TemplateError") from err
