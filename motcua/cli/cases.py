"""Case commands against a running Temporal: `start`, `decide`, `resume`, `supplement`, `show`.

They talk to the server at TEMPORAL_ADDRESS (or `--address`) in TEMPORAL_NAMESPACE (or
`--namespace`); `start` puts the case on MOTCUA_TASK_QUEUE. Every failure prints what was
wrong and what to do, and exits with status 1; no traceback reaches the terminal.
Messages never repeat a dossier's values (they may be personal data).

Temporal's SDK, SQLAlchemy (dossier codes) and the workflow are imported by the functions
that use them, so a command refused on its arguments answers without loading them.

`decide`, `resume` and `supplement`, once done, and `show`, before it prints, append an
entry to the audit log (motcua.audit.log) as the OS user, role "cli" (`audited`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from motcua import input_json
from motcua.cases.labels import STATUS_VI
from motcua.settings import get_settings

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

    from motcua.workflows.contracts import CaseState, OpenTask, Stall
    from motcua.worklists.errors import WorkRefused

T = TypeVar("T")
RPC_TIMEOUT = timedelta(seconds=15)


class CliError(Exception):
    """A failure explained for the person at the terminal."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


# ---------------------------------------------------------------- plumbing


def _address(address: str | None) -> str:
    return address or get_settings().temporal_address


def _namespace(namespace: str | None) -> str:
    return namespace or get_settings().temporal_namespace


async def _client(address: str, namespace: str) -> Client:
    from motcua.temporal import connect

    try:
        return await asyncio.wait_for(connect(address, namespace), timeout=20)
    except (RuntimeError, OSError, TimeoutError) as e:
        text = str(e)
        if "refused" in text.lower() or isinstance(e, TimeoutError) or not text:
            detail = ""
        else:
            detail = f" ({text.splitlines()[0][:200]})"
        fail(
            f"cannot reach Temporal at {address}: is `make run` running? "
            f"(or point TEMPORAL_ADDRESS / --address at your server){detail}"
        )


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine, turning every failure into a message and exit 1."""
    try:
        return asyncio.run(coro)
    except CliError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(130) from None
    except Exception as e:
        from temporalio.service import RPCError

        if not isinstance(e, RPCError):
            raise
        click.echo(f"error: Temporal refused the request ({e.status.name}): {e.message}", err=True)
        raise SystemExit(1) from None


def server_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--namespace",
        default=None,
        help="Temporal namespace (default: TEMPORAL_NAMESPACE or 'default').",
    )(fn)
    fn = click.option(
        "--address",
        default=None,
        help="Temporal frontend host:port (default: TEMPORAL_ADDRESS or localhost:7233).",
    )(fn)
    return fn


def _account(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An account id as recorded with an action: not empty, clean text, no spaces around."""
    from motcua.workflows.dsl import dossier as dossier_check

    value = value.strip()
    problem = dossier_check.text_problem(value) if value else "must not be empty"
    if problem:
        raise click.BadParameter(problem)
    return value


def _text_of(value: str, option: str) -> str:
    """JSON text, or the content of the file named by @path."""
    if not value.startswith("@"):
        return value
    path = Path(value[1:])
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        fail(f"{option}: cannot read {path}: {e.strerror or e}")
    except UnicodeDecodeError:
        fail(f"{option}: {path} is not UTF-8 text")


def _json(value: str | None, option: str, parse: Callable[[str], Any] = input_json.parse) -> Any:
    """JSON text, or @path of a JSON file, read strictly (motcua.input_json)."""
    if value is None:
        return None
    try:
        return parse(_text_of(value, option))
    except input_json.InputError as e:
        fail(f"{option} {e}")


def _json_object(value: str | None, option: str) -> dict[str, Any] | None:
    data: dict[str, Any] | None = _json(value, option, input_json.parse_object)
    return data


async def _case_call(code: str, address: str, call: Awaitable[T]) -> T:
    """Await a call on case `code`, explaining its failures (motcua.worklists.errors)."""
    from motcua.worklists.errors import WorkRefused, on_case

    try:
        return await on_case(code, call)
    except WorkRefused as e:
        fail(_explain(e, code, address))


