"""Work lists from the terminal: `motcua cases` (cases by status, agency, procedure and due
date) and `motcua resume-all` (every case stalled on one activity, after an outage).

The same code as the officers' API (motcua.worklists), imported when a command runs, so
`motcua --help` stays light. Messages hold codes, statuses and dates, never a dossier's
values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import click

from motcua.cli.cases import (
    _account,
    _address,
    _client,
    _json_object,
    _namespace,
    _run,
    _status,
    _vn,
    audited,
    fail,
    server_options,
)

if TYPE_CHECKING:
    from motcua.workflows.contracts import ResumeAction
    from motcua.worklists.listing import CasePage, CaseRow
    from motcua.worklists.stalls import BulkResume

OPEN = ("running", "waiting_officer", "waiting_citizen", "stalled")
CLOSED = ("completed", "rejected", "aborted", "failed")
_OUTCOMES = ("resumed", "skipped", "refused", "would_resume")


def _moment(value: str | None) -> datetime | None:
    """A day (YYYY-MM-DD: its start, in Vietnam) or an ISO moment (Vietnam when no zone)."""
    from motcua.dossier_codes import VIETNAM

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "give a day (2026-12-31) or a moment (2026-12-31T17:00+07:00)",
            param_hint="--due-before",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM)


def _rows(page: CasePage) -> list[str]:
    def cells(r: CaseRow) -> list[str]:
        return [
            r.dossier_code,
            r.procedure_id or "-",
            _status(r.status) if r.status else "-",
            r.agency or "-",
            _vn(r.due_at),
        ]

    table = [["dossier code", "procedure", "status", "agency", "due"]]
    table += [cells(r) for r in page.rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
            for row in table]  # fmt: skip


@click.command()
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([*OPEN, *CLOSED, "open"]),
    help="Case status (repeat); default: every open status.",
)
@click.option(
    "--agency", default=None, metavar="CODE", help="Received by, or held by, this agency."
)
@click.option("--procedure", default=None, metavar="ID", help="Procedure id.")
@click.option(
    "--due-before",
    default=None,
    metavar="DAY",
    help="Legal deadline before this day (YYYY-MM-DD, Vietnam) or moment.",
)
@click.option("--overdue", is_flag=True, help="Legal deadline already passed.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--cursor", default=None, help="Continue a listing where it stopped.")
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@server_options
def cases(
    statuses: tuple[str, ...],
    agency: str | None,
    procedure: str | None,
    due_before: str | None,
    overdue: bool,
    limit: int,
    cursor: str | None,
    as_json: bool,
    address: str | None,
    namespace: str | None,
) -> None:
    """List cases by status, agency, procedure and due date, newest first."""
    wanted = [s for s in statuses if s != "open"]
    if not statuses or "open" in statuses:
        wanted += OPEN
    before = _moment(due_before)

    async def go() -> CasePage:
        from motcua.worklists.errors import WorkRefused
        from motcua.worklists.listing import CaseFilter, list_cases, visibility_query

        f = CaseFilter.model_validate(
            {
                "statuses": list(dict.fromkeys(wanted)),
                "agency": agency,
                "procedure": procedure,
                "due_before": before,
                "overdue": overdue,
                "running_only": not set(wanted) & set(CLOSED),
            }
        )
        try:
            visibility_query(f, datetime.now(UTC))  # refused on its values before connecting
            client = await _client(_address(address), _namespace(namespace))
            return await list_cases(client, f, limit=limit, cursor=cursor)
        except WorkRefused as e:
            fail(e.message)

    page = _run(go())
    if as_json:
        click.echo(page.model_dump_json(indent=2))
        return
    if not page.rows:
        click.echo("no cases" + (" on this page" if cursor else ""))
    else:
        click.echo("\n".join(_rows(page)))
    if page.next_cursor:
        click.echo(f"more: add --cursor {page.next_cursor}")


def _outcome_lines(done: BulkResume) -> list[str]:
    lines = []
    for o in done.outcomes:
        if o.outcome == "resumed":
            lines.append(f"{o.dossier_code}: {o.step_id} -> {done.action}")
        elif o.outcome == "would_resume":
            lines.append(f"{o.dossier_code}: {o.step_id} would be resumed ({o.detail})")
        else:
            lines.append(f"{o.dossier_code}: {o.step_id} {o.outcome}: {o.detail}")
    lines += [f"{code}: did not answer (is a worker running?)" for code in done.unanswered]
    n = {k: sum(o.outcome == k for o in done.outcomes) for k in _OUTCOMES}
    lines.append(
        f"{len(done.outcomes)} stalled on {done.activity}: resumed {n['resumed']}, "
        f"skipped {n['skipped']}, refused {n['refused']}, did not answer "
        f"{len(done.unanswered)}"
        + (f" (dry run: {n['would_resume']} listed)" if n["would_resume"] else "")
    )
    return lines


@click.command("resume-all")
@click.option(
    "--activity",
    required=True,
    help="The activity the cases stalled on (population.get_citizen), or its registry "
    "(population.).",
)
@click.option(
    "--action",
    default="retry",
    show_default=True,
    type=click.Choice(["retry", "provide", "skip", "abort"]),
)
@click.option("--reason", required=True, help="Why; recorded on every case.")
@click.option("--actor", required=True, callback=_account, help="The officer's account id.")
@click.option("--agency", required=True, help="Cases received by this agency, e.g. UBND-00070.")
@click.option("--result", default=None, metavar="JSON", help="For provide: the result.")
@click.option(
    "--token",
    envvar="MOTCUA_TOKEN",
    default=None,
    help="The officer's token, for cases that check it (default: MOTCUA_TOKEN).",
)
@click.option("--dry-run", is_flag=True, help="Only list the stalled cases.")
@server_options
def resume_all(
    activity: str,
    action: str,
    reason: str,
    actor: str,
    agency: str,
    result: str | None,
    token: str | None,
    dry_run: bool,
    address: str | None,
    namespace: str | None,
) -> None:
    """Resume every case of an agency stalled on one activity (after a registry outage):
    one reason on each; safe to repeat, a case already resumed is skipped."""
    if not reason.strip():
        raise click.BadParameter("must not be empty", param_hint="--reason")

    async def go() -> BulkResume:
        from motcua.worklists import stalls
        from motcua.worklists.errors import WorkRefused

        provided: dict[str, Any] | None = _json_object(result, "--result")
        client = await _client(_address(address), _namespace(namespace))
        try:
            return await stalls.resume_all(
                client,
                agency=agency,
                activity=activity,
                action=cast("ResumeAction", action),
                actor=actor,
                reason=reason,
                result=provided,
                token=token,
                dry_run=dry_run,
            )
        except WorkRefused as e:
            fail(e.message)

    done = _run(go())
    from motcua.audit.keyed import text_ref

    fields = sorted(_json_object(result, "--result") or {})
    for o in done.outcomes:  # one audit entry per step resumed, as the API writes them
        if o.outcome == "resumed":
            audited("resume", o.dossier_code, {
                "step": o.step_id, "action": action, "account": actor, "bulk": True,
                "reason": text_ref(reason), "result_fields": fields,
            })  # fmt: skip
    click.echo("\n".join(_outcome_lines(done)))
    if any(o.outcome == "refused" for o in done.outcomes) or done.unanswered:
        raise SystemExit(1)


COMMANDS: list[click.Command] = [cases, resume_all]
