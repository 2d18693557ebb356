"""A case that pins `trust` checks the officer's signed token itself, in its Update
validators (ADR 0013): a client that talks to Temporal directly cannot decide or resume
with a role, agency or actor it merely types."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from motcua.api.identity import case_trust, issue_token
from motcua.workflows.contracts import CaseStatus, DecideInput, ResumeInput
from motcua.workflows.procedure import ProcedureWorkflow
from tests import engine_activities
from tests.helpers import compiled, new_worker, start_case, state_when

AGENCY = "UBND-00070"
BODY = f"""
steps:
  - id: lookup
    call: test.echo
    with: {{value: "{{{{ input.pid }}}}"}}
    retry: {{max_attempts: 1}}
  - id: review
    task: {{role: civil_status_officer, agency: {AGENCY}, actions: [approve, reject]}}
"""

REVIEW_ONLY = BODY[BODY.index("  - id: review") :].join(["steps:\n", ""])


@pytest.fixture(autouse=True)
def dev_issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    for name in ("MOTCUA_JWKS_URL", "MOTCUA_JWT_PUBLIC_KEY", "MOTCUA_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)


def officer(
    sub: str = "cb01",
    agency: str = AGENCY,
    roles: tuple[str, ...] = ("civil_status_officer",),
    # Long: the time-skipping server's clock runs ahead of the host's while a case waits.
    ttl: int = 30 * 86400,
) -> str:  # noqa: E501
    return issue_token(sub, "officer", agency=agency, officer_roles=roles, ttl=ttl)


def decide(token: str | None, actor: str = "cb01", agency: str = AGENCY) -> DecideInput:
    return DecideInput(
        step_id="review", action="approve", role="civil_status_officer", agency=agency,
        actor=actor, token=token,
    )  # fmt: skip


async def refused(handle: object, update: object, arg: object) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(update, arg)  # type: ignore[attr-defined]
    return str(caught.value.cause)


async def test_a_decision_needs_the_token_of_that_officer_agency_and_role(
    ts_env: WorkflowEnvironment,
) -> None:
    engine_activities.FAILURES["lookup"] = 1  # stalls first: resume needs a token too
    async with new_worker(ts_env.client) as worker:
        dossier = {"pid": "001203000123"}
        handle = await start_case(
            ts_env.client, worker, compiled("tokened", BODY), dossier,
            code=f"{AGENCY}-261123-{__import__('uuid').uuid4().hex[:6]}", trust=case_trust(),
        )  # fmt: skip
        await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        retry = ResumeInput(step_id="lookup", action="retry", actor="cb01", reason="Đã sửa")
        assert "needs the officer's token" in await refused(handle, ProcedureWorkflow.resume, retry)
        other = retry.model_copy(update={"token": officer(agency="UBND-00001")})
        assert "not for the agency" in await refused(handle, ProcedureWorkflow.resume, other)
        await handle.execute_update(
            ProcedureWorkflow.resume, retry.model_copy(update={"token": officer()})
        )
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)

        assert "needs the officer's token" in await refused(
            handle, ProcedureWorkflow.decide, decide(None)
        )
        # Typed role and agency are right, but the token is another agency's officer.
        assert "not for UBND-00070" in await refused(
            handle, ProcedureWorkflow.decide, decide(officer(agency="UBND-00001"))
        )
        assert "does not carry the role" in await refused(
            handle, ProcedureWorkflow.decide, decide(officer(roles=("police_officer",)))
        )
        assert "actor is not the token's holder" in await refused(
            handle, ProcedureWorkflow.decide, decide(officer(sub="cb99"))
        )
        assert "expired" in await refused(
            handle, ProcedureWorkflow.decide, decide(officer(ttl=-60))
        )
        citizen = issue_token("001203000123", "citizen", ttl=30 * 86400)
        assert "only an officer" in await refused(
            handle, ProcedureWorkflow.decide, decide(citizen, actor="001203000123")
        )
        await handle.execute_update(ProcedureWorkflow.decide, decide(officer()))
        result = await handle.result()
        state = await handle.query(ProcedureWorkflow.state)
    assert result.status == CaseStatus.completed
    assert [d.actor for d in state.decisions] == ["cb01"]


async def test_a_token_from_another_issuer_is_refused(
    ts_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(
            ts_env.client, worker, compiled("tokened2", REVIEW_ONLY),
            {"pid": "001203000123"}, trust=case_trust(),
        )  # fmt: skip
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        # Another machine's development issuer: same issuer name, different key.
        monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path / "elsewhere"))
        forged = officer()
        assert "does not verify with the keys this case trusts" in await refused(
            handle, ProcedureWorkflow.decide, decide(forged)
        )
        await handle.terminate()


def test_the_cli_needs_a_token_when_a_real_provider_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from motcua.cli.cases import decide as decide_command

    pem = tmp_path / "idp.pem"
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    monkeypatch.setenv("MOTCUA_JWT_PUBLIC_KEY", str(pem))
    monkeypatch.delenv("MOTCUA_TOKEN", raising=False)
    args = ["UBND-00070-261123-0001", "review", "approve", "--role", "civil_status_officer",
            "--agency", AGENCY, "--actor", "cb01", "--address", "127.0.0.1:1"]  # fmt: skip
    result = CliRunner().invoke(decide_command, args)
    assert result.exit_code != 0
    assert "this case needs your token: pass --token or set MOTCUA_TOKEN" in result.output
