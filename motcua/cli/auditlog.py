"""The audit log from the terminal: `motcua audit verify` (is the chain intact?) and
`motcua audit show` (its last entries, of one case or all), on the database at
DATABASE_URL (else the data dir's SQLite file), as the API and the other commands write it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from motcua.audit.log import AuditEntry


@click.group()
def audit() -> None:
    """The hash-chained audit log: verify it, or show its last entries."""


@audit.command()
def verify() -> None:
    """Check the whole chain: exit 0 when intact, 1 naming the first broken entry.

    Prints the head (last entry and its hash): written down outside the database, it
    shows later that no entry was cut from the end."""
    from motcua.audit import log

    report = log.verify()
    if report.ok:
        if report.head_seq is None:
            click.echo("audit log intact: it has no entries yet")
        else:
            click.echo(f"audit log intact: {report.entries} entries")
            click.echo(f"  head: entry {report.head_seq}, hash {report.head_hash}")
        return
    click.echo(f"error: the audit log is broken at entry {report.first_broken}", err=True)
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    click.echo(
        f"  ({report.entries} entries read; entries before {report.first_broken} are intact; "
        "see docs/operations.md, 'The audit log', for what to do)",
        err=True,
    )
    raise SystemExit(1)


def _line(e: AuditEntry) -> str:
    detail = " ".join(f"{k}={v}" for k, v in e.detail.items())
    return (
        f"{e.seq:>6}  {e.at:%Y-%m-%dT%H:%M:%SZ}  {e.role}:{e.actor}  {e.action}"
        f"  {e.case_code or '-'}" + (f"  {detail}" if detail else "")
    )


@audit.command()
@click.option("--case", "case", default=None, metavar="CODE", help="Only case CODE and members.")
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="At most this many entries, the newest.",
)
def show(case: str | None, limit: int) -> None:
    """The last entries, oldest first: seq, time (UTC), role:actor, action, case, detail."""
    from motcua.audit import log

    found = log.entries(case=case, limit=limit)
    if not found:
        click.echo(f"no audit entries for case {case}" if case else "the audit log is empty")
        return
    for e in found:
        click.echo(_line(e))


COMMANDS = [audit]
