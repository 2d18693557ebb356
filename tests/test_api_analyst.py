"""Analysts over HTTP: validating YAML with the CLI's located diagnostics, publishing
immutable content-hashed versions (idempotent, recorded with who and when, versions that
must grow), diffs, diagrams, who may call; and, on the dev server with a real worker, a
case started after publishing version 2 runs version 2 while one started before keeps
version 1, each counted on its version."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from click.testing import CliRunner
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from motcua.api.identity import issue_token
from motcua.cases import starting
from motcua.cli import main
from motcua.workflows.contracts import CaseStatus
from motcua.workflows.procedure import ProcedureWorkflow
from tests.api_client import open_api
from tests.helpers import ROOT, eventually, new_worker, state_when

BROKEN = ROOT / "tests" / "broken" / "mixed_mistakes.yaml"
V1 = """\
# A procedure for the analysts' API tests: one officer task, no registry.
id: {pid}
version: 1
title: Thủ tục kiểm thử phiên bản
agency: commune
sla: {{working_days: 5}}
roles: [officer]
input:
  pid: {{type: pid}}
steps:
  - id: review
    task:
      role: officer
      agency: {agency}
      actions: [approve, reject]
      sla: {{working_days: 2}}
"""


def v2(v1: str) -> str:
    """Version 2: the review gets three working days instead of two."""
    changed = v1.replace("version: 1", "version: 2").replace(
        "sla: {working_days: 2}", "sla: {working_days: 3}"
    )
    assert changed.count("\n") == v1.count("\n") and changed != v1
    return changed


def bearer(role: str, sub: str = "cv.01", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(sub, role, **claims)}"}


ANALYST = "analyst"
YAML = {"Content-Type": "application/yaml"}


class Catalogue:
    """A procedure folder of this test alone, holding one procedure file (version 1)."""

    def __init__(self, root: Path) -> None:
        self.procedure_id = f"vn.test.published_{uuid.uuid4().hex[:8]}"
        self.agency = f"UBND-T{uuid.uuid4().hex[:6].upper()}"
        self.file = root / "test" / "published.yaml"
        self.file.parent.mkdir(parents=True)
        self.v1 = V1.format(pid=self.procedure_id, agency=self.agency)
        self.v2 = v2(self.v1)
        self.file.write_text(self.v1, encoding="utf-8")
        # The working-day calendar lives beside the procedures.
        (root / "calendars").symlink_to(ROOT / "procedure_defs" / "calendars")


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalogue:
    """A fresh data dir (database, development issuer) and procedure folder."""
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MOTCUA_PROCEDURE_DIR", str(tmp_path / "procedure_defs"))
    for name in ("DATABASE_URL", "MOTCUA_JWKS_URL", "MOTCUA_JWT_PUBLIC_KEY", "MOTCUA_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    return Catalogue(tmp_path / "procedure_defs")


@pytest_asyncio.fixture
async def api(catalogue: Catalogue) -> AsyncIterator[httpx.AsyncClient]:
    async with open_api() as client:
        yield client


async def publish(
    api: httpx.AsyncClient, text: str, role: str = ANALYST, sub: str = "cv.01"
) -> httpx.Response:
    return await api.post(
        "/definitions/publish", content=text.encode(), headers={**bearer(role, sub), **YAML}
    )


async def versions_of(api: httpx.AsyncClient, catalogue: Catalogue) -> httpx.Response:
    url = f"/definitions/{catalogue.procedure_id}/versions"
    return await api.get(url, headers=bearer(ANALYST), params={"running": False})


# ---------------------------------------------------------------- validate


async def test_validate_reports_the_same_located_errors_as_the_cli(
    api: httpx.AsyncClient,
) -> None:
    cli = CliRunner().invoke(main, ["validate", str(BROKEN)])
    assert cli.exit_code == 1 and cli.output.endswith("7 errors in 1 file\n")
    expected = cli.output.splitlines()[:-1]
    assert len(expected) == 7

    reply = await api.post(
        "/definitions/validate",
        params={"file": str(BROKEN)},
        content=BROKEN.read_bytes(),
        headers={**bearer(ANALYST), **YAML},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["valid"] is False and body["hash"] is None
    assert [d["text"] for d in body["diagnostics"]] == expected
    first = body["diagnostics"][0]
    assert (first["line"], first["col"], first["code"]) == (21, 5, "E003")
    assert first["path"] == "steps[0].retyr" and first["hint"] == "did you mean 'retry'?"
    assert [d["code"] for d in body["diagnostics"]] == [
        "E003", "E002", "E013", "E008", "E007", "E006", "E004",
    ]  # fmt: skip

    # The same text as JSON, under the default name.
    as_json = await api.post(
        "/definitions/validate", json={"yaml": BROKEN.read_text("utf-8")}, headers=bearer(ANALYST)
    )
    assert as_json.status_code == 200
    texts = [d["text"] for d in as_json.json()["diagnostics"]]
    assert texts == [line.replace(str(BROKEN), "definition.yaml") for line in expected]


async def test_validate_a_good_definition_names_its_hash_and_file(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    from motcua.workflows.dsl.compile import load_procedure

    reply = await api.post(
        "/definitions/validate", json={"yaml": catalogue.v1}, headers=bearer("admin", "qt.01")
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["valid"] is True and body["diagnostics"] == []
    assert body["procedure_id"] == catalogue.procedure_id and body["version"] == 1
    assert body["hash"] == load_procedure(catalogue.file).hash
    assert body["catalogue_file"] == "test/published.yaml"
    assert body["latest_published"] is None


async def test_a_body_that_is_not_a_definition_is_refused(api: httpx.AsyncClient) -> None:
    url, who = "/definitions/validate", bearer(ANALYST)
    reply = await api.post(url, content=b"id: x", headers={**who, "Content-Type": "image/png"})
    assert reply.status_code == 415
    assert "application/yaml" in reply.json()["detail"]
    reply = await api.post(url, json={"yml": "id: x"}, headers=who)
    assert reply.status_code == 422
    assert reply.json()["detail"] == 'send JSON {"yaml": "<the definition>"} and nothing else'
    reply = await api.post(url, content=b"id: \xff", headers={**who, **YAML})
    assert reply.status_code == 422 and "not UTF-8" in reply.json()["detail"]
    reply = await api.post(url, content=b"a: [", headers={**who, **YAML})
    assert reply.status_code == 200
    [syntax] = reply.json()["diagnostics"]
    assert syntax["code"] == "E001" and syntax["text"].startswith("definition.yaml:1:")


# ---------------------------------------------------------------- publish


async def test_publishing_twice_is_idempotent_and_versions_must_grow(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    first = await publish(api, catalogue.v1)
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert v1["procedure_id"] == catalogue.procedure_id and v1["version"] == 1
    assert v1["published_by"] == "cv.01" and v1["published_at"]

    again = await publish(api, catalogue.v1, sub="cv.02")
    assert again.status_code == 200
    assert again.json() == v1  # the same version, still recorded as the first publisher's

    # The same content with only a comment changed compiles to the same hash: the same version.
    commented = await publish(api, "# reworded\n" + catalogue.v1)
    assert commented.status_code == 200 and commented.json()["version"] == 1

    # Other content under a version already published: refused, naming the next one.
    other = catalogue.v2.replace("version: 2", "version: 1")
    taken = await publish(api, other)
    assert taken.status_code == 409
    assert taken.json()["detail"] == (
        f"version 1 of {catalogue.procedure_id} is already published with other content: the "
        f"latest published is version 1 (sha256 {v1['hash'][:12]}…); publish this one as "
        "`version: 2` or more"
    )

    second = await publish(api, catalogue.v2, sub="cv.02")
    assert second.status_code == 201
    assert second.json()["version"] == 2 and second.json()["hash"] != v1["hash"]
    older = await publish(api, other.replace("version: 1", "version: 1\n# older"))
    assert older.status_code == 409 and "`version: 3` or more" in older.json()["detail"]


async def test_concurrent_publishes_of_one_text_record_one_version(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    replies = await asyncio.gather(*(publish(api, catalogue.v1) for _ in range(8)))
    assert sorted(r.status_code for r in replies) == [200] * 7 + [201]
    assert len({r.json()["hash"] for r in replies}) == 1
    listed = await api.get(
        f"/definitions/{catalogue.procedure_id}/versions", headers=bearer(ANALYST)
    )
    assert [v["version"] for v in listed.json()["versions"]] == [1]


async def test_a_definition_that_does_not_validate_is_not_published(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    broken = catalogue.v1.replace("actions: [approve, reject]", "actions: [approve, rejct]")
    reply = await publish(api, broken)
    assert reply.status_code == 422
    detail = reply.json()["detail"].splitlines()
    assert detail[0] == "definition.yaml does not validate (1 error):"
    assert detail[1].startswith("definition.yaml:15:26: E010 unknown task action 'rejct'")
    assert detail[1].endswith("did you mean 'reject'?")
    listed = await api.get(
        f"/definitions/{catalogue.procedure_id}/versions", headers=bearer(ANALYST)
    )
    assert listed.status_code == 200 and listed.json()["versions"] == []

    stranger = catalogue.v1.replace(catalogue.procedure_id, "vn.test.nowhere")
    reply = await publish(api, stranger)
    assert reply.status_code == 422
    assert reply.json()["detail"].startswith(
        "no file under procedure_defs/ declares procedure 'vn.test.nowhere'"
    )


async def test_versions_are_listed_with_publisher_and_diffed(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    pid, who = catalogue.procedure_id, bearer(ANALYST)
    assert (await publish(api, catalogue.v1, sub="cv.01")).status_code == 201
    assert (await publish(api, catalogue.v2, sub="cv.02")).status_code == 201

    listed = await api.get(f"/definitions/{pid}/versions", headers=who, params={"running": False})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["latest_version"] == 2 and body["catalogue_file"] == "test/published.yaml"
    assert [(v["version"], v["published_by"]) for v in body["versions"]] == [
        (1, "cv.01"), (2, "cv.02"),
    ]  # fmt: skip
    assert body["versions"][0]["published_at"] <= body["versions"][1]["published_at"]
    assert body["running"] is None and body["running_note"] == "not counted (running=false)"
    everything = await api.get("/definitions", headers=who)
    [mine] = [d for d in everything.json() if d["procedure_id"] == pid]
    assert mine["versions"] == [{**v, "running_cases": None} for v in body["versions"]]
    assert mine["running_note"] == "Temporal is not reachable: running cases not counted"

    one = await api.get(f"/definitions/{pid}/versions/2", headers=who)
    assert one.status_code == 200 and one.json()["yaml"] == catalogue.v2

    diff = await api.get(f"/definitions/{pid}/versions/1/diff/2", headers=who)
    assert diff.status_code == 200 and diff.headers["content-type"].startswith("text/plain")
    lines = diff.text.splitlines()
    h1, h2 = (v["hash"][:12] for v in body["versions"])
    assert lines[:2] == [
        f"--- {pid} version 1 (sha256 {h1})",
        f"+++ {pid} version 2 (sha256 {h2})",
    ]
    changed = [x for x in lines[2:] if x[:1] in "+-"]
    assert changed == [
        "-version: 1", "+version: 2",
        "-      sla: {working_days: 2}", "+      sla: {working_days: 3}",
    ]  # fmt: skip
    same = await api.get(f"/definitions/{pid}/versions/2/diff/2", headers=who)
    assert same.status_code == 200 and same.text == ""

    missing = await api.get(f"/definitions/{pid}/versions/1/diff/3", headers=who)
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith(f"{pid} has no published version 3")
    unknown = await api.get("/definitions/vn.test.nowhere/versions", headers=who)
    assert unknown.status_code == 404


async def test_the_diagram_of_a_version_in_each_format(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    pid, who = catalogue.procedure_id, bearer(ANALYST)
    assert (await publish(api, catalogue.v2.replace("version: 2", "version: 1"))).status_code == 201
    url = f"/definitions/{pid}/versions/1/diagram"
    mermaid = await api.get(url, headers=who)
    assert mermaid.status_code == 200, mermaid.text
    assert "flowchart TD" in mermaid.text and "3 working days" in mermaid.text
    dot = await api.get(url, headers=who, params={"format": "dot"})
    assert dot.status_code == 200 and dot.text.startswith("digraph")
    assert dot.headers["content-type"].startswith("text/vnd.graphviz")
    svg = await api.get(url, headers=who, params={"format": "svg"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text
    wrong = await api.get(url, headers=who, params={"format": "png"})
    assert wrong.status_code == 422


# ---------------------------------------------------------------- who may call


async def test_only_analysts_publish_and_only_analysts_and_admins_read(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    pid = catalogue.procedure_id
    assert (await publish(api, catalogue.v1)).status_code == 201
    reads = [
        "/definitions", f"/definitions/{pid}/versions", f"/definitions/{pid}/versions/1",
        f"/definitions/{pid}/versions/1/diff/1", f"/definitions/{pid}/versions/1/diagram",
    ]  # fmt: skip
    staff = {"agency": catalogue.agency, "officer_roles": ["officer"]}
    outsiders = {
        "citizen": bearer("citizen", "001203000123"),
        "officer": bearer("officer", "cb.01", **staff),
        "supervisor": bearer("supervisor", "ld.01", agency=catalogue.agency),
        "auditor": bearer("auditor", "kt.01"),
    }
    for role, headers in outsiders.items():
        for url in reads:
            reply = await api.get(url, headers=headers)
            assert reply.status_code == 403, (role, url)
            assert reply.json()["detail"] == f"only analyst, admin may do this; your role is {role}"
        reply = await api.post(
            "/definitions/validate", content=catalogue.v1.encode(), headers={**headers, **YAML}
        )
        assert reply.status_code == 403
        reply = await api.post(
            "/definitions/publish", content=catalogue.v2.encode(), headers={**headers, **YAML}
        )
        assert reply.status_code == 403
        assert reply.json()["detail"] == f"only analyst may do this; your role is {role}"

    admin = bearer("admin", "qt.01")
    for url in reads:
        assert (await api.get(url, headers=admin)).status_code == 200, url
    refused = await publish(api, catalogue.v2, role="admin", sub="qt.01")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "only analyst may do this; your role is admin"
    nobody = await api.post("/definitions/publish", content=catalogue.v2.encode(), headers=YAML)
    assert nobody.status_code == 401
    listed = await api.get(f"/definitions/{pid}/versions", headers=admin)
    assert [v["version"] for v in listed.json()["versions"]] == [1]


# ---------------------------------------------------------------- new cases, running cases


@pytest.mark.timeout(180)
async def test_a_case_started_after_publishing_v2_runs_v2_and_one_before_keeps_v1(
    local_env: WorkflowEnvironment, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = local_env.client
    async with open_api(client) as api:
        await _pinning(client, api, catalogue, monkeypatch)


async def _pinning(
    client: Client, api: httpx.AsyncClient, catalogue: Catalogue, mp: pytest.MonkeyPatch
) -> None:
    pid, who = catalogue.procedure_id, bearer(ANALYST)
    v1 = (await publish(api, catalogue.v1)).json()

    async def start_case() -> str:
        # What `motcua start` and the citizen API do: compile the file, prepare, start.
        compiled = starting.compile_file(catalogue.file)
        prepared = starting.prepare(compiled, {"pid": "001203000123"}, catalogue.agency)
        return (await starting.start(client, prepared)).code

    codes: list[str] = []
    try:
        async with new_worker(client) as worker:
            mp.setenv("MOTCUA_TASK_QUEUE", worker.task_queue)
            codes.append(await start_case())
            before = client.get_workflow_handle(codes[0])
            state = await state_when(before, lambda s: s.status == CaseStatus.waiting_officer)
            assert (state.definition_hash, state.procedure_version) == (v1["hash"], 1)

            v2 = (await publish(api, catalogue.v2)).json()
            assert v2["version"] == 2
            # The file still says version 1: a new case starts on the published version 2.
            assert "version: 1" in catalogue.file.read_text("utf-8")
            codes.append(await start_case())
            after = client.get_workflow_handle(codes[1])
            state = await state_when(after, lambda s: s.status == CaseStatus.waiting_officer)
            assert (state.definition_hash, state.procedure_version) == (v2["hash"], 2)

            # The case started before keeps version 1.
            kept = await before.query(ProcedureWorkflow.state)
            assert (kept.definition_hash, kept.procedure_version) == (v1["hash"], 1)

            async def counted() -> dict[str, Any]:
                reply = await api.get(f"/definitions/{pid}/versions", headers=who)
                assert reply.status_code == 200, reply.text
                body: dict[str, Any] = reply.json()
                return body

            body = await eventually(counted, lambda b: (b["running"] or {}).get("total") == 2)
            assert [v["running_cases"] for v in body["versions"]] == [1, 1]
            assert body["running"] == {"total": 2, "unpublished": 0, "unanswered": 0}
            assert body["running_note"] is None
    finally:
        for code in codes:
            await client.get_workflow_handle(code).terminate("test over")


# ---------------------------------------------------------------- a bundle's members


async def test_a_bundle_starts_the_latest_published_version_of_each_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from motcua.publishing import current
    from motcua.workflows.dsl.compile import load_bundle

    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MOTCUA_PROCEDURE_DIR", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    defs = ROOT / "procedure_defs"
    bundle_file, birth_file = (
        defs / "bundles/birth_bundle.yaml",
        defs / "civil_status/birth_registration.yaml",
    )
    from_files = load_bundle(bundle_file)
    assert current(from_files) is from_files  # nothing published: the files, as they are

    birth_v2 = birth_file.read_text("utf-8").replace("\nversion: 1\n", "\nversion: 2\n", 1)
    async with open_api() as api:
        reply = await publish(api, birth_v2)
    assert reply.status_code == 201, reply.text
    bundle, members = current(load_bundle(bundle_file))
    assert bundle == from_files[0]  # the bundle itself is not published: its file
    assert set(members) == set(from_files[1])
    assert members["vn.birth_registration"].hash == reply.json()["hash"]
    assert members["vn.birth_registration"].definition.version == 2
    others = {k: v.hash for k, v in members.items() if k != "vn.birth_registration"}
    assert others == {k: v.hash for k, v in from_files[1].items() if k != "vn.birth_registration"}


def starts(step_id: str, procedure_id: str) -> str:
    """A step starting `procedure_id` with this case's pid (YAML, under `steps:`)."""
    given = '{pid: "{{ input.pid }}"}'
    return f"  - id: {step_id}\n    procedure: {{id: {procedure_id}, input: {given}}}\n"


