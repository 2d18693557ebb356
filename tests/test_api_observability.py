"""What the API tells its operators: Prometheus metrics by route template, and JSON logs
that hold no personal data."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from motcua.api.app import create_app
from motcua.api.observability import JsonFormatter

PID = "001326012345"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    return TestClient(create_app(connect_temporal=False))


def count(client: TestClient, route: str, status: str, method: str = "GET") -> float:
    text = client.get("/metrics").text
    line = re.search(
        rf'^motcua_api_requests_total\{{method="{method}",route="{re.escape(route)}",'
        rf'status="{status}"\}} (\S+)$',
        text,
        re.M,
    )
    return float(line.group(1)) if line else 0.0


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    route = "/verify/{dossier_code}/{code}"
    before = count(client, route, "404"), count(client, "/healthz", "200")
    unmatched = count(client, "(unmatched)", "404")
    for n in range(3):
        client.get(f"/verify/UBND-00070-260305-000{n}/{PID}")
    client.get("/healthz")
    client.get(f"/no/such/{PID}")
    after = count(client, route, "404"), count(client, "/healthz", "200")
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 1]
    assert count(client, "(unmatched)", "404") - unmatched == 1
    text = client.get("/metrics").text
    bucket = 'motcua_api_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}'
    assert bucket in text
    assert PID not in text and "UBND-00070-260305" not in text


def test_each_request_is_logged_by_its_template(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="motcua.api.access"):
        client.get(f"/verify/UBND-00070-260305-0001/{PID}?sha256=abc")
    [record] = [r for r in caplog.records if r.name == "motcua.api.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "/verify/{dossier_code}/{code}" and line["status"] == 404
    assert line["method"] == "GET" and line["duration_ms"] >= 0
    assert PID not in json.dumps(line) and "UBND-00070-260305-0001" not in json.dumps(line)


def test_json_logs_mask_personal_data_and_exception_messages() -> None:
    logger = logging.getLogger("motcua.test")
    try:
        raise ValueError(f"citizen {PID} not found")
    except ValueError:
        record = logger.makeRecord(
            "motcua.test", logging.ERROR, __file__, 1,
            "lookup of %s failed, mail hoa.nguyen@example.vn, phone 0912345678", (PID,),
            exc_info=sys.exc_info(), extra={"who": f"pid {PID}", "count": 3},
        )  # fmt: skip
    text = JsonFormatter().format(record)
    line = json.loads(text)
    assert line["message"] == "lookup of [number] failed, mail [email], phone [number]"
    assert line["who"] == "pid [number]" and line["count"] == 3
    assert line["error"] == "ValueError" and line["frames"][0].endswith(
        "test_json_logs_mask_personal_data_and_exception_messages"
    )
    assert PID not in text and "example.vn" not in text and "not found" not in text
    assert line["level"] == "error" and line["logger"] == "motcua.test"
