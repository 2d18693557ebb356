"""Alembic's environment: the engine comes from motcua.migrations.config, not a URL in an
ini file; on PostgreSQL one advisory lock makes concurrent migrations run one at a time."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from motcua.migrations import LOCK_ID, every_table

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": LOCK_ID})
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=every_table(),
            render_as_batch=not postgres,  # SQLite alters tables by copying them
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": LOCK_ID})
            connection.commit()
