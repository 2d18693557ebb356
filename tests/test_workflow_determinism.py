"""The workflow code is passed through Temporal's sandbox (ADR 0011), so the sandbox no
longer refuses a clock, a random number or an I/O call in it. This test does: it reads every
motcua module the workflow imports, transitively, and fails on any call that would make a
replay differ from the original run. The golden-history replays (test_replay.py) catch
the rest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_MODULE = "motcua.workflows.procedure"

# Dotted names (as written, after resolving `import x as y`) that a workflow must not call
# or read; the workflow's own replacements are workflow.now(), workflow.random(),
# workflow.uuid4(), workflow.sleep() and activities.
FORBIDDEN = {
    "datetime.now": "workflow.now()",
    "datetime.utcnow": "workflow.now()",
    "datetime.today": "workflow.now()",
    "date.today": "workflow.now().date()",
    "time.time": "workflow.now()",
    "time.time_ns": "workflow.now()",
    "time.monotonic": "workflow.now()",
    "time.perf_counter": "workflow.now()",
    "time.sleep": "workflow.sleep()",
    "asyncio.sleep": "workflow.sleep()",
    "uuid.uuid1": "workflow.uuid4()",
    "uuid.uuid4": "workflow.uuid4()",
    "os.environ": "the start input",
    "os.getenv": "the start input",
    "open": "an activity",
}
FORBIDDEN_MODULES = {
    "random": "workflow.random()",
    "secrets": "workflow.random()",
    "socket": "an activity",
    "subprocess": "an activity",
    "threading": "asyncio tasks in the workflow",
    "httpx": "an activity",
    "sqlalchemy": "an activity",
    "sqlmodel": "an activity",
}


def module_path(name: str) -> Path | None:
    base = ROOT / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def workflow_modules(start: str = WORKFLOW_MODULE) -> dict[str, Path]:
    """Every motcua module `start` imports, transitively (what runs inside a case)."""
    found: dict[str, Path] = {}
    pending = [start]
    while pending:
        name = pending.pop()
        path = module_path(name)
        if name in found or path is None:
            continue
        found[name] = path
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("motcua"):
                    pending += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                pending += [a.name for a in node.names if a.name.startswith("motcua")]
    return found


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def problems(source: str, where: str) -> list[str]:
    """What in `source` a replay could not reproduce, with its line. A line that says why
    it is safe (`# replay-safe: ...`, e.g. a worker-wide cache's lock) is left alone."""
    exempt = {n for n, line in enumerate(source.splitlines(), 1) if "# replay-safe:" in line}
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> what it stands for
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name] = a.name
                root = a.name.split(".")[0]
                if root in FORBIDDEN_MODULES:
                    found.append(
                        f"{where}:{node.lineno}: imports {a.name}; use {FORBIDDEN_MODULES[root]}"
                    )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root in FORBIDDEN_MODULES:
                found.append(
                    f"{where}:{node.lineno}: imports {node.module}; use {FORBIDDEN_MODULES[root]}"
                )
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name):
            name = _dotted(node, aliases)
            if name is None:
                continue
            for bad, instead in FORBIDDEN.items():
                if name == bad or ("." in bad and name.endswith("." + bad)):
                    found.append(f"{where}:{node.lineno}: {name}; use {instead}")
    return [f for f in found if int(f.split(":")[1]) not in exempt]


def test_the_workflow_reaches_its_modules():
    modules = workflow_modules()
    # If this shrinks, the scan below silently stops covering the interpreter.
    assert {
        WORKFLOW_MODULE,
        "motcua.workflows.case_book",
        "motcua.workflows.dsl.expressions",
    } <= set(modules)


@pytest.mark.parametrize("name", sorted(workflow_modules()))
def test_workflow_module_is_replay_safe(name: str):
    path = workflow_modules()[name]
    assert problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "from datetime import datetime\nx = datetime.now()",
        "import datetime as dt\nx = dt.datetime.utcnow()",
        "import time\ntime.sleep(1)",
        "import asyncio\nasync def f():\n    await asyncio.sleep(1)",
        "import random\nrandom.random()",
        "from uuid import uuid4\nuuid4()",
        "import os\nos.environ['X']",
        "open('f')",
    ],
)
def test_the_scan_finds_what_the_sandbox_would_have_refused(snippet: str):
    assert problems(snippet, "example.py"), snippet


def test_a_stated_reason_exempts_a_line():
    assert problems("import threading  # replay-safe: a cache's lock", "example.py") == []


def test_the_scan_leaves_workflow_calls_alone():
    ok = "from temporalio import workflow\nasync def f(d):\n    await workflow.sleep(d.input)"
    assert problems(ok, "example.py") == []
