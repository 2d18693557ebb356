"""The sandbox keeps its writes in a SQLite journal under the data directory: after a
restart its registries hold what they held, and answer old idempotency keys as before."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from motcua.sandbox.app import create_app

SEED, SIZE = 42, 2_000


def birth(client: TestClient) -> dict[str, Any]:
    m = client.get("/_admin/samples", params={"count": 3}).json()["mother_with_birth_certificate"][
        0
    ]
    cert = client.get(f"/health/birth-certificates/{m['certificate_no']}").json()
    return {
        "birth_certificate_no": m["certificate_no"],
        "child": {"full_name": "Nguyễn Ngọc Bảo An", "ethnicity": "Kinh",
                  "nationality": "Việt Nam", **cert["child"]},
        "mother_pid": m["mother_pid"],
        "father_pid": m["father_pid"],
        "commune_code": m["commune_code"],
    }  # fmt: skip


def test_writes_survive_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "data" / "sandbox.db"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    sms_key = {"Idempotency-Key": uuid.uuid4().hex}
    with TestClient(create_app(SEED, SIZE, journal=journal)) as before:
        body = birth(before)
        registered = before.post("/civil-status/births", json=body, headers=key)
        assert registered.status_code == 201, registered.text
        sms = {"to": "0912345678", "text": "Hồ sơ đã được tiếp nhận"}
        sent = before.post("/gateways/sms/messages", json=sms, headers=sms_key)
        assert sent.status_code == 201
        ledger = before.get("/civil-status/_ledger").json()

    # A new process on the same data directory: the same registry, not a fresh one.
    with TestClient(create_app(SEED, SIZE, journal=journal)) as after:
        child_pid = registered.json()["child_pid"]
        assert after.get(f"/population/citizens/{child_pid}").status_code == 200
        again = after.post("/civil-status/births", json=body, headers=key)
        assert again.json() == registered.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        twice = after.post("/civil-status/births", json=body, headers={"Idempotency-Key": "x1"})
        assert twice.status_code == 422 and "already registered" in twice.text
        resent = after.post("/gateways/sms/messages", json=sms, headers=sms_key)
        assert (
            resent.status_code == 409 and resent.json()["message_id"] == sent.json()["message_id"]
        )
        assert after.get("/civil-status/_ledger").json() == ledger

        # A reset begins a new world, on disk too.
        assert after.post("/_admin/reset").status_code == 200
    with TestClient(create_app(SEED, SIZE, journal=journal)) as fresh:
        assert fresh.get(f"/population/citizens/{child_pid}").status_code == 404
        assert fresh.get("/civil-status/_ledger").json() == []
