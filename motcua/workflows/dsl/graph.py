"""Diagrams of a procedure: Graphviz DOT and Mermaid (flowchart TD) from one flow graph.

`build(definition)` turns the steps into a small graph of nodes and edges; `to_dot` and
`to_mermaid` only print it. Every step is one node whose first label line names its kind;
`when` guards label the edge into the step, and the edge that skips it says "else". Task
outcomes are drawn: `reject` goes to the rejected end (through `on_reject`, if any) and
`request_supplement` loops back to the same task through its `on_supplement` steps. `on_abort`
hangs off its own start node, because an officer may abort any stalled step; so does the
apology, which runs beside the open case before its deadline and lets it go on.

Every step the walker in `walk.py` sees is drawn (tests/test_graph_schema.py checks that).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from motcua.workflows.dsl import model as m

START, DONE, REJECTED, FAILED, ABORTED = "n_start", "n_done", "n_rejected", "n_failed", "n_aborted"


@dataclass
class Node:
    id: str
    kind: str  # a step kind, or start / end / fork / join
    lines: list[str]
    tone: str = "normal"  # normal | task | red | green | bar


@dataclass
class Edge:
    src: str
    dst: str
    label: str | None = None
    dashed: bool = False


@dataclass
class Diagram:
    title: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)


@dataclass
class Exit:
    """A loose end waiting for the next step: the node it leaves and its edge label."""

    node: str
    label: str | None = None
    dashed: bool = False


def _join(*labels: str | None) -> str | None:
    """Labels on one edge, one per line; a repeated label ("else" twice) is shown once."""
    parts = list(dict.fromkeys(p for p in labels if p))
    return "\n".join(parts) if parts else None


def _days(n: int) -> str:
    return f"{n} working day" + ("" if n == 1 else "s")


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    return f"{value:g}s"


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class _Builder:
    def __init__(self, definition: m.ProcedureDefinition) -> None:
        d = definition
        self.d = d
        self.g = Diagram(title=f"{d.title} ({d.id} v{d.version})")
        self.ends: set[str] = set()

    # -------------------------------------------------------------- plumbing

    def node(self, node_id: str, kind: str, lines: list[str], tone: str = "normal") -> str:
        base, n = node_id, 2
        while node_id in self.g.nodes:
            node_id, n = f"{base}_{n}", n + 1
        self.g.nodes[node_id] = Node(node_id, kind, lines, tone)
        return node_id

    def connect(self, exits: list[Exit], dst: str, label: str | None = None) -> None:
        for e in exits:
            self.g.edges.append(Edge(e.node, dst, _join(e.label, label), e.dashed))

    def end(self, node_id: str) -> str:
        if node_id not in self.ends:
            self.ends.add(node_id)
            label, tone = {
                DONE: ("completed", "green"),
                REJECTED: ("rejected", "red"),
                FAILED: ("failed", "red"),
                ABORTED: ("aborted", "red"),
            }[node_id]
            self.g.nodes[node_id] = Node(node_id, "end", [label], tone)
        return node_id

    # -------------------------------------------------------------- the flow

    def build(self) -> Diagram:
        d = self.d
        self.g.nodes[START] = Node(START, "start", ["start"])
        exits = self.seq(d.prefill, [Exit(START)])
        exits = self.seq(d.steps, exits)
        self.connect(exits, self.end(DONE))
        rejected = [e for e in self.g.edges if e.dst == REJECTED]
        if d.on_reject and rejected:
            entry = self.node("n_on_reject", "start", ["on_reject"], "red")
            self.connect(self.seq(d.on_reject, [Exit(entry)]), REJECTED)
            for e in rejected:
                e.dst = entry
        if d.on_abort:
            entry = self.node("n_on_abort", "start", ["on_abort"], "red")
            self.connect(self.seq(d.on_abort, [Exit(entry)]), self.end(ABORTED))
        if d.apology:
            a = d.apology
            lines = ["apology", f"{_days(a.before_working_days)} before the deadline"]
            entry = self.node("n_apology", "start", lines)
            goes_on = f"case goes on, +{_days(a.extend_working_days)}"
            back = self.node("n_apology_end", "end", [goes_on])
            self.connect(self.seq(a.steps, [Exit(entry)]), back)
        return self.g

    def seq(self, steps: list[Any], exits: list[Exit]) -> list[Exit]:
        for step in steps:
            exits = self.step(step, exits)
        return exits

    def step(self, step: Any, exits: list[Exit]) -> list[Exit]:
        kind = m.step_kind(step) or "step"
        if kind in ("parallel", "switch"):
            entry, after = getattr(self, f"_{kind}")(step)
        else:
            entry = self.node(f"s_{step.id}", kind, self.lines(kind, step), self.tone(kind))
            after = self.outcomes(kind, step, entry)
        guard = f"when: {step.when}" if step.when else None
        self.connect(exits, entry, guard)
        if guard:  # the step is skipped when its guard is false
            after = after + [Exit(e.node, _join(e.label, "else"), e.dashed) for e in exits]
        return after

    def _parallel(self, step: m.ParallelStep) -> tuple[str, list[Exit]]:
        fork = self.node(f"s_{step.id}", "fork", [f"parallel: {step.title or step.id}"], "bar")
        join = self.node(f"s_{step.id}_join", "join", [f"join: {step.id}"], "bar")
        for name, branch in step.parallel.items():
            self.connect(self.seq(branch, [Exit(fork, name)]), join)
        return fork, [Exit(join)]

    def _switch(self, step: m.SwitchStep) -> tuple[str, list[Exit]]:
        entry = self.node(f"s_{step.id}", "switch", [f"switch: {step.title or step.id}"])
        after: list[Exit] = []
        for case in step.switch.cases:
            after += self.seq(case.steps, [Exit(entry, case.when)])
        return entry, after + self.seq(step.switch.default, [Exit(entry, "default")])

    def outcomes(self, kind: str, step: Any, node: str) -> list[Exit]:
        """Edges a step draws itself (to ends, loops) and its exits to the next step."""
        if kind == "fail":
            self.g.edges.append(Edge(node, self.end(FAILED)))
            return []
        if kind == "reject":
            self.g.edges.append(Edge(node, self.end(REJECTED)))
            return []
        if kind == "task":
            actions = step.task.actions
            if "request_supplement" in actions:
                asked = [Exit(node, "request_supplement", dashed=True)]
                back = "supplemented" if step.task.on_supplement else None
                self.connect(self.seq(step.task.on_supplement, asked), node, back)
                if step.task.supplement.on_timeout == "reject":
                    label = "supplement not received in time"
                    self.g.edges.append(Edge(node, self.end(REJECTED), label, dashed=True))
            if "reject" in actions:
                self.g.edges.append(Edge(node, self.end(REJECTED), "reject"))
            onward = [a for a in actions if a not in ("reject", "request_supplement")]
            return [Exit(node, " | ".join(onward))] if onward else []
        if kind == "call" and step.on_exhausted == "fail":
            self.g.edges.append(Edge(node, self.end(FAILED), "retries exhausted", dashed=True))
        if kind == "procedure":
            spec = step.procedure
            for outcome, policy in (("rejected", spec.on_reject), ("failed", spec.on_fail)):
                if policy != "continue":
                    end = self.end(REJECTED if policy == "reject" else FAILED)
                    self.g.edges.append(Edge(node, end, f"member {outcome}", dashed=True))
        return [Exit(node)]

    # -------------------------------------------------------------- labels

    @staticmethod
    def tone(kind: str) -> str:
        return {"task": "task", "fail": "red", "reject": "red"}.get(kind, "normal")

    @staticmethod
    def lines(kind: str, step: Any) -> list[str]:
        head = [f"{kind}: {step.id}"] + ([step.title] if step.title else [])
        match step:
            case m.CallStep():
                return head + [step.call]
            case m.TaskStep():
                t = step.task
                body = [f"{t.role} @ {t.agency}", "actions: " + ", ".join(t.actions)]
                if t.sla:
                    body.append(f"SLA: {_days(t.sla.working_days)}")
                if t.escalate_to:
                    body.append(f"escalate to: {t.escalate_to}")
                return head + body
            case m.WaitStep():
                w = step.wait
                if w.event is not None:
                    timeout = f" (timeout {_seconds(w.timeout)})" if w.timeout else ""
                    return head + [f"event: {w.event}{timeout}"]
                if w.working_days is not None:
                    return head + [_days(w.working_days)]
                return head + [_seconds(w.duration or 0)]
            case m.SetStep():
                return head + [f"{k} = {_value(v)}" for k, v in step.set.items()]
            case m.FailStep():
                return head + [step.fail.message, step.fail.code]
            case m.RejectStep():
                return head + [step.reject.reason]
            case m.ProcedureStep():
                return head + [step.procedure.id]
            case m.CompensateStep():
                undo = step.compensate.steps
                return head + ["undo: " + (", ".join(undo) if undo else "every completed write")]
            case m.DocumentStep():
                doc = step.document
                title = [doc.title] if doc.title else []
                return head + title + [f"template: {doc.template}", f"signed by: {doc.sign_as}"]
            case m.NotifyStep():
                n = step.notify
                return head + [f"to: {n.to}", f"template: {n.template}", ", ".join(n.channels)]
        return head


def build(definition: m.ProcedureDefinition) -> Diagram:
    """The flow graph of a definition: start, one node per step, the ends reached."""
    return _Builder(definition).build()


# ------------------------------------------------------------------ Graphviz DOT

_DOT_SHAPES = {
    "start": 'shape=circle, style=filled, fillcolor="#333333", fontcolor=white',
    "end": "shape=doublecircle, style=filled",
    "call": "shape=box",
    "task": 'shape=box, style="rounded,filled"',
    "fork": "shape=box, style=filled, height=0.25",
    "join": "shape=box, style=filled, height=0.25",
    "switch": "shape=diamond",
    "wait": "shape=hexagon",
    "set": 'shape=box, style="rounded,dashed"',
    "fail": "shape=octagon, style=filled",
    "reject": "shape=octagon, style=filled",
    "procedure": "shape=box, peripheries=2",
    "compensate": "shape=invhouse",
    "document": "shape=note",
    "notify": "shape=cds",
}
_DOT_TONES = {
    "normal": "",
    "task": ', fillcolor="#fff4cc"',
    "red": ', color="#c62828", fillcolor="#fde2e2", fontcolor="#8e0000"',
    "green": ', color="#2e7d32", fillcolor="#e3f4e4"',
    "bar": ', fillcolor="#333333", fontcolor=white',
}


def dot_quote(text: str) -> str:
    """A DOT string literal; line breaks become DOT's centred `\\n`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + escaped.replace("\n", "\\n") + '"'


