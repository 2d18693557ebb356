"""The database from the terminal: `motcua rebuild-read-model` (project every case again,
from Temporal) and `motcua db-upgrade` (migrate a server database to the newest revision)."""

from __future__ import annotations

import click

from motcua.cli.cases import _address, _client, _namespace, _run, fail, server_options


@click.command("rebuild-read-model")
@click.option(
    "--query",
    default=None,
    help='Only the cases this visibility query lists, e.g. ProcedureId = "vn.birth_registration".',
)
@click.option(
    "--prune",
    is_flag=True,
    help="Also remove the rows of cases Temporal no longer has (past its retention): "
    "the programme's measures lose them.",
)
@server_options
def rebuild_read_model(
    query: str | None, prune: bool, address: str | None, namespace: str | None
) -> None:
    """Rebuild the read model (inboxes, measures) from Temporal: every case projected again.

    Needs a running worker: closed cases answer by being replayed on it."""
    if prune and query:
        fail("--prune removes every case outside the listing: use it without --query")

    async def go() -> None:
        from motcua.readmodel.rebuild import rebuild

        client = await _client(_address(address), _namespace(namespace))
        report = await rebuild(client, query, prune=prune)
        click.echo(
            f"{report.cases} cases listed, {report.written} projected, "
            f"{report.removed} removed, {len(report.unanswered)} did not answer"
        )
        if report.unanswered:
            shown = ", ".join(report.unanswered[:10])
            more = f" and {len(report.unanswered) - 10} more" if len(report.unanswered) > 10 else ""
            fail(
                f"no answer from {shown}{more}: is a worker serving their task queue? "
                "Their rows were kept; run the command again once it is."
            )

    _run(go())


@click.command("db-upgrade")
def db_upgrade() -> None:
    """Migrate the database (DATABASE_URL) to the newest revision of its migrations."""
    from motcua import db, migrations
    from motcua.settings import get_settings

    url = get_settings().database_url
    engine = db.new_engine(url)
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    click.echo(f"database at revision {migrations.head()}")


COMMANDS = [rebuild_read_model, db_upgrade]