def _explain(e: WorkRefused, code: str, address: str) -> str:
    if e.kind == "closed":
        return f"case {code} is closed; it takes no more actions (see `motcua show {code}`)"
    if e.kind == "no_case":
        return f"no case with dossier code {code} on {address} (check the code and --namespace)"
    if e.kind == "no_worker":
        return (
            f"case {code} did not answer in time: is a worker running on its task queue? "
            "(`make run` starts one)"
        )
    if e.kind == "no_answer":
        return e.message
    return f"refused: {e.message}"  # the case's own words


def _os_user() -> str:
    import getpass
    import os

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name: a container's bare uid
        return f"uid-{os.getuid()}"


def audited(action: str, case: str | None, detail: dict[str, Any]) -> None:
    """Append the command's `action` to the audit log as the OS user (role "cli"); exit 1
    saying so when the log cannot be written."""
    from sqlalchemy.exc import SQLAlchemyError

    from motcua.audit.log import AuditError, record

    try:
        record(action, actor=_os_user(), role="cli", case=case, detail=detail)
    except (SQLAlchemyError, AuditError, OSError, ValueError) as e:
        click.echo(
            f"error: the audit log could not record this {action} ({type(e).__name__}); "
            "check DATABASE_URL, then `motcua audit verify`",
            err=True,
        )
        raise SystemExit(1) from None


def _vn(moment: datetime | None) -> str:
    from motcua.dossier_codes import VIETNAM

    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M (giờ Việt Nam)")


def _status(value: str) -> str:
    return f"{value} ({STATUS_VI[value]})" if value in STATUS_VI else value


# ---------------------------------------------------------------- start


async def _start(
    file: Path,
    dossier: dict[str, Any],
    channel: str,
    agency: str | None,
    address: str,
    namespace: str,
) -> tuple[str, bool]:
    from motcua.cases import starting

    try:
        prepared = starting.prepare(starting.case_definition(file), dossier, agency)
    except starting.InvalidDefinition as e:
        fail(f"{file} is not a valid procedure:\n{e.diagnostics}\n(run `motcua validate {file}`)")
    except starting.NoAgency as e:
        fail(
            f"cannot derive the receiving agency of a {e.level}-level procedure "
            "from this dossier: pass --agency CODE (e.g. --agency UBND-00001)"
        )
    except starting.BadAgency as e:
        fail(f"--agency: {e.problem}")
    except starting.StartRefused as e:
        fail(str(e))
    client = await _client(address, namespace)
    try:
        from motcua.api.identity import case_trust

        # The case checks its officers' tokens itself (ADR 0013).
        trust = await asyncio.to_thread(case_trust)
        started = await starting.start(client, prepared, channel=channel, trust=trust)
    except starting.SubjectOpen as e:
        fail(f"refused: {e}")
    except starting.StartRefused as e:
        fail(str(e))
    return started.code, started.task_queue != "motcua"


@click.command()
@click.argument("procedure")
@click.option(
    "--input",
    "input_",
    required=True,
    metavar="JSON",
    help="The dossier: JSON text, or @file.json.",
)
@click.option(
    "--channel",
    default="online",
    show_default=True,
    help="'online', or the code of the one-stop centre that received the dossier.",
)
@click.option(
    "--agency",
    default=None,
    metavar="CODE",
    help="Agency code that prefixes the dossier code (default: UBND-<commune_code> for a "
    "commune procedure, UBND-<province_code> for a province procedure).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the dossier code.")
@server_options
def start(
    procedure: str,
    input_: str,
    channel: str,
    agency: str | None,
    quiet: bool,
    address: str | None,
    namespace: str | None,
) -> None:
    """Start a case of PROCEDURE (an id such as vn.birth_registration, or a YAML file)
    with the dossier given by --input.

    The procedure and the child procedures it starts are pinned to the case: each one's
    latest published version (`motcua versions`), else its file compiled; the dossier is
    checked against the procedure's `input` first. Prints the dossier code
    (the case's workflow id).
    """
    from motcua.cli.procedures import find_procedure

    file = find_procedure(procedure)

    async def go() -> tuple[str, bool]:
        data = _json_object(input_, "--input")
        assert data is not None
        return await _start(file, data, channel, agency, _address(address), _namespace(namespace))

    code, _ = _run(go())
    if quiet:
        click.echo(code)
        return
    click.echo(f"started case {code}")
    click.echo(f"  see it:      motcua show {code}")
    click.echo(f"  in Temporal: temporal workflow describe --workflow-id {code}")


