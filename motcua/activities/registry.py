"""The activities a worker registers, by the name YAML `call:` uses.

This is the one string-keyed path from YAML to code. The worker registers exactly this
list; the validator checks every `call:` against the same names and arguments written out
in motcua.activities.signatures (importing the activities is slow), which a test keeps equal
to this catalogue.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from motcua.activities import (
    calendar,
    definitions,
    documents,
    notifications,
    register,
    registries,
)
from motcua.activities.base import IMPLICIT_FIELDS
from motcua.activities.signatures import Argument
from motcua.audit import archive
from motcua.readmodel import projection


@dataclass(frozen=True)
class ActivitySpec:
    name: str
    fn: Callable[..., Any]
    input_model: type[BaseModel] | None
    output_model: type[BaseModel] | None

    @property
    def arguments(self) -> tuple[Argument, ...] | None:
        """The `with:` keys of the input model, without the fields the workflow fills in."""
        if self.input_model is None:
            return None
        return tuple(
            Argument(f.alias or n, f.is_required())
            for n, f in self.input_model.model_fields.items()
            if n not in IMPLICIT_FIELDS
        )


def _spec(fn: Callable[..., Any]) -> ActivitySpec:
    defn = activity._Definition.must_from_callable(fn)
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters if p != "self"]
    arg = hints.get(params[0]) if params else None
    ret = hints.get("return")
    return ActivitySpec(
        name=str(defn.name),
        fn=fn,
        input_model=arg if inspect.isclass(arg) and issubclass(arg, BaseModel) else None,
        output_model=ret if inspect.isclass(ret) and issubclass(ret, BaseModel) else None,
    )


def catalogue(extra: list[Callable[..., Any]] | None = None) -> dict[str, ActivitySpec]:
    """Name -> spec for every product activity, plus `extra` (tests register their own)."""
    fns = [*calendar.ACTIVITIES, *definitions.ACTIVITIES, *documents.ACTIVITIES]
    fns += notifications.ACTIVITIES
    fns += [*register.ACTIVITIES, *registries.ACTIVITIES, *projection.ACTIVITIES]
    fns += [*archive.ACTIVITIES, *(extra or [])]
    return {s.name: s for s in map(_spec, fns)}


# Activities the engine calls itself, never a definition: `call:` refuses them, and the
# catalogue people read (`motcua activities`) leaves them out.
INTERNAL = frozenset(
    {"definitions.fetch", "readmodel.project", "archive.start", "archive.write_case"}
)


def callable_by_definitions() -> dict[str, ActivitySpec]:
    """The catalogue a definition can `call:` (what the validator's light table holds)."""
    return {name: spec for name, spec in catalogue().items() if name not in INTERNAL}
