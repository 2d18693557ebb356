"""Paperwork commands for a running case: `control-sheet` and `portal-status`.

They query the case's `state` the way `motcua show` does (see motcua/cli/cases.py) and
derive the paperwork with `motcua.paperwork`. A bundle's control sheet also asks each of
its member cases (`CODE.<step>`) for its state: the officers' tasks are theirs. Register with
`for command in paperwork.COMMANDS: main.add_command(command)`. Temporal's SDK, the workflow
and the paperwork are imported when a command runs (motcua.cli.cases says why).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from motcua.cli.cases import (
    RPC_TIMEOUT,
    _address,
    _case_call,
    _client,
    _namespace,
    _run,
    fail,
    server_options,
)

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

    from motcua.workflows.contracts import CaseState


async def _state(code: str, address: str, namespace: str) -> CaseState:
    return await _query_state(await _client(address, namespace), code, address)


async def _query_state(client: Client, code: str, address: str) -> CaseState:
    from temporalio.client import WorkflowQueryFailedError

    from motcua.workflows.procedure import ProcedureWorkflow

    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(code)
    try:
        return await _case_call(
            code, address, handle.query(ProcedureWorkflow.state, rpc_timeout=RPC_TIMEOUT)
        )
    except WorkflowQueryFailedError as e:
        fail(f"case {code} could not answer its state query: {e}")


async def _with_members(
    code: str, address: str, namespace: str
) -> tuple[CaseState, dict[str, CaseState]]:
    """The case's state and, for a bundle, its members' (by step id). A member that does
    not answer (not started yet, or its worker is down) is left out: the sheet names it."""
    import asyncio
    import contextlib

    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError

    from motcua.workflows.procedure import ProcedureWorkflow

    client = await _client(address, namespace)
    state = await _query_state(client, code, address)

    async def member(step: str) -> CaseState | None:
        handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(f"{code}.{step}")
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):
            found: CaseState = await handle.query(ProcedureWorkflow.state, rpc_timeout=RPC_TIMEOUT)
            return found
        return None

    steps = list(state.children)
    found = await asyncio.gather(*(member(s) for s in steps))
    return state, {s: m for s, m in zip(steps, found, strict=True) if m is not None}


@click.command("control-sheet")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print the sheet as JSON data.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the sheet as Markdown.")
@click.option(
    "--pdf",
    "pdf_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the sheet as an (unsigned) A4 PDF to this file.",
)
@server_options
def control_sheet(
    code: str,
    as_json: bool,
    as_markdown: bool,
    pdf_path: Path | None,
    address: str | None,
    namespace: str | None,
) -> None:
    """Process-control sheet of case CODE: one row per hand-off, early/on time/overdue.
    For a bundle, its members' hand-offs, each naming its procedure and agency."""
    from motcua.paperwork.bundle_sheet import build_bundle_control_sheet
    from motcua.paperwork.control_sheet import (
        ControlSheet,
        build_control_sheet,
        render_markdown,
        render_pdf,
        render_text,
    )
    from motcua.paperwork.titles import definition_titles

    state, members = _run(_with_members(code, _address(address), _namespace(namespace)))
    now = datetime.now(UTC)
    sheet: ControlSheet
    if state.children:
        titles = definition_titles([state, *members.values()])
        sheet = build_bundle_control_sheet(state, members, now=now, titles=titles)
    else:
        sheet = build_control_sheet(state, now=now)
    if pdf_path is not None:
        pdf_path.write_bytes(render_pdf(sheet))
    if as_json:
        click.echo(sheet.model_dump_json(indent=2))
    elif as_markdown:
        click.echo(render_markdown(sheet), nl=False)
    else:
        click.echo(render_text(sheet), nl=False)


@click.command("portal-status")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print {code, status, label} as JSON.")
@server_options
def portal_status_command(
    code: str, as_json: bool, address: str | None, namespace: str | None
) -> None:
    """National portal status code (1-10) of case CODE."""
    from motcua.paperwork.portal import PORTAL_STATUS_VI, portal_status

    state = _run(_state(code, _address(address), _namespace(namespace)))
    value = portal_status(state)
    if as_json:
        click.echo(
            json.dumps(
                {"dossier_code": code, "status": value, "label": PORTAL_STATUS_VI[value]},
                ensure_ascii=False,
            )
        )
    else:
        click.echo(f"{value} {PORTAL_STATUS_VI[value]}")


COMMANDS: list[click.Command] = [control_sheet, portal_status_command]
