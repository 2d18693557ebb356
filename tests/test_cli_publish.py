"""`motcua publish` and `motcua versions`: the API's publishing from the terminal, with the
API's refusals word for word; and what a new case runs once a version is published: the
citizen catalogue, the form, a citizen's submission and `motcua start` take the latest
published version (while the file, the draft, is broken too), a running case keeps its
own, and `motcua versions` counts the cases on each (dev server, real worker)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from motcua.api.app import create_app
from motcua.api.identity import issue_token
from motcua.cli import main
from motcua.publishing import store
from motcua.workflows.contracts import CaseStatus
from motcua.workflows.dsl.compile import load_procedure
from motcua.workflows.procedure import ProcedureWorkflow
from tests.helpers import ROOT, eventually, new_worker, state_when

V1 = """\
# A procedure for the publishing tests: one officer task, no registry.
id: {pid}
version: 1
title: Thủ tục kiểm thử phát hành
agency: commune
sla: {{working_days: 5}}
roles: [officer]
input:
  applicant_pid: {{type: pid, title: Số định danh cá nhân người nộp hồ sơ}}
  commune_code: {{type: commune_code, title: "Mã xã, phường nơi cư trú"}}
steps:
  - id: review
    task:
      role: officer
      agency: "{{{{ 'UBND-' ~ input.commune_code }}}}"
      actions: [approve, reject]
      sla: {{working_days: 2}}
