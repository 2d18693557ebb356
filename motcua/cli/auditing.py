"""Auditors' commands: `replay`, `timeline`, `archive`, `export` and `verify`.

A case's history comes from Temporal while it keeps it, else from the archive
(motcua.audit.replay.load_history). Replays, timelines and exports are entries of the audit
log, as the OS user (motcua.cli.cases.audited); `verify` reads only the file it is given.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from motcua.cli.cases import _address, _client, _namespace, _run, audited, fail, server_options

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHistory


async def _connected(
    address: str | None, namespace: str | None, archive_only: bool
) -> Client | None:
    if archive_only:
        return None
    return await _client(_address(address), _namespace(namespace))


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r}: expected a date such as 2026-01-31 (or a date and time)")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.argument("code", required=False)
@click.option(
    "--file",
    "file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A history file: `temporal workflow show --output json`, or an archived one.",
)
@click.option("--all", "all_", is_flag=True, help="Every case (Temporal's and archived ones).")
@click.option("--since", default=None, help="With --all: cases started on or after this date.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="With --all: processes replaying side by side.",
)
@click.option("--archive-only", is_flag=True, help="Read the archive only, not Temporal.")
@click.option("--json", "as_json", is_flag=True, help="Reports as JSON.")
@server_options
def replay(
    code: str | None, file: Path | None, all_: bool, since: str | None, jobs: int,
    archive_only: bool, as_json: bool, address: str | None, namespace: str | None,
) -> None:  # fmt: skip
    """Replay case CODE (or --file F, or --all) with today's workflow code.

    Prints "deterministic", or the first event where the code diverges and its step. Exit 1
    on any divergence or failure: fit to gate a release of new worker code."""
    if sum(x is not None and x is not False for x in (code, file, all_ or None)) != 1:
        fail("give exactly one of CODE, --file F or --all")
    if since and not all_:
        fail("--since goes with --all")

    async def go() -> None:
        from motcua.audit import replay as r
        from motcua.audit.replay_all import gather_histories, replay_many

        elapsed = 0.0  # --all: the whole run's wall time
        if file is not None:
            try:
                reports = [await r.replay(r.history_from_file(file), "file")]
            except ValueError as e:
                fail(str(e))
        elif code is not None:
            client = await _connected(address, namespace, archive_only)
            try:
                history, source = await r.load_history(client, code)
            except r.HistoryNotFound as e:
                fail(str(e))
            reports = [await r.replay(history, source)]
            audited("replay", code, {"source": source, "outcome": reports[0].outcome})
        else:
            client = await _connected(address, namespace, archive_only)
            histories = await gather_histories(client, _since(since))
            summary = await replay_many(histories, jobs)
            reports, elapsed = summary.reports, summary.seconds
            audited("replay", None, {"cases": len(reports), "diverged": len(summary.diverged)})
        bad = [x for x in reports if x.outcome != "deterministic"]
        if as_json:
            click.echo(json.dumps([x.model_dump() for x in reports], indent=2, ensure_ascii=False))
        else:
            for x in reports if (code or file) else bad:
                click.echo(x.line())
            if all_:
                click.echo(
                    f"{len(reports)} histories replayed, {len(reports) - len(bad)} deterministic, "
                    f"{len(bad)} not ({jobs} jobs, {elapsed:.1f} s)"
                )
        if bad:
            raise SystemExit(1)

    _run(go())


@click.command()
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="The timeline as JSON.")
@click.option(
    "--personal-data",
    is_flag=True,
    help="Show personal data (ids, names, addresses) unmasked; recorded in the audit log.",
)
@click.option("--archive-only", is_flag=True, help="Read the archive only, not Temporal.")
@server_options
def timeline(
    code: str, as_json: bool, personal_data: bool, archive_only: bool,
    address: str | None, namespace: str | None,
) -> None:  # fmt: skip
    """The timeline of case CODE: steps, registry calls, decisions, documents, members."""

    async def go() -> None:
        from motcua.audit.replay import HistoryNotFound, load_history
        from motcua.audit.timeline import build_timeline, render_text

        client = await _connected(address, namespace, archive_only)

        async def member(workflow_id: str) -> WorkflowHistory | None:
            try:
                return (await load_history(client, workflow_id))[0]
            except HistoryNotFound:
                return None

        try:
            history, source = await load_history(client, code)
        except HistoryNotFound as e:
            fail(str(e))
        audited("timeline", code, {"source": source, "personal_data": personal_data})
        t = await build_timeline(history, personal_data=personal_data, fetch_member=member)
        click.echo(t.model_dump_json(indent=2) if as_json else render_text(t))

    _run(go())


@click.command("archive")
@click.argument("code", required=False)
@click.option("--all", "all_", is_flag=True, help="Every closed case not archived yet.")
@server_options
def archive_command(
    code: str | None, all_: bool, address: str | None, namespace: str | None
) -> None:
    """Archive closed case CODE (or --all closed cases) now; already archived ones are kept.

    Cases archive themselves as they close; this is for cases closed before archiving
    existed, terminated ones, and any whose archiving was lost."""
    if (code is None) == (not all_):
        fail("give CODE or --all")

    async def go() -> None:
        from motcua.audit.archive import CaseStillOpen, archive_case

        client = await _client(_address(address), _namespace(namespace))
        if code is not None:
            codes = [code]
        else:
            query = "WorkflowType = 'ProcedureWorkflow' AND ExecutionStatus != 'Running'"
            codes = [e.id async for e in client.list_workflows(query)]
        written, failed = 0, 0
        for c in codes:
            try:
                record, new = await archive_case(client, c)
            except CaseStillOpen as e:
                fail(str(e))
            except Exception as e:  # noqa: BLE001 - one case the sweep cannot archive
                # (its codec key retired, a member's definition missing) must not stop it.
                failed += 1
                click.echo(f"{c}: NOT archived: {type(e).__name__}: {e}", err=True)
                continue
            written += new
            click.echo(f"{c}: {'archived' if new else 'already archived'} ({record.status})")
        click.echo(f"{len(codes)} cases, {written} archived now, {failed} could not be")
        if failed:
            raise SystemExit(1)

    _run(go())


@click.command()
@click.argument("code")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The bundle file (default: <CODE>.evidence.zip).",
)
@click.option(
    "--personal-data",
    is_flag=True,
    help="Timeline with personal data unmasked; recorded in the audit log.",
)
@click.option("--archive-only", is_flag=True, help="Read the archive only, not Temporal.")
@server_options
def export(
    code: str, output: Path | None, personal_data: bool, archive_only: bool,
    address: str | None, namespace: str | None,
) -> None:  # fmt: skip
    """Write the evidence bundle of case CODE: histories, definitions, timeline, signed
    documents and a signed manifest of hashes. Check it with `motcua verify FILE`."""

    async def go() -> None:
        from motcua.audit.evidence import export_case
        from motcua.audit.replay import HistoryNotFound

        out = output or Path(f"{code}.evidence.zip")
        client = await _connected(address, namespace, archive_only)
        try:
            manifest = await export_case(client, code, out, personal_data=personal_data)
        except HistoryNotFound as e:
            fail(str(e))
        audited("export", code, {"personal_data": personal_data, "files": len(manifest["files"])})
        click.echo(f"{out}: {len(manifest['files'])} files, {out.stat().st_size} bytes")

    _run(go())


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--trust",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The CA certificate (PEM) to trust (default: data_dir/pki/ca.pem).",
)
def verify(bundle: Path, trust: Path | None) -> None:
    """Check evidence BUNDLE offline: hashes, signatures and their chain, and that every
    history replays. Exit 1 naming each place that does not hold."""

    async def go() -> None:
        from motcua.audit.verify import verify_bundle

        report = await verify_bundle(bundle, trust=trust)
        for check in report.checks:
            click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.place}: {check.what}")
        if not report.ok:
            click.echo(f"error: {len(report.problems)} checks failed", err=True)
            raise SystemExit(1)
        click.echo(f"{bundle}: verified ({len(report.checks)} checks)")

    _run(go())


COMMANDS = [replay, timeline, archive_command, export, verify]
