"""`motcua simulate` runs scenarios (docs/scenarios.md); `motcua describe` explains a procedure.

`simulate` starts its own time-skipping Temporal test server, sandbox registries and SMTP
sink, and writes cases, documents and the register under a throw-away data directory
(`--data-dir` to keep them). It exits with status 1 when any check of any scenario fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from motcua.cli.procedures import find_procedure
from motcua.workflows.dsl.compile import load_procedure
from motcua.workflows.dsl.diagnostics import DefinitionError
from motcua.workflows.dsl.model import ProcedureDefinition, step_kind
from motcua.workflows.dsl.walk import sequences, walk_steps

AGENCY_VI = {"commune": "cấp xã", "province": "cấp tỉnh", "national": "cấp trung ương"}


# ---------------------------------------------------------------- simulate


@click.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Keep the simulated cases' data here (default: a temporary directory).",
)
def simulate(scenarios: tuple[Path, ...], as_json: bool, data_dir: Path | None) -> None:
    """Run SCENARIO files (or every *.yaml under folders) and report every check.

    Each scenario runs against a time-skipping Temporal server, the sandbox registries and
    an SMTP sink started for this run; the clock jumps where the scenario says.
    """
    saved = {k: os.environ.get(k) for k in ("MOTCUA_DATA_DIR", "DATABASE_URL")}
    with tempfile.TemporaryDirectory(prefix="motcua-simulate-") as tmp:
        os.environ["MOTCUA_DATA_DIR"] = str(data_dir or Path(tmp) / "data")
        os.environ.pop("DATABASE_URL", None)
        try:
            reports = _simulate(list(scenarios), as_json)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    failed = [r for r in reports if not r.passed]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        click.echo(f"{len(reports) - len(failed)} of {len(reports)} scenarios passed")
    if failed:
        raise SystemExit(1)


def _simulate(scenarios: list[Path], as_json: bool) -> list[Any]:
    from motcua.simulate.runner import SharedRun, scenario_files

    files = scenario_files(scenarios)
    if not files:
        click.echo("error: no scenario files found", err=True)
        raise SystemExit(1)

    async def go() -> list[Any]:
        reports = []
        async with SharedRun() as shared:
            for file in files:
                report = await shared.run(file)
                if not as_json:
                    click.echo(report.format())
                    click.echo("")
                reports.append(report)
        return reports

    temporal_log = logging.getLogger("temporalio")
    level = temporal_log.level
    temporal_log.setLevel(logging.ERROR)  # activity warnings would drown the report
    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(130) from None
    finally:
        temporal_log.setLevel(level)


# ---------------------------------------------------------------- describe


def describe_procedure(defn: ProcedureDefinition) -> dict[str, Any]:
    """What people need to know about a procedure, as plain data."""
    typed: list[dict[str, Any]] = []
    prefilled: list[dict[str, Any]] = []
    for name, spec in defn.input.items():
        item: dict[str, Any] = {
            "name": name,
            "title": spec.title,
            "type": spec.type,
            "required": spec.required,
        }
        if spec.prefill is not None:
            prefilled.append({**item, "from": spec.prefill})
        elif spec.default is not None:
            prefilled.append({**item, "default": spec.default})
        else:
            typed.append(item)
    steps = []
    for seq, base in sequences(defn):
        name = base[0]
        seen: list[tuple[Any, ...]] = []
        for step, path in walk_steps(seq, base):
            depth = sum(1 for p in seen if path[: len(p)] == p)
            seen.append(tuple(path))
            steps.append(
                {
                    "id": step.id,
                    "kind": step_kind(step),
                    "title": step.title,
                    "section": name,
                    "depth": depth,
                }
            )
    return {
        "id": defn.id,
        "version": defn.version,
        "title": defn.title,
        "code": defn.code,
        "legal_basis": list(defn.legal_basis),
        "agency": defn.agency,
        "fee": defn.fee.model_dump(mode="json"),
        "deadline": {"working_days": defn.sla.working_days, "cutoff": defn.sla.cutoff},
        "roles": list(defn.roles),
        "prefill": [{"id": c.id, "call": c.call, "title": c.title} for c in defn.prefill],
        "typed_fields": typed,
        "prefilled_fields": prefilled,
        "steps": steps,
        "documents": {k: v.model_dump(mode="json") for k, v in defn.documents.items()},
        "notifications": {k: v.model_dump(mode="json") for k, v in defn.notifications.items()},
    }


def _fee_text(fee: dict[str, Any]) -> str:
    amount = fee.get("amount") or 0
    text = "free" if amount == 0 else f"{amount:,} VND".replace(",", ".")
    if fee.get("per") and amount:
        text += f" per {fee['per']} (units: {fee['count']})"
    if fee.get("online") is not None:
        online = fee["online"]
        text += "; online: " + ("free" if online == 0 else f"{online:,} VND".replace(",", "."))
    if fee.get("note"):
        text += f" ({fee['note']})"
    return text


def format_description(d: dict[str, Any]) -> str:
    lines = [f"{d['title']}", f"  id: {d['id']} (version {d['version']})"]
    lines.append(f"  national code: {d['code'] or '-'}")
    lines.append(f"  agency level: {d['agency']} ({AGENCY_VI.get(d['agency'], '')})")
    lines.append(f"  fee: {_fee_text(d['fee'])}")
    deadline = d["deadline"]
    cutoff = f", dossiers after {deadline['cutoff']} count from the next working day"
    lines.append(
        f"  legal deadline: {deadline['working_days']} working days"
        + (" (the day it is received)" if deadline["working_days"] == 0 else "")
        + (cutoff if deadline["cutoff"] else "")
    )
    lines.append("  legal basis:" + ("" if d["legal_basis"] else " -"))
    lines += [f"    - {basis}" for basis in d["legal_basis"]]
    typed, prefilled = d["typed_fields"], d["prefilled_fields"]
    required = sum(1 for f in typed if f["required"])
    lines.append(f"  fields the citizen types: {len(typed)} ({required} required)")
    for f in typed:
        optional = "" if f["required"] else ", optional"
        lines.append(f"    - {f['name']} ({f['type']}{optional}): {f['title'] or ''}".rstrip(": "))
    lines.append(f"  fields pre-filled or defaulted: {len(prefilled)}")
    for f in prefilled:
        source = f"from {f['from']}" if "from" in f else f"default {f['default']!r}"
        lines.append(f"    - {f['name']} ({f['type']}): {f['title'] or ''} [{source}]")
    if d["prefill"]:
        lines.append("  registry look-ups before the form:")
        lines += [f"    - {p['id']}: {p['call']}" for p in d["prefill"]]
    lines.append(f"  steps: {len(d['steps'])}")
    section = "steps"
    for s in d["steps"]:
        if s["section"] != section:
            section = s["section"]
            lines.append(f"    {section}:")
        indent = "  " * (s["depth"] + 1 + (s["section"] != "steps"))
        title = f" — {s['title']}" if s["title"] else ""
        lines.append(f"  {indent}{s['id']} [{s['kind']}]{title}")
    lines.append(f"  documents: {len(d['documents'])}")
    lines += [
        f"    - {k}: {v['title']} (template {v['template']})" for k, v in d["documents"].items()
    ]
    lines.append(f"  notifications: {len(d['notifications'])}")
    lines += [
        f"    - {k}: {v['title']} (template {v['template']})" for k, v in d["notifications"].items()
    ]
    return "\n".join(lines)


@click.command()
@click.argument("procedure")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def describe(procedure: str, as_json: bool) -> None:
    """Explain PROCEDURE (an id such as vn.birth_registration, or a YAML file) for people:
    legal facts, deadline, the fields a citizen must type after pre-fill, steps, results."""
    path = find_procedure(procedure)
    try:
        compiled = load_procedure(path)
    except DefinitionError as e:
        click.echo(f"error: {path} is not a valid procedure:\n{e}", err=True)
        raise SystemExit(1) from None
    data = describe_procedure(compiled.definition)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(format_description(data))


COMMANDS: list[click.Command] = [simulate, describe]
