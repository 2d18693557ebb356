"""The sandbox's writes on disk, so its registries survive a restart.

The synthetic world is generated from its seed, size and reference date, so only what
changed it needs keeping: every applied write (a registration, a card, a message) is
appended to a SQLite journal with its request and the moment it was applied. On start the
sandbox generates the same world (with the reference date the journal was begun on) and
replays the journal through its own routes, in order, with the clock held at each write's
moment: the same handlers make the same changes, draw the same random numbers and answer
the same idempotency keys as before the restart. A reset, or a start with another seed or
size, begins a new journal.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Write:
    method: str
    path: str
    idempotency_key: str
    body: Any
    at: datetime


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()
        # One connection, used under the lock (the sandbox applies writes one at a time).
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives a crash
        self.db.executescript(SCHEMA)

    def world(self) -> tuple[int, int, date] | None:
        """(seed, size, reference date) the journal was begun with, if any."""
        rows = dict(self.db.execute("SELECT name, value FROM meta").fetchall())
        if not {"seed", "size", "today"} <= rows.keys():
            return None
        return int(rows["seed"]), int(rows["size"]), date.fromisoformat(rows["today"])

    def begin(self, seed: int, size: int, today: date) -> None:
        """Start afresh for a new world."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM writes")
            self.db.execute("DELETE FROM meta")
            self.db.executemany(
                "INSERT INTO meta (name, value) VALUES (?, ?)",
                [("seed", str(seed)), ("size", str(size)), ("today", today.isoformat())],
            )
            self.db.execute("COMMIT")

    def append(self, method: str, path: str, key: str, body: Any, at: datetime) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO writes (method, path, idempotency_key, body, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (method, path, key, json.dumps(body, ensure_ascii=False), at.isoformat()),
            )

    def writes(self) -> list[Write]:
        rows = self.db.execute(
            "SELECT method, path, idempotency_key, body, at FROM writes ORDER BY seq"
        ).fetchall()
        return [Write(m, p, k, json.loads(b), datetime.fromisoformat(a)) for m, p, k, b, a in rows]