# ---------------------------------------------------------------- decide, resume, supplement


async def _update(code: str, address: str, namespace: str, update: Any, arg: Any) -> Any:
    client = await _client(address, namespace)
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(code)
    return await _case_call(
        code, address, handle.execute_update(update, arg, rpc_timeout=RPC_TIMEOUT)
    )


def token_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--token",
        envvar="MOTCUA_TOKEN",
        default=None,
        help="Your bearer token (motcua token, or the login); default $MOTCUA_TOKEN. With "
        "the development issuer it may be left out: one is made for --actor.",
    )(fn)


def _receiving_agency(code: str) -> str:
    """UBND-00070 of UBND-00070-261123-0001 (and of its members' codes)."""
    return code.split(".")[0].rsplit("-", 2)[0]


def _token(
    given: str | None, *, actor: str, role: str, agency: str, officer_roles: tuple[str, ...] = ()
) -> str:
    """The officer's token: given, or on one machine with the development issuer made
    for them; a case that pins trust checks it (ADR 0013)."""
    from motcua.api.identity import IdentityError, issue_token, trust

    if given:
        return given
    if not trust().is_dev:
        fail("this case needs your token: pass --token or set MOTCUA_TOKEN (from the login)")
    try:
        return issue_token(actor, role, agency=agency, officer_roles=officer_roles, ttl=300)
    except IdentityError as e:
        fail(str(e))


@click.command()
@click.argument("code")
@click.argument("step")
@click.argument("action")
@click.option("--role", required=True, help="The officer's role, e.g. civil_status_officer.")
@click.option("--agency", required=True, help="The officer's agency, e.g. UBND-00001.")
@click.option("--actor", required=True, callback=_account, help="The officer's account id.")
@click.option("--comment", default="", help="Reason or note recorded with the decision.")
@click.option(
    "--missing",
    multiple=True,
    metavar="ITEM",
    help="For request_supplement: one missing item (repeat the option for each).",
)
@click.option("--form", "form", default=None, metavar="JSON", help="Task form fields (JSON).")
@token_option
@server_options
def decide(
    code: str,
    step: str,
    action: str,
    role: str,
    agency: str,
    actor: str,
    comment: str,
    missing: tuple[str, ...],
    form: str | None,
    token: str | None,
    address: str | None,
    namespace: str | None,
) -> None:
    """Decide the open task STEP of case CODE with ACTION (approve, reject, ...).

    The case refuses a wrong step, action, role or agency; the refusal is printed and the
    command exits with status 1.
    """

    async def go() -> Any:
        from motcua.workflows.contracts import DecideInput
        from motcua.workflows.procedure import ProcedureWorkflow

        decision = DecideInput(
            step_id=step,
            action=action,
            role=role,
            agency=agency,
            actor=actor,
            comment=comment,
            form=_json_object(form, "--form") or {},
            missing=list(missing),
            token=_token(token, actor=actor, role="officer", agency=agency, officer_roles=(role,)),
        )
        return await _update(
            code, _address(address), _namespace(namespace), ProcedureWorkflow.decide, decision
        )

    _run(go())
    from motcua.audit.keyed import text_ref

    audited("decide", code, {
        "step": step, "action": action, "account": actor, "as_role": role, "agency": agency,
        "comment": text_ref(comment), "form_fields": sorted(_json_object(form, "--form") or {}),
        "missing": len(missing),
    })  # fmt: skip
    click.echo(f"{code}: {step} -> {action} (by {actor}, {role} at {agency})")