async def test_a_version_that_would_close_a_cycle_of_child_procedures_is_refused(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    pid, outer_id = catalogue.procedure_id, catalogue.procedure_id + "_outer"
    # In the catalogue: an outer procedure that starts this one.
    head = V1.format(pid=outer_id, agency=catalogue.agency).split("steps:")[0]
    outer = catalogue.file.with_name("outer.yaml")
    outer.write_text(head + "steps:\n" + starts("inner", pid), encoding="utf-8")
    checked = await api.post(
        "/definitions/validate", content=outer.read_bytes(), headers={**bearer(ANALYST), **YAML}
    )
    assert checked.json()["valid"] is True, checked.text

    # A version of this one that starts the outer one again: the cycle is shown on its step.
    reply = await publish(api, catalogue.v2 + starts("again", outer_id))
    assert reply.status_code == 422
    assert reply.json()["detail"].splitlines()[1] == (
        f"definition.yaml:18:21: E022 child procedures cycle: {pid} -> {outer_id} -> {pid} "
        "(at steps[1].procedure.id)"
    )


async def test_an_altered_version_is_refused_not_run(
    api: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    from sqlalchemy import update

    from motcua import db
    from motcua.publishing.store import PublishedDefinition

    assert (await publish(api, catalogue.v1)).status_code == 201
    with db.session() as s:  # someone edits the stored definition behind the API's back
        row = s.get(PublishedDefinition, (catalogue.procedure_id, 1))
        assert row is not None
        tampered = row.definition.replace('"working_days":2', '"working_days":20')
        assert tampered != row.definition
        s.exec(update(PublishedDefinition).values(definition=tampered))
        s.commit()
    reply = await api.get(
        f"/definitions/{catalogue.procedure_id}/versions/1/diagram", headers=bearer(ANALYST)
    )
    assert reply.status_code == 409
    assert reply.json()["detail"].endswith(
        "does not match its hash " + row.hash[:12] + "…: the database row was altered"
    )
    with pytest.raises(starting.InvalidDefinition, match="the database row was altered"):
        starting.prepare(
            starting.compile_file(catalogue.file), {"pid": "001203000123"}, catalogue.agency
        )
