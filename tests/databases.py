"""Both databases the read model runs on: a SQLite file, and a throwaway PostgreSQL database
created for the test on 127.0.0.1:5432 and dropped after it (skipped, saying why, where the
machine has no PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from motcua import db

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(SERVER, connect_timeout=2, autocommit=True)


def postgres_missing() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    try:
        with _admin():
            return None
    except Exception as err:  # noqa: BLE001 - any failure means "not on this machine"
        return f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(err).__name__})"


def throwaway_postgres() -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards."""
    name = f"motcua_test_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        db.dispose_engines()
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """DATABASE_URL pointed at a fresh database of each kind, for the test's duration."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'read-model.db'}"
        monkeypatch.setenv("DATABASE_URL", url)
        yield url
        db.dispose_engines()
        return
    reason = postgres_missing()
    if reason:
        pytest.skip(reason)
    for url in throwaway_postgres():
        monkeypatch.setenv("DATABASE_URL", url)
        yield url


def bench_databases(
    stack: ExitStack, wanted: list[str], sqlite_file: Path
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """For the benchmarks: (name, URL) of each of `wanted` ("sqlite", "postgres") this
    machine has, a throw-away PostgreSQL database dropped when `stack` closes, and why any
    wanted one was skipped (printed)."""
    found: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    if "sqlite" in wanted:
        found.append(("SQLite", f"sqlite:///{sqlite_file}"))
    if "postgres" in wanted:
        reason = postgres_missing()
        if reason:
            skipped["PostgreSQL"] = reason
        else:
            found.append(("PostgreSQL", stack.enter_context(contextmanager(throwaway_postgres)())))
    for name, reason in skipped.items():
        print(f"{name} skipped: {reason}")  # noqa: T201 - the benchmarks' own output
    return found, skipped
