"""The migrations build exactly the tables the models declare, on SQLite and PostgreSQL, and
adopt a database created before migrations existed."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from motcua import migrations


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                compare_metadata(MigrationContext.configure(conn), migrations.every_table())
            )
    finally:
        engine.dispose()


def _head() -> str | None:
    engine = create_engine("sqlite://")
    return ScriptDirectory.from_config(migrations.config(engine)).get_current_head()


def _version(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_migrations_build_what_the_models_declare(database: str) -> None:
    engine = create_engine(database)
    migrations.upgrade(engine)
    migrations.upgrade(engine)  # again: nothing to do
    engine.dispose()
    assert _version(database) == _head()
    assert _differences(database) == []


def test_a_database_made_before_migrations_is_adopted(database: str) -> None:
    engine = create_engine(database)
    tables = migrations.every_table()
    tables.create_all(
        engine, tables=[tables.tables["rm_dossier"], tables.tables["issued_document"]]
    )
    migrations.upgrade(engine)
    assert set(tables.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()
    assert _version(database) == _head()
    assert _differences(database) == []


def test_db_upgrade_command(database: str) -> None:
    from click.testing import CliRunner

    from motcua.cli import main

    result = CliRunner().invoke(main, ["db-upgrade"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"database at revision {_head()}"
    assert _differences(database) == []
