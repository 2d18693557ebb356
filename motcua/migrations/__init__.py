"""Alembic migrations of motcua's database: every table (the read model, and the rows the
activities and endpoints own).

A server database (PostgreSQL, through DATABASE_URL) is brought to the newest revision by
migrations: by the first process that uses it (motcua.db, under an advisory lock, so workers
and API starting together migrate once), or by an operator with `motcua db-upgrade`. A
database whose tables were created before migrations existed is adopted: what it lacks is
created, and it is stamped at the first revision. The embedded SQLite file of `make run`
and the tests is created from the models directly; tests/test_migrations.py holds the
migrations equal to the models, on both databases.

A new table or column: change the model, then write the next revision in versions/;
`draft(engine, "what changed")` on a database at the newest revision drafts it from the
difference, to be read and tidied before it is committed.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

HERE = Path(__file__).resolve().parent
FIRST = "0001"
LOCK_ID = 0x6D6F7463  # "motc": one advisory lock for every process that migrates
# The tables revision FIRST creates: what a database made before migrations may hold. Those
# it lacks are created when it is adopted; later revisions' tables are theirs to create.
FIRST_TABLES = frozenset({
    "citizen_submission", "dossier_rating", "dossier_sequence", "issued_document",
    "notification_outbox", "open_dossier", "published_definition", "register_entry",
    "rm_decision", "rm_dossier", "rm_stall", "rm_task",
})  # fmt: skip


def every_table() -> MetaData:
    """The models' metadata, with every module that declares a table imported."""
    import motcua.activities.documents
    import motcua.activities.notifications
    import motcua.activities.register
    import motcua.api.submissions
    import motcua.audit.log
    import motcua.dossier_codes
    import motcua.open_dossiers
    import motcua.publishing.store
    import motcua.readmodel.tables  # noqa: F401

    return SQLModel.metadata


def config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision`, adopting one made before migrations."""
    names = set(inspect(engine).get_table_names())
    if "alembic_version" not in names and names & FIRST_TABLES:
        tables = every_table().tables
        every_table().create_all(engine, tables=[tables[n] for n in FIRST_TABLES - names])
        command.stamp(config(engine), FIRST)
    command.upgrade(config(engine), revision)


def head() -> str | None:
    """The newest revision."""
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return ScriptDirectory.from_config(cfg).get_current_head()


def draft(engine: Engine, message: str) -> None:
    """Write the next revision from what the models hold and the database lacks."""
    command.revision(config(engine), message=message, autogenerate=True)