@click.command()
@click.argument("code")
@click.argument("step")
@click.argument("action", type=click.Choice(["retry", "provide", "skip", "abort"]))
@click.option("--actor", required=True, callback=_account, help="The officer's account id.")
@click.option("--reason", required=True, help="Why; recorded with the resume.")
@click.option(
    "--result",
    default=None,
    metavar="JSON",
    help="For provide: the step's result (JSON text or @file.json).",
)
@token_option
@server_options
def resume(
    code: str,
    step: str,
    action: str,
    actor: str,
    reason: str,
    result: str | None,
    token: str | None,
    address: str | None,
    namespace: str | None,
) -> None:
    """Resume the stalled STEP of case CODE: retry, provide its result, skip it, or abort."""

    async def go() -> Any:
        from motcua.workflows.contracts import ResumeInput
        from motcua.workflows.procedure import ProcedureWorkflow

        req = ResumeInput(
            step_id=step,
            action=action,
            actor=actor,
            reason=reason,
            result=_json_object(result, "--result"),
            token=_token(token, actor=actor, role="officer", agency=_receiving_agency(code)),
        )
        return await _update(
            code, _address(address), _namespace(namespace), ProcedureWorkflow.resume, req
        )

    _run(go())
    from motcua.audit.keyed import text_ref

    fields = sorted(_json_object(result, "--result") or {})
    audited("resume", code, {
        "step": step, "action": action, "account": actor, "reason": text_ref(reason),
        "result_fields": fields,
    })  # fmt: skip
    click.echo(f"{code}: {step} -> {action} (by {actor})")


@click.command()
@click.argument("code")
@click.argument("step")
@click.option(
    "--actor",
    required=True,
    callback=_account,
    help="Who supplies the documents (citizen account).",
)
@click.option(
    "--documents",
    required=True,
    metavar="JSON",
    help="The supplemented dossier fields (JSON object text or @file.json).",
)
@click.option("--note", default="", help="A note from the citizen.")
@server_options
def supplement(
    code: str,
    step: str,
    actor: str,
    documents: str,
    note: str,
    address: str | None,
    namespace: str | None,
) -> None:
    """Supplement case CODE, sent back to the citizen at task STEP; the task reopens."""

    async def go() -> Any:
        from motcua.workflows.contracts import SupplementInput
        from motcua.workflows.procedure import ProcedureWorkflow

        req = SupplementInput(
            step_id=step,
            actor=actor,
            documents=_json_object(documents, "--documents") or {},
            note=note,
        )
        return await _update(
            code, _address(address), _namespace(namespace), ProcedureWorkflow.supplement, req
        )

    _run(go())
    from motcua.audit.keyed import pseudonym, text_ref

    fields = sorted(_json_object(documents, "--documents") or {})
    audited("supplement", code, {
        "step": step, "citizen": pseudonym(actor), "documents": fields, "note": text_ref(note)
    })  # fmt: skip
    click.echo(f"{code}: supplement received for {step}; the task is open again")


# ---------------------------------------------------------------- show


async def _show(code: str, address: str, namespace: str) -> tuple[CaseState, dict[str, Any]]:
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError
    from temporalio.service import RPCError

    from motcua.workflows.procedure import OPEN_STATUSES, ProcedureWorkflow

    client = await _client(address, namespace)
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(code)
    description = await _case_call(code, address, handle.describe(rpc_timeout=RPC_TIMEOUT))
    state = await _case_call(
        code, address, handle.query(ProcedureWorkflow.state, rpc_timeout=RPC_TIMEOUT)
    )
    members: dict[str, CaseState] = {}
    for step_id, status in state.children.items():
        if status in OPEN_STATUSES:  # a member still open: what is it waiting for?
            member = client.get_workflow_handle(f"{code}.{step_id}")
            with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                members[step_id] = await member.query(
                    ProcedureWorkflow.state, rpc_timeout=RPC_TIMEOUT
                )
    history = await _case_call(code, address, handle.fetch_history(rpc_timeout=RPC_TIMEOUT))
    kinds: Counter[str] = Counter()
    times: list[datetime] = []
    for event in history.events:
        kinds[EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()] += 1
        times.append(event.event_time.ToDatetime(tzinfo=UTC))
    summary = {
        "workflow_status": (
            WorkflowExecutionStatus(description.status).name.lower()
            if description.status
            else "unknown"
        ),
        "events": len(history.events),
        "first": min(times) if times else None,
        "last": max(times) if times else None,
        "kinds": dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))),
        "members": members,
    }
    return state, summary


