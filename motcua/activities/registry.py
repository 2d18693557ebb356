"""The activities a worker registers, by the name YAML `call:` uses.

This is the one string-keyed path from YAML to code. The validator checks every `call:`
against it before a case starts; the worker registers exactly this list.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from motcua.activities import calendar, documents, notifications, register, registries


@dataclass(frozen=True)
class ActivitySpec:
    name: str
    fn: Callable[..., Any]
    input_model: type[BaseModel] | None
    output_model: type[BaseModel] | None


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
    fns = [*calendar.ACTIVITIES, *documents.ACTIVITIES, *notifications.ACTIVITIES]
    fns += [*register.ACTIVITIES, *registries.ACTIVITIES, *(extra or [])]
    return {s.name: s for s in map(_spec, fns)}