"""
# Version 2: a field to type more, and a longer review.
NEW_FIELD = "  reason: {type: string, title: Lý do đăng ký, required: false}\n"
COMMUNE = "00001"
APPLICANT = "001203000123"


class Catalogue:
    """A procedure folder of this test alone with one procedure file (version 1), and a
    version 2 of it kept outside the folder."""

    def __init__(self, root: Path) -> None:
        self.procedure_id = f"vn.test.cli_published_{uuid.uuid4().hex[:8]}"
        self.file = root / "procedure_defs" / "test" / "published.yaml"
        self.file.parent.mkdir(parents=True)
        self.v1 = V1.format(pid=self.procedure_id)
        self.v2 = (
            self.v1.replace("version: 1", "version: 2")
            .replace("sla: {working_days: 2}", "sla: {working_days: 3}")
            .replace("steps:\n", NEW_FIELD + "steps:\n")
        )
        self.file.write_text(self.v1, encoding="utf-8")
        self.v2_file = root / "drafts" / "published_v2.yaml"
        self.v2_file.parent.mkdir()
        self.v2_file.write_text(self.v2, encoding="utf-8")
        # The working-day calendar lives beside the procedures.
        (root / "procedure_defs" / "calendars").symlink_to(ROOT / "procedure_defs" / "calendars")


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalogue:
    """A fresh data dir (database, development issuer) and procedure folder."""
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MOTCUA_PROCEDURE_DIR", str(tmp_path / "procedure_defs"))
    for name in ("DATABASE_URL", "MOTCUA_JWKS_URL", "MOTCUA_JWT_PUBLIC_KEY", "MOTCUA_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MOTCUA_TOKEN", raising=False)
    return Catalogue(tmp_path)


def analyst(sub: str = "cv.01") -> dict[str, str]:
    return {"MOTCUA_TOKEN": issue_token(sub, "analyst")}


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


async def cli(env: dict[str, str], *args: str) -> Result:
    # The commands call asyncio.run themselves: run them off this test's event loop.
    return await asyncio.to_thread(invoke, env, *args)


@asynccontextmanager
async def open_api(temporal: Client | None = None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(connect_temporal=False)
    app.state.temporal = temporal
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as c:
        yield c


# ---------------------------------------------------------------- motcua publish


def test_publish_prints_id_version_and_hash_and_the_same_content_is_no_new_version(
    catalogue: Catalogue,
) -> None:
    pid = catalogue.procedure_id
    first = invoke(analyst("cv.01"), "publish", pid)
    assert first.exit_code == 0, first.output
    hash_ = load_procedure(catalogue.file).hash
    lines = first.output.splitlines()
    assert lines[:2] == [f"published {pid} version 1", f"  sha256  {hash_}"]
    assert lines[2].startswith("  by cv.01 at ") and lines[2].endswith("(giờ Việt Nam)")
    assert lines[3] == "  new cases start on version 1; running cases keep theirs"
    [recorded] = store.versions(pid)
    assert (recorded.version, recorded.hash, recorded.published_by) == (1, hash_, "cv.01")

    # By its file, by someone else: the same content is the version it already is.
    again = invoke(analyst("cv.02"), "publish", str(catalogue.file))
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[:2] == [
        f"{pid} version 1 has this content: not a new version",
        f"  sha256  {hash_}",
    ]
    assert "published by cv.01 at " in again.output
    assert [v.published_by for v in store.versions(pid)] == ["cv.01"]

    second = invoke(analyst("cv.02"), "publish", str(catalogue.v2_file))
    assert second.exit_code == 0, second.output
    assert second.output.startswith(f"published {pid} version 2\n")
    assert [(v.version, v.published_by) for v in store.versions(pid)] == [
        (1, "cv.01"), (2, "cv.02"),
    ]  # fmt: skip


async def test_publish_refuses_as_the_api_does_word_for_word(catalogue: Catalogue) -> None:
    pid, drafts = catalogue.procedure_id, catalogue.v2_file.parent
    assert invoke(analyst(), "publish", pid).exit_code == 0
    cases = {
        "broken.yaml": catalogue.v1.replace("[approve, reject]", "[approve, rejct]"),
        "stranger.yaml": catalogue.v1.replace(pid, "vn.test.nowhere"),
        "taken.yaml": catalogue.v2.replace("version: 2", "version: 1"),
    }
    async with open_api() as api:
        for name, text in cases.items():
            file = drafts / name
            file.write_text(text, encoding="utf-8")
            refused = invoke(analyst(), "publish", str(file))
            assert refused.exit_code == 1, (name, refused.output)
            reply = await api.post(
                "/definitions/publish", params={"file": str(file)}, content=text.encode(),
                headers={"Authorization": f"Bearer {analyst()['MOTCUA_TOKEN']}",
                         "Content-Type": "application/yaml"},
            )  # fmt: skip
            assert reply.status_code in (409, 422), (name, reply.text)
            assert refused.output == f"error: {reply.json()['detail']}\n", name
    lines = invoke(analyst(), "publish", str(drafts / "broken.yaml")).output.splitlines()
    assert lines[0] == f"error: {drafts / 'broken.yaml'} does not validate (1 error):"
    assert lines[1].startswith(f"{drafts / 'broken.yaml'}:16:26: E010 unknown task action")
    assert [v.version for v in store.versions(pid)] == [1]


def test_publish_is_done_by_an_analyst_named_by_the_token(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = catalogue.procedure_id
    officer = issue_token("cb.01", "officer", agency="UBND-00001")
    refused = invoke({"MOTCUA_TOKEN": officer}, "publish", pid)
    assert refused.exit_code == 1
    assert refused.output == (
        "error: only analysts publish; this token's role is officer "
        "(`motcua token analyst --sub ID` makes an analyst's token)\n"
    )
    garbage = invoke({}, "publish", pid, "--token", "not-a-token")
    assert garbage.exit_code == 1
    assert garbage.output == "error: --token: the token is not valid: DecodeError\n"
    nobody = invoke({}, "publish", pid)
    assert nobody.exit_code == 1 and nobody.output.startswith("error: who publishes? pass --token")
    other = invoke(analyst("cv.01"), "publish", pid, "--actor", "cv.02")
    assert other.exit_code == 1
    assert other.output == "error: --actor cv.02 is not the token's holder; leave --actor out\n"
    assert store.versions(pid) == []

    # With the development issuer, an account may stand in for a token.
    by_actor = invoke({}, "publish", pid, "--actor", "cv.03")
    assert by_actor.exit_code == 0, by_actor.output
    assert [v.published_by for v in store.versions(pid)] == ["cv.03"]

    unknown = invoke(analyst(), "publish", "vn.test.nowhere")
    assert unknown.exit_code == 1 and "no procedure with id 'vn.test.nowhere'" in unknown.output

    # Trusting another issuer, the token is required.
    monkeypatch.setenv("MOTCUA_JWT_PUBLIC_KEY", str(catalogue.file))
    outside = invoke({}, "publish", str(catalogue.v2_file), "--actor", "cv.03")
    assert outside.exit_code == 1
    assert outside.output == (
        "error: publishing needs your analyst token: pass --token or set MOTCUA_TOKEN (the login)\n"
    )
    assert len(store.versions(pid)) == 1


# ---------------------------------------------------------------- motcua versions


def test_versions_lists_publisher_date_and_hash(catalogue: Catalogue) -> None:
    pid = catalogue.procedure_id
    never = invoke({}, "versions", pid, "--no-running")
    assert never.exit_code == 0, never.output
    assert never.output.splitlines() == [
        f"{pid}  Thủ tục kiểm thử phát hành",
        f"  file: {catalogue.file}",
        "",
        "no version published: new cases start on the file",
    ]
    assert invoke(analyst("cv.01"), "publish", pid).exit_code == 0
    assert invoke(analyst("cv.02"), "publish", str(catalogue.v2_file)).exit_code == 0
    listed = invoke({}, "versions", pid, "--no-running")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[3].split() == [
        "version",
        "running",
        "published",
        "by",
        "published",
        "at",
        "sha256",
    ]
    v1, v2 = store.versions(pid)
    for line, v in zip(lines[4:6], (v1, v2), strict=True):
        cells = line.split()
        assert cells[:3] == [str(v.version), "-", v.published_by] and cells[-1] == v.hash
        assert "(giờ Việt Nam)" in line
    assert lines[6:] == ["", "new cases start on version 2"]

    # Temporal out of reach: the versions still, and why the cases are not counted.
    unreachable = invoke({}, "versions", pid, "--address", "127.0.0.1:1")
    assert unreachable.exit_code == 0, unreachable.output
    assert unreachable.stdout == listed.stdout
    assert unreachable.stderr.startswith(
        "running cases not counted: cannot reach Temporal at 127.0.0.1:1"
    )

    unknown = invoke({}, "versions", "vn.test.nowhere", "--no-running")
    assert unknown.exit_code == 1
    assert unknown.output == (
        "Error: no procedure 'vn.test.nowhere': no catalogue file declares it and no version "
        "of it is published\n"
    )


# ---------------------------------------------------------------- what new cases run


async def test_the_catalogue_and_form_show_the_published_version_while_the_draft_is_broken(
    catalogue: Catalogue,
) -> None:
    from motcua.cases import offering, starting

    pid = catalogue.procedure_id
    citizen = {"Authorization": f"Bearer {issue_token(APPLICANT, 'citizen')}"}
    async with open_api() as api:
        before = {p["id"]: p for p in (await api.get("/procedures")).json()}[pid]
        assert [f["name"] for f in before["to_type"]] == ["commune_code"]

        assert invoke(analyst(), "publish", str(catalogue.v2_file)).exit_code == 0
        after = {p["id"]: p for p in (await api.get("/procedures")).json()}[pid]
        assert [f["name"] for f in after["to_type"]] == ["commune_code", "reason"]
        form = await api.get(f"/procedures/{pid}/form", headers=citizen)
        assert form.status_code == 200, form.text
        assert form.json()["to_type"] == ["commune_code", "reason"]

        # The analyst's draft no longer compiles: citizens still get version 2.
        catalogue.file.write_text(
            catalogue.v1.replace("[approve, reject]", "[approve, rejct]"), encoding="utf-8"
        )
        procedure, _ = offering.compiled(catalogue.file)
        assert (procedure.definition.version, procedure.hash) == (2, store.versions(pid)[0].hash)
        form = await api.get(f"/procedures/{pid}/form", headers=citizen)
        assert form.status_code == 200 and form.json()["to_type"] == ["commune_code", "reason"]

    # A procedure never published runs its file: a broken one starts nothing.
    other = catalogue.file.with_name("other.yaml")
    other.write_text(
        catalogue.v1.replace(pid, pid + "_other").replace("[approve, reject]", "[approve, rejct]"),
        encoding="utf-8",
    )
    with pytest.raises(starting.InvalidDefinition, match="E010 unknown task action 'rejct'"):
        starting.case_definition(other)


@pytest.mark.timeout(180)
async def test_a_new_submission_starts_on_the_published_version_and_a_running_case_keeps_its_own(
    local_env: WorkflowEnvironment, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = local_env.client
    pid, codes = catalogue.procedure_id, []
    citizen = {"Authorization": f"Bearer {issue_token(APPLICANT, 'citizen')}"}

    async def submit(api: httpx.AsyncClient, dossier: dict[str, Any]) -> str:
        reply = await api.post(
            "/dossiers", json={"procedure_id": pid, "dossier": dossier},
            headers={**citizen, "Idempotency-Key": str(uuid.uuid4())},
        )  # fmt: skip
        assert reply.status_code == 201, reply.text
        code: str = reply.json()["dossier_code"]
        codes.append(code)
        return code

    async def pinned(code: str) -> tuple[str, int]:
        handle = client.get_workflow_handle(code)
        state = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        return state.definition_hash, state.procedure_version

    async with new_worker(client) as worker, open_api(client) as api:
        monkeypatch.setenv("MOTCUA_TASK_QUEUE", worker.task_queue)
        env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, **analyst()}
        try:
            assert (await cli(env, "publish", pid)).exit_code == 0
            v1 = store.versions(pid)[0].hash
            first = await submit(api, {"commune_code": COMMUNE})
            assert await pinned(first) == (v1, 1)

            published = await cli(env, "publish", str(catalogue.v2_file))
            assert published.exit_code == 0, published.output
            v2 = store.versions(pid)[1].hash
            assert v2 != v1 and "version: 1" in catalogue.file.read_text("utf-8")
            # A new submission, with the field version 2 added, starts on version 2.
            second = await submit(api, {"commune_code": COMMUNE, "reason": "Chuyển nơi ở"})
            assert await pinned(second) == (v2, 2)
            # So does `motcua start` by the procedure's id (its file still says version 1).
            dossier = json.dumps({"applicant_pid": APPLICANT, "commune_code": COMMUNE})
            started = await cli(env, "start", pid, "--input", dossier, "--quiet")
            assert started.exit_code == 0, started.output
            codes.append(started.output.strip())
            assert await pinned(codes[-1]) == (v2, 2)
            # The case submitted before keeps version 1.
            kept = await client.get_workflow_handle(first).query(ProcedureWorkflow.state)
            assert (kept.definition_hash, kept.procedure_version) == (v1, 1)

            async def listed() -> Result:
                return await cli(env, "versions", pid)

            shown = await eventually(listed, lambda r: "running: 3 cases" in r.output)
            assert shown.exit_code == 0, shown.output
            rows = {line.split()[0]: line.split()[1] for line in shown.output.splitlines()[4:6]}
            assert rows == {"1": "1", "2": "2"}
            assert shown.output.splitlines()[-1] == (
                "running: 3 cases; 0 on a definition never published, 0 not answering"
            )
        finally:
            for code in codes:
                await client.get_workflow_handle(code).terminate("test over")