def _task_lines(t: OpenTask, indent: str) -> list[str]:
    lines = [
        f"{indent}{t.step_id}: role {t.role} at {t.agency}, waiting for {t.waiting_for}, "
        f"due {_vn(t.due_at)}" + (f", ESCALATED to {t.escalate_to}" if t.escalated else ""),
        f"{indent}  actions: {', '.join(t.actions)}; opened {_vn(t.opened_at)}",
    ]
    if t.waiting_for == "citizen":
        lines.append(
            f"{indent}  supplement due {_vn(t.supplement_due_at)}; missing: "
            + (", ".join(t.missing) or "-")
        )
    return lines


def _stall_lines(s: Stall, indent: str) -> list[str]:
    return [
        f"{indent}{s.step_id}: STALLED, {s.activity} failed "
        + (f"after {s.attempts} attempt(s) " if s.attempts else "for its whole retry window ")
        + f"since {_vn(s.since)}{' (skippable)' if s.skippable else ''}",
        f"{indent}  error: {s.error}",
    ]


def render(state: CaseState, history: dict[str, Any]) -> list[str]:
    """The case for a person: what it is waiting for, what happened, who did what."""
    lines = [
        f"Case {state.dossier_code}",
        f"  procedure     {state.procedure_id} v{state.procedure_version}"
        f" (definition {state.definition_hash[:12]})",
        f"  status        {_status(state.status.value)}  [Temporal: {history['workflow_status']}]",
        f"  started       {_vn(state.started_at)}",
        f"  due           {_vn(state.due_at)}",
        f"  current steps {', '.join(state.current_steps) or '-'}",
    ]
    if state.reason:
        lines.append(f"  reason        {state.reason}")
    if state.open_tasks:
        lines.append("Open tasks")
        lines += [line for t in state.open_tasks for line in _task_lines(t, "  ")]
    if state.stalls:
        lines.append("Stalled steps (motcua resume CODE STEP retry|provide|skip|abort)")
        lines += [line for s in state.stalls for line in _stall_lines(s, "  ")]
    if state.problems:
        lines.append("Problems (the case went on; look into them)")
        for e in state.problems:
            lines.append(f"  {_vn(e.at)}  {e.step_id}: {e.detail}")
    if state.decisions:
        lines.append("Decisions")
        for d in state.decisions:
            extra = f" - {d.comment}" if d.comment else ""
            if d.missing:
                extra += f" (missing: {', '.join(d.missing)})"
            lines.append(
                f"  {_vn(d.at)}  {d.step_id}: {d.action} by {d.actor} "
                f"({d.role} at {d.agency}){extra}"
            )
    if state.resumes:
        lines.append("Resumes")
        for r in state.resumes:
            lines.append(f"  {_vn(r.at)}  {r.step_id}: {r.action} by {r.actor} - {r.reason}")
    if state.children:
        lines.append("Member cases")
        members: dict[str, CaseState] = history.get("members", {})
        for step_id, status in state.children.items():
            lines.append(f"  {state.dossier_code}.{step_id}: {_status(status)}")
            member = members.get(step_id)
            if member is not None:
                lines += [line for t in member.open_tasks for line in _task_lines(t, "    ")]
                lines += [line for s in member.stalls for line in _stall_lines(s, "    ")]
    if state.output:
        lines.append("Output")
        for key, value in state.output.items():
            lines.append(f"  {key}: {value}")
    lines.append(
        f"History: {history['events']} events, first {_vn(history['first'])}, "
        f"last {_vn(history['last'])}"
    )
    lines += [f"  {n:4d}  {kind}" for kind, n in history["kinds"].items()]
    return lines


@click.command()
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print the state query result as JSON.")
@server_options
def show(code: str, as_json: bool, address: str | None, namespace: str | None) -> None:
    """Show case CODE: status, open tasks, stalls, decisions and a history summary."""
    state, history = _run(_show(code, _address(address), _namespace(namespace)))
    audited("view", code, {"format": "json" if as_json else "text"})
    if as_json:
        click.echo(state.model_dump_json(indent=2))
        return
    click.echo("\n".join(render(state, history)))


COMMANDS: list[click.Command] = [start, decide, resume, supplement, show]
