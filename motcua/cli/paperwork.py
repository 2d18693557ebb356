"""Paperwork commands for a running case: `control-sheet` and `portal-status`.

They query the case's `state` the way `motcua show` does (see motcua/cli/cases.py) and
derive the paperwork with `motcua.paperwork`. Register with
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
    from temporalio.client import WorkflowHandle

    from motcua.workflows.contracts import CaseState


async def _state(code: str, address: str, namespace: str) -> CaseState:
    from temporalio.client import WorkflowQueryFailedError

    from motcua.workflows.procedure import ProcedureWorkflow

    client = await _client(address, namespace)
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(code)
    try:
        return await _case_call(
            code, address, handle.query(ProcedureWorkflow.state, rpc_timeout=RPC_TIMEOUT)
        )
    except WorkflowQueryFailedError as e:
        fail(f"case {code} could not answer its state query: {e}")


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
    """Process-control sheet of case CODE: one row per hand-off, early/on time/overdue."""
    from motcua.paperwork.control_sheet import (
        build_control_sheet,
        render_markdown,
        render_pdf,
        render_text,
    )

    state = _run(_state(code, _address(address), _namespace(namespace)))
    sheet = build_control_sheet(state, now=datetime.now(UTC))
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
