"""Publishing a definition sent as YAML text, as its publisher: what the analysts' API
(`POST /definitions/publish`) and `motcua publish` both do, with the same refusals.

The text is checked as `motcua validate` checks a file (motcua.publishing.checking); a
procedure that no catalogue file declares is refused, since nothing could start it
(ADR 0018); then the version is recorded (motcua.publishing.store): the same content
again is the version it already has, other content needs a greater `version:`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from motcua.publishing import checking, store
from motcua.workflows.dsl.diagnostics import Diagnostic


@dataclass(frozen=True)
class Publication:
    """The version the text is published as; `created` is False when this content was
    published before (it keeps its first publisher and date)."""

    version: store.Published
    created: bool
    catalogue_file: Path


class Refused(Exception):
    """A text that is not published; the message says what was wrong and what to do.
    store.VersionTaken and store.Corrupt are refusals too, raised as themselves."""


class NotValid(Refused):
    """The text does not validate: every diagnostic, one per line under a summary."""

    def __init__(self, file: str, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        n = len(diagnostics)
        head = f"{file} does not validate ({n} error{'' if n == 1 else 's'}):"
        super().__init__("\n".join([head, *(d.format() for d in diagnostics)]))


class NotInCatalogue(Refused):
    def __init__(self, procedure_id: str) -> None:
        self.procedure_id = procedure_id
        super().__init__(
            f"no file under procedure_defs/ declares procedure '{procedure_id}': a new "
            "procedure enters the catalogue as a file, then its versions are published"
        )


def publish_text(text: str, *, file: str, by: str) -> Publication:
    """Check `text` (named `file` in diagnostics) and publish it as `by` (the publisher's
    account). NotValid, NotInCatalogue, store.VersionTaken, store.Corrupt."""
    from motcua.workflows.contracts import CompiledProcedure

    checked = checking.check_text(text, file=file)
    if checked.definition is None:
        raise NotValid(file, checked.diagnostics)
    if checked.catalogue_file is None:
        raise NotInCatalogue(checked.definition.id)
    compiled = CompiledProcedure.of(checked.definition)
    version, created = store.publish(compiled, source=text, by=by)
    return Publication(version, created, checked.catalogue_file)
