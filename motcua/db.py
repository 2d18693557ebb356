"""The SQL database: one sqlmodel engine per database URL, tables created on first use.

SQLite file under the data dir by default; PostgreSQL (or any SQLAlchemy URL) through
`DATABASE_URL`, e.g. `postgresql+psycopg://user@host:5432/motcua`, migrated by alembic
(motcua.migrations). Settings are read at
call time, so a test that points `MOTCUA_DATA_DIR` or `DATABASE_URL` elsewhere gets its own
engine.

Tables are sqlmodel classes declared by the modules that own them (the register book, the
notification outbox, ...). `get_engine()` creates every table declared so far that the
database lacks, and does it again when a module imported later declares more: no module
has to be imported before another. Creation is `CREATE ... IF NOT EXISTS`-like (checkfirst)
and tolerates another process creating the same table at the same moment.

Blocking calls: SQLAlchemy here is synchronous. Activities run their database work through
`run_sync` (a worker thread), so the worker's event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from motcua.settings import get_settings

T = TypeVar("T")

_lock = threading.Lock()
# url -> (engine, names of the tables already ensured on it)
_engines: dict[str, tuple[Engine, frozenset[str]]] = {}


def new_engine(url: str) -> Engine:
    """An engine for `url`, not cached and with no tables ensured."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30.0})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers run beside the one writer; several workers on one machine
            # share the file safely.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _create_tables(engine: Engine) -> None:
    try:
        SQLModel.metadata.create_all(engine)
    except SQLAlchemyError:
        # Another process created a table between our check and our CREATE; the second
        # pass sees it and skips it. A real problem fails again and propagates.
        SQLModel.metadata.create_all(engine)


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: settings.database_url), with every known table: a
    server database migrated to the newest revision (motcua.migrations), the embedded
    SQLite file created from the models."""
    url = url or get_settings().database_url
    wanted = frozenset(SQLModel.metadata.tables)
    with _lock:
        hit = _engines.get(url)
        if hit is not None and wanted <= hit[1]:
            return hit[0]
        engine = hit[0] if hit is not None else new_engine(url)
        if engine.dialect.name == "sqlite":
            _create_tables(engine)
        else:
            from motcua import migrations

            migrations.upgrade(engine)  # every table the models declare, imported by it
            wanted = frozenset(SQLModel.metadata.tables)
        _engines[url] = (engine, wanted)
        return engine


@contextmanager
def session(url: str | None = None) -> Iterator[Session]:
    """A session on the configured database; the caller commits."""
    with Session(get_engine(url), expire_on_commit=False) as s:
        yield s


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking database work off the event loop."""
    return await asyncio.to_thread(fn, *args)


def dispose_engines() -> None:
    """Close every pooled connection (tests, and process shutdown)."""
    with _lock:
        for engine, _ in _engines.values():
            engine.dispose()
        _engines.clear()


def utc(moment: datetime) -> datetime:
    """A datetime read back from the database, in UTC: SQLite hands back naive datetimes,
    and everything is stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
