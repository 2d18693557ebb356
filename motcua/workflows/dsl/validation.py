"""Check a loaded procedure definition and report every problem at once, located.

Two passes. The shape pass runs the pydantic models and maps each error to the YAML
position it concerns. If the shape is valid, the cross-reference pass checks what the
models cannot see: step ids, expressions and the names they read, activities and their
arguments, roles, actions, templates, reachability, child procedures and compensation.

Nothing here raises: an unexpected exception becomes an E099 diagnostic.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Union

from jinja2 import nodes
from pydantic import BaseModel, Discriminator, ValidationError

from motcua.activities import signatures
from motcua.activities.base import IMPLICIT_FIELDS
from motcua.activities.results import RESULTS
from motcua.activities.signatures import Signature
from motcua.workflows.dsl import one_stop, parameters, reuse
from motcua.workflows.dsl.diagnostics import (
    DataPath,
    Diagnostic,
    closest,
    did_you_mean,
    path_text,
)
from motcua.workflows.dsl.expressions import (
    ENV,
    FILTERS,
    GLOBALS,
    attribute_reads,
    filters_used,
    names_used,
    parse_error,
    strings_in,
)
from motcua.workflows.dsl.filters import RENAMED
from motcua.workflows.dsl.loader import Positions
from motcua.workflows.dsl.model import (
    DOCUMENT_ACTIVITY,
    NOTIFY_ACTIVITY,
    STEP_KINDS,
    CallStep,
    CompensateStep,
    DocumentStep,
    FailStep,
    FieldSpec,
    NotifyStep,
    ProcedureDefinition,
    ProcedureStep,
    RejectStep,
    SetStep,
    StepBase,
    SwitchStep,
    TaskStep,
    step_kind,
)
from motcua.workflows.dsl.repair import ShapeError, repaired
from motcua.workflows.dsl.walk import children, sequences, walk_steps

ALWAYS_IN_SCOPE = frozenset({"input", "params", "case", "now"})
JINJA_GLOBALS = GLOBALS | {"loop"}
TASK_ACTIONS = ("approve", "reject", "request_supplement")
DICT_METHODS = frozenset({"get", "items", "keys", "values"})  # readable on any result
# What a task's decision and a member case's outcome hold (contracts.Decision, and what
# ProcedureWorkflow._procedure returns); `form` and `output` are open.
DECISION_FIELDS: dict[str, Any] = dict.fromkeys(
    ("step_id", "action", "role", "agency", "actor", "comment", "form", "missing", "at")
)
MEMBER_FIELDS: dict[str, Any] = dict.fromkeys(("status", "output", "reason"))
HANDLER_NAMES = frozenset({"reason"})
SUPPLEMENT_DUE = "supplement_due_at"

_STEP_UNION = object()  # stands for the discriminated Step union while walking types
_ABSENT = object()


# ---------------------------------------------------------------- the shape pass


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            if any(isinstance(m, Discriminator) for m in getattr(tp, "__metadata__", ())):
                return _STEP_UNION
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _model_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _field_type(model: type[BaseModel], key: Any) -> Any:
    for name, f in model.model_fields.items():
        if key in (name, f.alias):
            return f.annotation
    return Any


def _descend(tp: Any, key: Any) -> Any:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _field_type(tp, key)
    args = typing.get_args(tp)
    if typing.get_origin(tp) is list and args:
        return args[0]
    if typing.get_origin(tp) is dict and len(args) == 2:
        return args[1]
    return Any


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[DataPath, Any, bool]:
    """Pydantic's loc -> (path in the data, type of the last parent, whether it is a key).

    Pydantic puts the discriminator tag of a step (e.g. 'call') after the step's index;
    it is not a key of the data, so it is dropped here.
    """
    tp: Any = ProcedureDefinition
    parent: Any = None
    node: Any = data
    path: list[Any] = []
    is_key = False
    for elem in loc:
        if elem == "[key]":
            is_key = True
            continue
        here = _unwrap(tp)
        if here is _STEP_UNION and isinstance(elem, str) and elem in STEP_KINDS:
            if isinstance(node, dict) and step_kind(node) == elem:
                tp = STEP_KINDS[elem]
                continue
        parent = _unwrap(tp)
        tp = _descend(tp, elem)
        path.append(elem)
        if isinstance(node, dict):
            node = node.get(elem, _ABSENT)
        elif isinstance(node, list) and isinstance(elem, int) and 0 <= elem < len(node):
            node = node[elem]
        else:
            node = _ABSENT
    return tuple(path), parent, is_key


def _get(data: Any, path: DataPath) -> Any:
    for elem in path:
        if isinstance(data, dict):
            data = data.get(elem, _ABSENT)
        elif isinstance(data, list) and isinstance(elem, int) and 0 <= elem < len(data):
            data = data[elem]
        else:
            return _ABSENT
    return data


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Report:
    def __init__(self, filename: str, positions: Positions) -> None:
        self.filename = filename
        self.positions = positions
        self.items: list[Diagnostic] = []

    def add(
        self,
        code: str,
        path: DataPath,
        message: str,
        hint: str | None = None,
        *,
        key: bool = False,
        at: tuple[int, int] | None = None,
    ) -> None:
        line, col = at or (self.positions.key_at(path) if key else self.positions.at(path))
        self.items.append(Diagnostic(self.filename, line, col, code, message, path, hint))


def _column_of(start: tuple[int, int], value: str, name: str) -> tuple[int, int] | None:
    """Where filter `name` is written, for a one-line quoted scalar starting at `start`
    (its quote); None (the scalar's own position) for block scalars and the like."""
    found = re.search(rf"\|\s*({re.escape(name)})\b", value)
    if found is None or "\n" in value:
        return None
    return start[0], start[1] + 1 + found.start(1)


REPAIR_ROUNDS = 5  # a repaired copy can reveal errors the first pass could not reach


def _shape(data: Any, report: _Report) -> tuple[ProcedureDefinition | None, list[DataPath]]:
    """The definition, or, when its shape is wrong, a definition built from a repaired
    copy (motcua.workflows.dsl.repair) for the other checks, with the steps replaced in it;
    (None, []) when nothing sound is left. Shape errors are reported either way."""
    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"a {type(data).__name__}"
        report.add("E004", (), f"a procedure definition must be a YAML mapping, got {got}")
        return None, []
    replaced: list[DataPath] = []
    for round_ in range(REPAIR_ROUNDS):
        try:
            return ProcedureDefinition.model_validate(data), replaced
        except ValidationError as e:
            if round_ == 0:
                for err in e.errors():
                    _shape_error(err, data, report)
            fixed = repaired(data, [_located(err, data) for err in e.errors()])
            if fixed is None:
                return None, []
            data, replaced = fixed.data, replaced + fixed.replaced
            for written, read_as in fixed.renamed:
                report.positions.alias(written, read_as)
    return None, []


def _located(err: Any, data: Any) -> ShapeError:
    path, parent, _ = _clean_loc(tuple(err["loc"]), data)
    meant = None
    if err["type"] == "extra_forbidden" and path and isinstance(parent, type):
        meant = closest(path[-1], _model_keys(parent))
    return ShapeError(path, err["type"], meant)


def _shape_error(err: Any, data: Any, report: _Report) -> None:
    path, parent, is_key = _clean_loc(tuple(err["loc"]), data)
    kind = err["type"]
    if kind == "missing" and path:
        where = report.positions.key_at(path[:-1])
        report.add("E005", path, f"missing required key '{path[-1]}'", at=where)
        return
    if kind == "extra_forbidden" and path:
        options = _model_keys(parent) if isinstance(parent, type) else []
        hint = did_you_mean(path[-1], options)
        report.add("E003", path, f"unknown key '{path[-1]}'", hint, key=True)
        return
    if kind == "step_kind":
        _step_kind_error(path, _get(data, path), report)
        return
    if is_key:
        report.add("E004", path, f"key {_short(err.get('input'))}: {err['msg']}", key=True)
        return
    value = err.get("input")
    message = str(err["msg"]).removeprefix("Value error, ")
    if not isinstance(value, dict | list) and _short(value) not in message:
        message += f", got {_short(value)}"
    hint = TYPE_HINTS.get(kind)
    if path and path[-1] == "when" and isinstance(value, bool):
        hint = f'write the condition as a string expression, e.g. when: "{str(value).lower()}"'
    elif isinstance(value, bool) and kind == "string_type":
        hint = "YAML reads unquoted yes/no/on/off/true/false as booleans; quote the text"
    report.add("E004", path, message, hint)


# How to write what a wrong-type error expected (pydantic's message says what was expected).
TYPE_HINTS = {
    "int_type": "write a whole number, e.g. 5",
    "int_parsing": "write a whole number, e.g. 5",
    "int_from_float": "write a whole number, e.g. 5",
    "float_type": "write a number, e.g. 1.5",
    "float_parsing": "write a number, e.g. 1.5",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "list_type": "write a list: [a, b], or one '- item' per line below the key",
    "dict_type": "write a mapping: {key: value}, or one 'key: value' per line, indented",
    "model_type": "write a mapping: {key: value}, or one 'key: value' per line, indented",
    "model_attributes_type": "write a mapping: {key: value}, or one 'key: value' per line",
    "string_type": "write text; quote it if YAML could read it as a number, date or yes/no",
}


def _step_kind_error(path: DataPath, step: Any, report: _Report) -> None:
    kinds_text = ", ".join(STEP_KINDS)
    if not isinstance(step, dict):
        report.add(
            "E004", path, f"a step must be a mapping with an id and a kind key, got {_short(step)}"
        )
        return
    kinds = [k for k in step if k in STEP_KINDS]
    if len(kinds) > 1:
        report.add(
            "E016",
            (*path, kinds[1]),
            f"a step has {len(kinds)} kind keys ({', '.join(kinds)}); it needs exactly one",
            "split it into one step per kind",
            key=True,
        )
        return
    base = set(_model_keys(StepBase))
    hint = None
    for key in step:
        if key not in base and (hint := did_you_mean(key, STEP_KINDS)):
            break
    report.add("E016", path, f"a step has no kind key (one of: {kinds_text})", hint)


# ---------------------------------------------------------------- cross references


def _literal(expression: str) -> tuple[bool, Any]:
    """(True, value) if a bare expression is a constant such as `false` or `1 == 2`."""
    try:
        text = expression.strip()
        if text.startswith("{{") and text.endswith("}}"):
            text = text[2:-2]
        template = ENV.parse("{{ " + text + " }}")
        if len(template.body) != 1 or not isinstance(template.body[0], nodes.Output):
            return False, None
        parts = template.body[0].nodes
        if len(parts) != 1 or not isinstance(parts[0], nodes.Expr):
            return False, None
        return True, parts[0].as_const(nodes.EvalContext(ENV))
    except Exception:  # noqa: BLE001 - anything not foldable is simply not a literal
        return False, None


class _Checker:
    def __init__(
        self,
        defn: ProcedureDefinition,
        report: _Report,
        activities: Mapping[str, Signature],
        procedures: Mapping[str, ProcedureDefinition] | None,
    ) -> None:
        self.defn = defn
        self.report = report
        self.activities = activities
        self.procedures = procedures
        self.sequences = sequences(defn)
        self.defined_at: dict[str, DataPath] = {}
        self.undoable: set[str] = set()
        self.results: dict[str, tuple[str, dict[str, Any]]] = {}  # step id -> what, fields
        set_names: set[str] = set()
        for steps, base in self.sequences:
            for step, path in walk_steps(steps, base):
                self.defined_at.setdefault(step.id, (*path, "id"))
                self._result_of(step)
                if isinstance(step, SetStep):
                    set_names |= {str(key) for key in step.set}
                    for key in step.set:
                        self.defined_at.setdefault(str(key), (*path, "set", key))
                if isinstance(step, CallStep) and step.undo is not None:
                    self.undoable.add(step.id)

        for name in set_names:  # a name set by a `set` step is not that step's result
            self.results.pop(name, None)

    def _result_of(self, step: Any) -> None:
        """What a step's result holds, where it is known: an activity's result model
        (motcua.activities.results), an officer's decision, a member case's outcome."""
        activity = None
        if isinstance(step, CallStep):
            activity = step.call
        elif isinstance(step, DocumentStep):
            activity = DOCUMENT_ACTIVITY
        elif isinstance(step, NotifyStep):
            activity = NOTIFY_ACTIVITY
        if activity is not None and activity in self.activities and activity in RESULTS:
            fields = dict(RESULTS[activity])
            if isinstance(step, CallStep) and step.result:  # what an officer may provide
                fields |= {name: None for name in step.result}
            self.results[step.id] = (f"activity '{activity}'", fields)
        elif isinstance(step, TaskStep):
            self.results[step.id] = ("an officer's decision", DECISION_FIELDS)
        elif isinstance(step, ProcedureStep):
            self.results[step.id] = ("a member case", MEMBER_FIELDS)

    def result_fields(self, value: str, path: DataPath, *, bare: bool) -> None:
        """Each field read from a step's result must be one that result has."""
        reported: set[tuple[str, tuple[str, ...]]] = set()
        for name, chain in attribute_reads(value, bare=bare):
            if name not in self.results:
                continue
            what, tree = self.results[name]
            node: dict[str, Any] | None = tree
            for depth, attr in enumerate(chain):
                if node is None or attr in DICT_METHODS:
                    break
                if attr not in node:
                    if (name, chain[: depth + 1]) not in reported:
                        reported.add((name, chain[: depth + 1]))
                        read = ".".join((name, *chain[: depth + 1]))
                        hint = did_you_mean(attr, node) or "its fields: " + ", ".join(node)
                        message = f"'{read}': the result of {what} has no field '{attr}'"
                        self.report.add("E025", path, message, hint)
                    break
                node = node[attr]

    def all_steps(self) -> Iterator[tuple[Any, DataPath]]:
        for steps, base in self.sequences:
            yield from walk_steps(steps, base)

    # -- ids

    def duplicate_ids(self) -> None:
        seen: dict[str, DataPath] = {}
        for step, path in self.all_steps():
            if step.id in seen:
                line = self.report.positions.at(seen[step.id])[0]
                self.report.add(
                    "E006",
                    (*path, "id"),
                    f"duplicate step id '{step.id}'",
                    f"first used at line {line}; step ids must be unique in a procedure",
                )
            else:
                seen[step.id] = (*path, "id")

    # -- per-step references

    def references(self) -> None:
        for step, path in self.all_steps():
            if isinstance(step, CallStep):
                self.activity(step.call, step.with_, (*path, "call"), (*path, "with"))
                if step.undo is not None:
                    undo = (*path, "undo")
                    self.activity(step.undo.call, step.undo.with_, (*undo, "call"), (*undo, "with"))
            elif isinstance(step, DocumentStep | NotifyStep):
                self.sugar(step, path)
            elif isinstance(step, TaskStep):
                self.task(step, path)
            elif isinstance(step, ProcedureStep):
                self.child(step, path)

    def activity(self, name: str, args: dict[str, Any], at: DataPath, with_at: DataPath) -> None:
        spec = self.activities.get(name)
        if spec is None:
            hint = did_you_mean(name, self.activities)
            self.report.add("E002", at, f"unknown activity '{name}'", hint)
            return
        self.arguments(name, spec, args, at, with_at, per_key=True)

    def arguments(
        self,
        name: str,
        spec: Signature,
        args: Mapping[str, Any],
        at: DataPath,
        with_at: DataPath,
        *,
        per_key: bool,
    ) -> None:
        declared = spec.arguments
        if declared is None:
            return
        allowed = [a.key for a in declared]
        for key in args:
            where = (*with_at, key) if per_key else with_at
            if key in IMPLICIT_FIELDS:
                self.report.add(
                    "E013",
                    where,
                    f"argument '{key}' of activity '{name}' is filled in by the workflow",
                    "remove it",
                    key=True,
                )
            elif key not in allowed:
                hint = did_you_mean(key, allowed) or f"arguments: {', '.join(allowed) or 'none'}"
                self.report.add(
                    "E013", where, f"activity '{name}' has no argument '{key}'", hint, key=True
                )
        where = with_at if with_at in self.report.positions else at
        for a in declared:
            if a.required and a.key not in args:
                self.report.add(
                    "E014", where, f"activity '{name}' needs argument '{a.key}'", key=True
                )

    def sugar(self, step: DocumentStep | NotifyStep, path: DataPath) -> None:
        declared: Mapping[str, Any]
        if isinstance(step, DocumentStep):
            kind, name, template = "document", DOCUMENT_ACTIVITY, step.document.template
            declared, section = self.defn.documents, "documents"
        else:
            kind, name, template = "notify", NOTIFY_ACTIVITY, step.notify.template
            declared, section = self.defn.notifications, "notifications"
        at = (*path, kind)
        if template not in declared:
            hint = did_you_mean(template, declared) or f"declare it under `{section}:`"
            self.report.add(
                "E017",
                (*at, "template"),
                f"template '{template}' is not declared in `{section}`",
                hint,
            )
        spec = self.activities.get(name)
        if spec is None:
            self.report.add(
                "E002",
                at,
                f"{kind} steps call activity '{name}', which is not registered",
                key=True,
            )
            return
        args = step.as_call().with_
        self.arguments(name, spec, args, at, at, per_key=False)

    def task(self, step: TaskStep, path: DataPath) -> None:
        at = (*path, "task")
        roles = self.defn.roles
        for key, role in (("role", step.task.role), ("escalate_to", step.task.escalate_to)):
            if role is not None and role not in roles:
                hint = did_you_mean(role, roles) or "declare it under `roles:`"
                self.report.add(
                    "E009", (*at, key), f"role '{role}' is not declared in `roles`", hint
                )
        for k, action in enumerate(step.task.actions):
            if action not in TASK_ACTIONS:
                hint = did_you_mean(action, TASK_ACTIONS) or "allowed: " + ", ".join(TASK_ACTIONS)
                self.report.add(
                    "E010", (*at, "actions", k), f"unknown task action '{action}'", hint
                )

    def child(self, step: ProcedureStep, path: DataPath) -> None:
        at = (*path, "procedure")
        child_id = step.procedure.id
        if child_id == self.defn.id:
            self.report.add("E022", (*at, "id"), f"procedure '{child_id}' starts itself")
            return
        if self.procedures is None:
            return
        child = self.procedures.get(child_id)
        if child is None:
            hint = did_you_mean(child_id, self.procedures)
            self.report.add("E012", (*at, "id"), f"unknown child procedure '{child_id}'", hint)
            return
        given = step.procedure.input
        for name, field in child.input.items():
            if field.required and field.default is None and name not in given:
                where = (*at, "input") if (*at, "input") in self.report.positions else at
                self.report.add(
                    "E018",
                    where,
                    f"child procedure '{child_id}' needs input field '{name}'",
                    key=True,
                )
        for name in given:
            if name not in child.input:
                hint = did_you_mean(name, child.input)
                self.report.add(
                    "E019",
                    (*at, "input", name),
                    f"child procedure '{child_id}' has no input field '{name}'",
                    hint,
                    key=True,
                )

    # -- expressions and scope

    def expression(
        self,
        value: str,
        path: DataPath,
        visible: set[str],
        *,
        bare: bool = False,
        own: str | None = None,
    ) -> None:
        error = parse_error(value, bare=bare)
        if error is not None:
            self.report.add("E007", path, f"expression does not parse: {error}", _short(value))
            return
        for name in sorted(filters_used(value, bare=bare) - FILTERS):
            hint = did_you_mean(name, FILTERS)
            if name in RENAMED:
                hint = f"renamed '{RENAMED[name]}' in version 2 of the language"
            at = _column_of(self.report.positions.at(path), value, name)
            self.report.add("E023", path, f"unknown filter '{name}'", hint, at=at)
        for name in sorted(names_used(value, bare=bare) - visible - JINJA_GLOBALS):
            if name == own:
                self.report.add(
                    "E008",
                    path,
                    f"step '{name}' cannot read its own result here",
                    "a step's id is bound only after the step has run",
                )
            elif name in self.defined_at:
                line = self.report.positions.at(self.defined_at[name])[0]
                self.report.add(
                    "E008",
                    path,
                    f"'{name}' is used before it is defined",
                    f"'{name}' is defined at line {line}, which does not run before this",
                )
            else:
                hint = did_you_mean(name, visible | JINJA_GLOBALS)
                self.report.add("E008", path, f"undefined name '{name}'", hint)
        self.result_fields(value, path, bare=bare)

    def templates(self, value: Any, path: DataPath, visible: set[str], own: str | None) -> None:
        for rel, text in strings_in(value):
            self.expression(text, (*path, *rel), visible, own=own)

    def step_expressions(self, step: Any, path: DataPath, visible: set[str]) -> None:
        own = step.id
        if step.when is not None:
            self.expression(step.when, (*path, "when"), visible, bare=True, own=own)
        if isinstance(step, CallStep):
            self.templates(step.with_, (*path, "with"), visible, own)
            if step.undo is not None:
                self.templates(step.undo.with_, (*path, "undo", "with"), visible | {own}, None)
        elif isinstance(step, TaskStep):
            self.templates(step.task.agency, (*path, "task", "agency"), visible, own)
        elif isinstance(step, SetStep):
            self.templates(step.set, (*path, "set"), visible, own)
        elif isinstance(step, FailStep):
            self.templates(step.fail.message, (*path, "fail", "message"), visible, own)
        elif isinstance(step, RejectStep):
            self.templates(step.reject.reason, (*path, "reject", "reason"), visible, own)
        elif isinstance(step, ProcedureStep):
            self.templates(step.procedure.input, (*path, "procedure", "input"), visible, own)
        elif isinstance(step, DocumentStep):
            self.templates(step.document.data, (*path, "document", "data"), visible, own)
        elif isinstance(step, NotifyStep):
            self.templates(step.notify.to, (*path, "notify", "to"), visible, own)
            self.templates(step.notify.data, (*path, "notify", "data"), visible, own)
        elif isinstance(step, CompensateStep) and step.compensate.steps is not None:
            for k, name in enumerate(step.compensate.steps):
                self.compensated(name, (*path, "compensate", "steps", k), visible)

    def compensated(self, name: str, path: DataPath, visible: set[str]) -> None:
        if name not in self.defined_at:
            hint = did_you_mean(name, self.undoable)
            self.report.add("E020", path, f"compensate names '{name}', which is not a step", hint)
        elif name not in self.undoable:
            self.report.add(
                "E020", path, f"step '{name}' is not a call with `undo`; nothing to compensate"
            )
        elif name not in visible:
            self.report.add("E020", path, f"step '{name}' does not run before this compensate")

    def sequence(self, steps: list[Any], base: DataPath, scope: set[str]) -> set[str]:
        visible = set(scope)
        for i, step in enumerate(steps):
            path = (*base, i)
            self.step_expressions(step, path, visible)
            inner: set[str] = set()
            if isinstance(step, SwitchStep):
                for k, case in enumerate(step.switch.cases):
                    where = (*path, "switch", "cases", k, "when")
                    self.expression(case.when, where, visible, bare=True, own=step.id)
            for child_steps, child_base in children(step, path):
                # A task's on_supplement steps run while the task is open: they see its
                # decision (the request) under the task id, and the citizen's deadline.
                own = {step.id, SUPPLEMENT_DUE} if isinstance(step, TaskStep) else set()
                inner |= self.sequence(child_steps, child_base, visible | own)
            visible |= inner
            visible.add(step.id)
            if isinstance(step, SetStep):
                visible |= {str(k) for k in step.set}
        return visible

    def fields(self, schema: dict[str, FieldSpec], base: DataPath, visible: set[str]) -> None:
        for name, spec in schema.items():
            path = (*base, name)
            if spec.prefill is not None:
                self.expression(spec.prefill, (*path, "prefill"), visible, bare=True)
            if spec.fields:
                self.fields(spec.fields, (*path, "fields"), visible)
            if spec.items is not None:
                self.fields({"items": spec.items}, path, visible)

    def scopes(self) -> None:
        after_prefill = self.sequence(self.defn.prefill, ("prefill",), set(ALWAYS_IN_SCOPE))
        self.fields(self.defn.input, ("input",), after_prefill)
        self.sequence(self.defn.steps, ("steps",), after_prefill)
        everything = set(self.defined_at) | ALWAYS_IN_SCOPE | HANDLER_NAMES
        self.sequence(self.defn.on_reject, ("on_reject",), everything)
        self.sequence(self.defn.on_abort, ("on_abort",), everything)
        if self.defn.apology is not None:
            self.sequence(self.defn.apology.steps, ("apology", "steps"), everything - HANDLER_NAMES)
        self.templates(self.defn.output, ("output",), everything, None)

    # -- reachability

    def reachable(self, steps: list[Any], base: DataPath) -> None:
        for i, step in enumerate(steps):
            path = (*base, i)
            known, value = _literal(step.when) if step.when is not None else (True, True)
            if step.when is not None and known and not value:
                self.report.add(
                    "E011", (*path, "when"), f"step '{step.id}' never runs: `when` is always false"
                )
            if isinstance(step, SwitchStep):
                self.cases(step, path)
            for child_steps, child_base in children(step, path):
                self.reachable(child_steps, child_base)
            ends = isinstance(step, FailStep | RejectStep) and known and bool(value)
            if ends and i + 1 < len(steps):
                kind = "fail" if isinstance(step, FailStep) else "reject"
                self.report.add(
                    "E011",
                    (*base, i + 1),
                    f"step '{steps[i + 1].id}' is unreachable",
                    f"step '{step.id}' always ends the case with `{kind}` before it",
                )
                return

    def cases(self, step: SwitchStep, path: DataPath) -> None:
        cases = step.switch.cases
        for k, case in enumerate(cases):
            known, value = _literal(case.when)
            where = (*path, "switch", "cases", k)
            if known and not value:
                self.report.add(
                    "E011", (*where, "when"), "this case never matches: `when` is always false"
                )
            if known and value:
                if k + 1 < len(cases):
                    self.report.add(
                        "E011",
                        (*path, "switch", "cases", k + 1),
                        "this case is unreachable",
                        f"case {k} of switch '{step.id}' always matches",
                    )
                elif step.switch.default:
                    self.report.add(
                        "E011",
                        (*path, "switch", "default"),
                        f"the default of switch '{step.id}' is unreachable",
                        f"case {k} always matches",
                        key=True,
                    )
                return

    # -- the apology's moment (docs/decisions/0006-same-day-apology.md)

    def apology_timing(self) -> None:
        apology, sla = self.defn.apology, self.defn.sla
        if apology is None or sla is None:
            return
        before = apology.before_working_days
        if before > sla.working_days:
            self.report.add(
                "E024",
                ("apology", "before_working_days"),
                f"the apology can never come: it is due {before} working day(s) before a "
                f"deadline only {sla.working_days} working day(s) after receipt",
                'for a same-day procedure write `before_working_days: 0` and `at: "16:00"`'
                " (the apology goes out that afternoon if the case is still open)",
            )
        elif before == 0 and apology.at is None:
            self.report.add(
                "E024",
                ("apology", "before_working_days"),
                "with `before_working_days: 0` the apology would come at the deadline itself",
                'say when on the due day it goes out, e.g. `at: "16:00"`',
            )

    def run(self) -> None:
        for check in (self.duplicate_ids, self.references, self.scopes, self.apology_timing):
            _guard(self.report, check)
        for steps, base in self.sequences:
            _guard(self.report, lambda s=steps, b=base: self.reachable(s, b))


def _guard(report: _Report, check: Any) -> None:
    try:
        check()
    except Exception as e:  # noqa: BLE001 - never show an analyst a traceback
        report.add("E099", (), f"internal error while validating: {type(e).__name__}: {e}")


def prepare(
    data: Any,
    positions: Positions | None = None,
    procedures: Mapping[str, ProcedureDefinition] | None = None,
) -> tuple[Any, Positions, list[tuple[str, DataPath, str, str | None]]]:
    """What the author wrote -> what the models read, with the positions moved to match
    and the problems found on the way (E026, E027):
    a bundle's `use:` of its members' inputs and look-ups, then the one-stop paperwork
    written in as steps (motcua.workflows.dsl.one_stop), `retries:` given to each call
    (motcua.workflows.dsl.reuse), and `params.x` resolved where a number goes
    (motcua.workflows.dsl.parameters). `procedures` (the catalogue) is needed for `use:`;
    without it only the shape is read."""
    positions = positions if positions is not None else Positions()
    problems: list[tuple[str, DataPath, str, str | None]] = []
    if isinstance(data, dict):
        data = copy.deepcopy(data)
        positions = copy.deepcopy(positions)
        problems += [("E027", *p) for p in reuse.apply_use(data, positions, procedures)]
    data, moved, mistakes = one_stop.expand(data, positions)
    problems += [("E027", *p) for p in mistakes]
    moved = moved or Positions()
    if isinstance(data, dict):
        problems += [("E027", *p) for p in reuse.apply_retries(data, moved)]
    data, unresolved = parameters.resolve(data)
    return data, moved, problems + [("E026", *p) for p in unresolved]


def validate_definition(
    data: Any,
    positions: Positions | Mapping[DataPath, tuple[int, int]],
    *,
    filename: str,
    activities: Mapping[str, Signature] | None = None,
    procedures: Mapping[str, ProcedureDefinition] | None = None,
) -> tuple[ProcedureDefinition | None, list[Diagnostic]]:
    """Validate loaded data: (the definition if it has no errors, every diagnostic).

    `activities` defaults to the product activities (motcua.activities.signatures, kept
    equal to the worker's registry); `procedures` are the known child procedures by id
    (None: child procedure ids are not checked).
    """
    if not isinstance(positions, Positions):
        plain = Positions()
        plain.update(positions)
        positions = plain
    data, expanded, unresolved = prepare(data, positions, procedures)
    report = _Report(filename, expanded)
    for code, path, message, hint in unresolved:
        report.add(code, path, message, hint)
    defn: ProcedureDefinition | None = None
    try:
        defn, replaced = _shape(data, report)
        if defn is not None:
            shape_errors = len(report.items)
            known = signatures.catalogue() if activities is None else activities
            _Checker(defn, report, known, procedures).run()
            # What is found inside a placeholder step is about the placeholder.
            report.items[shape_errors:] = [
                d for d in report.items[shape_errors:]
                if not any(d.path[: len(r)] == r for r in replaced)
            ]  # fmt: skip
    except Exception as e:  # noqa: BLE001 - never show an analyst a traceback
        report.add("E099", (), f"internal error while validating: {type(e).__name__}: {e}")
    diagnostics = sorted(report.items, key=Diagnostic.sort_key)
    return (None if diagnostics else defn), diagnostics


__all__ = ["validate_definition", "path_text"]