def to_dot(diagram: Diagram) -> str:
    out = [
        "digraph procedure {",
        f'  graph [label={dot_quote(diagram.title)}, labelloc=t, charset="UTF-8",'
        ' fontname="Helvetica"];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for n in diagram.nodes.values():
        style = _DOT_SHAPES.get(n.kind, "shape=box") + _DOT_TONES[n.tone]
        label = dot_quote("\n".join(n.lines))
        out.append(f"  {n.id} [label={label}, {style}];")
    for e in diagram.edges:
        attrs = [f"label={dot_quote(e.label)}"] if e.label else []
        attrs += ["style=dashed"] if e.dashed else []
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"  {e.src} -> {e.dst}{suffix};")
    out.append("}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ Mermaid

_MERMAID_SHAPES = {
    "start": ("((", "))"),
    "end": ("((", "))"),
    "call": ("[", "]"),
    "task": ("(", ")"),
    "fork": ("{{", "}}"),
    "join": ("{{", "}}"),
    "switch": ("{", "}"),
    "wait": ("([", "])"),
    "set": ("[/", "/]"),
    "fail": ("[", "]"),
    "reject": ("[", "]"),
    "procedure": ("[[", "]]"),
    "compensate": ("[/", "\\]"),
    "document": ("[\\", "\\]"),
    "notify": (">", "]"),
}
_MERMAID_CLASSES = {
    "task": "fill:#fff4cc,stroke:#b28704",
    "red": "fill:#fde2e2,stroke:#c62828,color:#8e0000",
    "green": "fill:#e3f4e4,stroke:#2e7d32",
    "bar": "fill:#333333,stroke:#333333,color:#ffffff",
}
# Mermaid entity codes; '#' first so the codes themselves are not escaped again.
_MERMAID_ESCAPES = [("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")]
_MERMAID_ESCAPES += [("`", "#96;"), ("|", "#124;")]


def mermaid_text(text: str) -> str:
    """Text for inside a quoted Mermaid label; line breaks become `<br>`."""
    for char, code in _MERMAID_ESCAPES:
        text = text.replace(char, code)
    return "<br>".join(text.replace("\r", "").split("\n"))


def to_mermaid(diagram: Diagram) -> str:
    out = ["---", f"title: {json.dumps(diagram.title, ensure_ascii=False)}", "---"]
    out.append("flowchart TD")
    for n in diagram.nodes.values():
        left, right = _MERMAID_SHAPES.get(n.kind, ("[", "]"))
        out.append(f'  {n.id}{left}"{mermaid_text(chr(10).join(n.lines))}"{right}')
    for e in diagram.edges:
        arrow = "-.->" if e.dashed else "-->"
        label = f'|"{mermaid_text(e.label)}"|' if e.label else ""
        out.append(f"  {e.src} {arrow}{label} {e.dst}")
    for tone, style in _MERMAID_CLASSES.items():
        members = [n.id for n in diagram.nodes.values() if n.tone == tone]
        if members:
            out.append(f"  classDef {tone} {style}")
            out.append(f"  class {','.join(members)} {tone}")
    return "\n".join(out) + "\n"


def to_format(definition: m.ProcedureDefinition, fmt: str) -> str:
    """The diagram as text: 'dot' or 'mermaid'."""
    diagram = build(definition)
    if fmt == "mermaid":
        return to_mermaid(diagram)
    if fmt == "dot":
        return to_dot(diagram)
    raise ValueError(f"unknown diagram format {fmt!r}; expected dot or mermaid")
