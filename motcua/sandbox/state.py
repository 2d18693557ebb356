"""The sandbox's in-memory state: the world, per-service ledgers, idempotency keys, faults.

Everything mutable is changed under `Sandbox.lock`. Handlers are `async def` and never
await while holding it, so a write is atomic with respect to every other request.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from motcua.sandbox import civil_register, geo
from motcua.sandbox.data import VN_TZ, World, generate
from motcua.sandbox.journal import Journal

SERVICES = ("population", "civil-status", "residence", "social-insurance", "health", "gateways")


@dataclass
class Fault:
    latency_ms: int = 0
    error_rate: float = 0.0
    outage: bool = False
    error_after_apply: bool = False  # an injected 500 comes after the write was applied

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Stored:
    fingerprint: str
    status: int
    body: Any


@dataclass
class ServiceBook:
    """One service's applied writes and the idempotency keys it has seen."""

    name: str
    ledger: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, Stored] = field(default_factory=dict)


class Sandbox:
    def __init__(
        self, seed: int, citizens: int, today: date | None = None, journal: Journal | None = None
    ) -> None:
        self.seed = seed
        self.size = citizens
        self.fixed_today = today
        self.geo = geo.load()
        self.lock = threading.RLock()
        self.journal = journal
        self.replaying_at: datetime | None = None  # the clock while the journal is replayed
        begun = journal.world() if journal is not None else None
        if begun is not None and begun[:2] == (seed, citizens) and today in (None, begun[2]):
            # The same world as before the restart; app.create_app replays its writes.
            self.fixed_today = begun[2]
            self._generate()
        else:
            self.reset()

    def journal_write(self, method: str, path: str, key: str, body: Any) -> None:
        """Keep an applied write (not while replaying the journal itself)."""
        if self.journal is not None and self.replaying_at is None:
            self.journal.append(method, path, key, body, self.now())

    def reset(self) -> None:
        """Regenerate the world from the seed and forget every write and fault."""
        with self.lock:
            if self.journal is not None:
                self.journal.begin(self.seed, self.size, self.today())
            self._generate()

    def _generate(self) -> None:
        with self.lock:
            self.world: World = generate(self.seed, self.size, self.today(), self.geo)
            self.books = {name: ServiceBook(name) for name in SERVICES}
            self.faults = {name: Fault() for name in SERVICES}
            self.fault_rngs = {name: random.Random(f"{self.seed}/{name}") for name in SERVICES}
            self.rng = random.Random(f"{self.seed}/runtime")
            # civil status: the books as they stand, new registrations numbered after them
            self.registrations, serials = civil_register.existing(self.world)
            self.sequences: dict[str, int] = {"civil-status": serials}
            self.certificates_used: dict[str, str] = {}  # certificate no -> registration no
            # residence
            self.residence_records: dict[str, dict[str, Any]] = {}
            # social insurance
            self.cards: dict[str, dict[str, Any]] = {}
            self.claims: dict[str, dict[str, Any]] = {}
            self.social_insurance_nos: set[str] = set()
            # gateways
            self.messages: dict[str, list[dict[str, Any]]] = {"sms": [], "push": []}
            self.message_keys: dict[str, dict[str, str]] = {"sms": {}, "push": {}}

    def today(self) -> date:
        return self.fixed_today or datetime.now(VN_TZ).date()

    def now(self) -> datetime:
        if self.replaying_at is not None:
            return self.replaying_at
        now = datetime.now(VN_TZ).replace(microsecond=0)
        if self.fixed_today:
            now = datetime.combine(self.fixed_today, now.timetz())
        return now

    def next_seq(self, name: str) -> int:
        self.sequences[name] = self.sequences.get(name, 0) + 1
        return self.sequences[name]

    def set_fault(self, service: str, fault: Fault) -> None:
        with self.lock:
            self.faults[service] = fault
            self.fault_rngs[service] = random.Random(f"{self.seed}/{service}")

    def clear_faults(self) -> None:
        for name in SERVICES:
            self.set_fault(name, Fault())
