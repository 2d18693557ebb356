"""Run a scenario against the time-skipping test server, the sandbox and the SMTP sink.

    report = await run_scenario(Path("scenarios/demo/approved.yaml"))

The caller may share a time-skipping `env`, a sandbox (its base URL, or a
`SandboxProcess` that is reset to a fresh world for each run) and the SMTP sink's
directory across scenarios; whatever is not given is started for this run and stopped
after it. The case starts at the scenario's `start.at`, resolved against the server's
clock ("next working day 09:00" is the first such moment after it), so a scenario passes
on any day; `SharedRun` gives each scenario a fresh server, optionally moved to a chosen
moment first. While a case waits out a registry call's retry backoff, the clock is skipped
to the next attempt, so an outage costs no real time.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, or_, select
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from motcua import db, dossier_codes
from motcua.activities import notifications, signing
from motcua.activities.calendar import get_calendar, parse_hhmm, snapshot
from motcua.activities.definitions import pin_members
from motcua.activities.documents import IssuedDocumentRow
from motcua.activities.store import get_store
from motcua.sandbox.process import SandboxProcess
from motcua.settings import ROOT, get_settings
from motcua.simulate.model import (
    Advance,
    Decide,
    Faults,
    Resume,
    Scenario,
    ScenarioError,
    StateExpect,
    Supplement,
    load_scenario,
)
from motcua.simulate.report import ScenarioReport
from motcua.smtp_sink import messages, running_sink
from motcua.temporal import data_converter, ensure_search_attributes
from motcua.worker import build_worker
from motcua.workflows.contracts import (
    CaseResult,
    CaseStart,
    CaseState,
    CompiledProcedure,
    DecideInput,
    ResumeInput,
    SupplementInput,
    initial_search_attributes,
)
from motcua.workflows.dsl import dossier as dossier_check
from motcua.workflows.dsl.compile import load_bundle
from motcua.workflows.dsl.diagnostics import DefinitionError
from motcua.workflows.dsl.expressions import ExpressionError, evaluate
from motcua.workflows.procedure import ProcedureWorkflow

WAIT_TIMEOUT = 30.0  # real seconds a step waits for its case to be ready
RESULT_TIMEOUT = 60.0  # real seconds to wait for the case to end once the steps are done
TERMINAL = {"completed", "rejected", "aborted", "failed"}
SAMPLE_COUNT = 100  # of each kind, for `samples: true`: scenarios pick records by index
FALLBACK_AGENCY = "MOTCUA-SIM"
RETRY_SKIP_STEP = timedelta(seconds=20)  # the least step through a failing call's window
# The longest retry window (notify.send) and a bit; longer waits are the scenario's to
# `advance`.
MAX_RETRY_SKIP = timedelta(hours=1, minutes=1)


class ScenarioFailed(Exception):
    """A step could not be carried out; the run stops with this message."""

    reported = False


class _Reported(ScenarioFailed):
    """A failed check already in the report; the run stops without another entry."""

    reported = True


def test_server_path() -> Path:
    """The time-skipping test server shipped in the virtualenv (no download)."""
    found = Path(sys.executable).parent / "temporal-test-server"
    if found.exists():
        return found
    which = shutil.which("temporal-test-server")
    if which:
        return Path(which)
    raise ScenarioFailed(
        "temporal-test-server not found next to the Python interpreter or on PATH "
        "(install the project's dev dependencies: `uv sync`)"
    )


_quiet_runtime: Runtime | None = None


def quiet_runtime() -> Runtime:
    """A Temporal runtime whose native core logs errors only (its warnings about the test
    server's capabilities would drown a report)."""
    global _quiet_runtime
    if _quiet_runtime is None:
        logging = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        _quiet_runtime = Runtime(telemetry=TelemetryConfig(logging=logging))
    return _quiet_runtime


async def start_test_env(*, quiet: bool = True) -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=str(test_server_path()),
        runtime=quiet_runtime() if quiet else None,
    )
    await ensure_search_attributes(env.client)
    return env


@contextmanager
def _environ(**values: str) -> Any:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@asynccontextmanager
async def _resources(
    scenario: Scenario,
    env: WorkflowEnvironment | None,
    sandbox: str | SandboxProcess | None,
    mail_dir: Path | None,
    report: ScenarioReport,
) -> AsyncIterator[tuple[WorkflowEnvironment, str, Path, datetime]]:
    async with AsyncExitStack() as stack:
        if env is None:
            env = await start_test_env()
            stack.push_async_callback(env.shutdown)
        start = await _start_moment(scenario, env)
        report.started_at = start.isoformat()
        today = scenario.sandbox.today or start.astimezone(dossier_codes.VIETNAM).date()
        if isinstance(sandbox, str):
            url = sandbox.rstrip("/")
            await asyncio.to_thread(_reset_shared, url, scenario, report)
        else:
            if sandbox is None:
                sandbox = stack.enter_context(SandboxProcess())
            process = sandbox
            url = await asyncio.to_thread(
                process.ensure, scenario.sandbox.seed, today, scenario.sandbox.citizens
            )
        extra: dict[str, str] = {"MOTCUA_SANDBOX_URL": url}
        if mail_dir is None:
            mail_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="motcua-mail-")))
            host, port = stack.enter_context(running_sink(mail_dir))
            extra |= {"MOTCUA_SMTP_HOST": host, "MOTCUA_SMTP_PORT": str(port)}
        stack.enter_context(_environ(**extra))
        yield env, url, mail_dir, start


async def _start_moment(scenario: Scenario, env: WorkflowEnvironment) -> datetime:
    """`start.at` resolved against the server's clock; a past absolute date is refused."""
    now = await env.get_current_time()
    try:
        start = scenario.start.resolve(now, get_calendar())
    except ValueError as e:
        raise ScenarioFailed(f"start.at: {e}") from None
    if start < now:
        raise ScenarioFailed(
            f"start.at {start.isoformat()} is already past (the server's clock says "
            f"{now.astimezone(dossier_codes.VIETNAM).isoformat(timespec='minutes')}): write "
            "it relative to the run, e.g. `at: next working day 09:00` or `at: next working "
            "Friday 14:59` (docs/scenarios.md)"
        )
    return start


def _reset_shared(url: str, scenario: Scenario, report: ScenarioReport) -> None:
    """A sandbox we do not own: reset it (its seed and day stay whatever they are)."""
    httpx.post(f"{url}/_admin/reset", timeout=60.0).raise_for_status()
    health = httpx.get(f"{url}/healthz", timeout=10.0).json()
    if health.get("seed") != scenario.sandbox.seed:
        report.notes.append(
            f"the shared sandbox runs seed {health.get('seed')}, not {scenario.sandbox.seed}"
        )


# ---------------------------------------------------------------- running


async def run_scenario(
    path: Path | str,
    *,
    env: WorkflowEnvironment | None = None,
    sandbox: str | SandboxProcess | None = None,
    mail_dir: Path | None = None,
) -> ScenarioReport:
    """Run one scenario file; never raises for a failing scenario (see report.checks)."""
    path = Path(path)
    report = ScenarioReport(path=str(path))
    try:
        scenario = load_scenario(path)
    except ScenarioError as e:
        report.check("scenario file", False, str(e))
        return report
    report.name = scenario.name
    try:
        async with _resources(scenario, env, sandbox, mail_dir, report) as resources:
            await _Run(scenario, report, *resources).run()
    except ScenarioFailed as e:
        if not e.reported:
            report.check("run", False, str(e))
    except Exception as e:  # noqa: BLE001 - one broken scenario must not stop the others
        report.check("run", False, f"{type(e).__name__}: {e}")
    return report


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        report: ScenarioReport,
        env: WorkflowEnvironment,
        sandbox_url: str,
        mail_dir: Path,
        start: datetime,
    ) -> None:
        self.s = scenario
        self.start = start
        self.report = report
        self.env = env
        self.client: Client = env.client
        self.sandbox_url = sandbox_url
        self.mail_dir = mail_dir
        self.samples: dict[str, Any] = {}
        self.input: dict[str, Any] = {}
        self.code = ""
        self.procedure: CompiledProcedure | None = None
        self.members: dict[str, CompiledProcedure] = {}

    # ------------------------------------------------------------ helpers

    def render(self, value: Any, agency: str | None = None, where: str = "") -> Any:
        scope = {
            "samples": self.samples,
            "input": self.input,
            "case": {"dossier_code": self.code},
            "agency": agency,
        }
        try:
            return evaluate(value, scope)
        except ExpressionError as e:
            raise ScenarioFailed(f"{where}: {e}") from None

    def handle(self, case: str | None) -> WorkflowHandle[Any, Any]:
        workflow_id = self.code if not case else f"{self.code}.{case}"
        return self.client.get_workflow_handle(workflow_id)

    async def state(self, case: str | None) -> CaseState | None:
        try:
            state: CaseState = await self.handle(case).query(ProcedureWorkflow.state)
            return state
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def wait_state(
        self, case: str | None, ready: Callable[[CaseState], bool], what: str
    ) -> CaseState:
        deadline = asyncio.get_running_loop().time() + WAIT_TIMEOUT
        last: CaseState | None = None
        while True:
            last = await self.state(case)
            if last is not None and ready(last):
                return last
            if last is not None and last.status in TERMINAL:
                raise ScenarioFailed(f"{what}: the case ended first ({_summary(last)})")
            if asyncio.get_running_loop().time() > deadline:
                seen = _summary(last) if last is not None else "the case does not exist yet"
                raise ScenarioFailed(f"{what}: not reached within {WAIT_TIMEOUT:.0f} s ({seen})")
            await self.skip_backoff()
            await asyncio.sleep(0.05)

    async def skip_backoff(self) -> None:
        """Move the clock to the next attempt of a registry call waiting out its retry
        backoff, in the case or any of its members. Nothing else is due that soon (deadlines
        are working days away), so only the waiting is skipped, never a step."""
        cases = [self.code]
        main = await self.state(None)
        if main is not None:
            cases += [f"{self.code}.{member}" for member in main.children]
        now = await self.env.get_current_time()
        due: list[datetime] = []
        for workflow_id in cases:
            try:
                described = await self.client.get_workflow_handle(workflow_id).describe()
            except RPCError:
                continue
            for pending in described.raw_description.pending_activities:
                if pending.HasField("next_attempt_schedule_time"):
                    due.append(pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC))
                elif pending.HasField("last_failure"):
                    # Retrying inside its window; the time-skipping server does not say
                    # when the next attempt is (and under load runs many of them), so move
                    # to the end of the window: the attempts inside it still run, in order.
                    left = pending.expiration_time.ToDatetime(tzinfo=UTC) - now
                    due.append(now + max(RETRY_SKIP_STEP, left + timedelta(seconds=1)))
        soonest = min(due, default=None)
        if soonest is not None and timedelta(0) < soonest - now <= MAX_RETRY_SKIP:
            await self.env.sleep(soonest - now)

    # ------------------------------------------------------------ phases

    async def run(self) -> None:
        s = self.s
        self.report.figures["typed_fields"] = len(s.input)
        procedure_path = _procedure_path(s.procedure, Path(s.file))
        try:
            self.procedure, self.members = load_bundle(procedure_path)
        except DefinitionError as e:
            raise ScenarioFailed(f"procedure {s.procedure} does not compile:\n{e}") from None
        definition = self.procedure.definition
        self.report.procedure_id = definition.id
        if s.samples:
            count = SAMPLE_COUNT if s.samples is True else s.samples
            reply = await asyncio.to_thread(
                httpx.get, f"{self.sandbox_url}/_admin/samples?count={count}", timeout=60.0
            )
            reply.raise_for_status()
            self.samples = reply.json()
        now = await self.env.get_current_time()
        if self.start > now:
            await self.env.sleep(self.start - now)
        self.input = self.render(s.input, where="input")
        if not isinstance(self.input, dict):
            raise ScenarioFailed("input must render to a mapping")
        problems = dossier_check.check(definition.input, self.input)
        if problems:
            raise ScenarioFailed("the input does not match the procedure:\n" + "\n".join(problems))
        # Faults listed before any other step are in place when the dossier arrives: set
        # after the start, they would race the case's first registry call.
        leading = next(
            (i for i, step in enumerate(s.steps) if not isinstance(step.spec, Faults)),
            len(s.steps),
        )
        for step in s.steps[:leading]:
            await self.faults(step.spec)
        queue = f"simulate-{uuid.uuid4().hex[:12]}"
        worker = build_worker(self.client, task_queue=queue, short_lived=True)
        async with worker:
            handle = await self.start_case(worker.task_queue)
            try:
                await self.steps(first=leading)
                result = await self.result(handle)
            except BaseException:
                await _terminate(handle)
                raise
            await self.check_final(handle, result)

    async def start_case(self, task_queue: str) -> WorkflowHandle[Any, Any]:
        assert self.procedure is not None
        definition = self.procedure.definition
        prefix = dossier_codes.agency_for(definition.agency, self.input) or FALLBACK_AGENCY
        if dossier_codes.agency_problem(prefix):
            prefix = FALLBACK_AGENCY
        for _ in range(20):
            code = await asyncio.to_thread(dossier_codes.next_code, prefix, now=self.start)
            start = CaseStart(
                dossier_code=code,
                procedure=self.procedure,
                member_refs=pin_members(self.members),
                dossier=self.input,
                channel=self.s.start.channel,
                calendar=snapshot(self.start),
            )
            try:
                handle = await self.client.start_workflow(
                    ProcedureWorkflow.run,
                    start,
                    id=code,
                    task_queue=task_queue,
                    search_attributes=initial_search_attributes(code, definition.id),
                )
            except RPCError as e:
                if e.status == RPCStatusCode.ALREADY_EXISTS:
                    continue
                raise
            except Exception as e:  # WorkflowAlreadyStartedError
                if "already" in str(e).lower():
                    continue
                raise
            self.code = code
            self.report.dossier_code = code
            return handle
        raise ScenarioFailed("could not draw an unused dossier code")

    async def steps(self, first: int = 0) -> None:
        count = first
        for index, step in enumerate(self.s.steps[first:], start=first):
            where = f"steps[{index}] {step.kind} (line {step.line})"
            spec = step.spec
            if isinstance(spec, Decide):
                await self.decide(spec, where)
            elif isinstance(spec, Supplement):
                await self.supplement(spec, where)
            elif isinstance(spec, Resume):
                await self.resume(spec, where)
            elif isinstance(spec, Faults):
                await self.faults(spec)
            elif isinstance(spec, Advance):
                await self.advance(spec)
            elif isinstance(spec, StateExpect):
                await self.expect_state(spec, where)
            count += 1
            self.report.figures["steps_run"] = count
        self.report.figures.setdefault("steps_run", count)

    async def _open(self, case: str | None, step: str, waiting_for: str, where: str) -> str:
        def ready(st: CaseState) -> bool:
            return any(t.step_id == step and t.waiting_for == waiting_for for t in st.open_tasks)

        label = f"{where}: case {case or 'main'} waiting for the {waiting_for} at step '{step}'"
        state = await self.wait_state(case, ready, label)
        return next(t.agency for t in state.open_tasks if t.step_id == step)

    async def _update(
        self, case: str | None, call: Awaitable[Any], refused: str | None, where: str
    ) -> None:
        try:
            await call
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
            if refused is not None and refused in message:
                self.report.check(f"{where} refused", True, message)
                return
            raise ScenarioFailed(f"{where}: refused: {message}") from None
        if refused is not None:
            raise ScenarioFailed(f"{where}: expected a refusal containing {refused!r}")

    async def decide(self, spec: Decide, where: str) -> None:
        case = self.render(spec.case, where=where)
        step = self.render(spec.step, where=where)
        agency = await self._open(case, step, "officer", where)
        data = self.render(spec.model_dump(exclude={"case", "refused", "step"}), agency, where)
        decision = DecideInput(step_id=step, **data)
        call = self.handle(case).execute_update(ProcedureWorkflow.decide, decision)
        await self._update(case, call, spec.refused, where)

    async def supplement(self, spec: Supplement, where: str) -> None:
        case = self.render(spec.case, where=where)
        step = self.render(spec.step, where=where)
        agency = await self._open(case, step, "citizen", where)
        data = self.render(spec.model_dump(exclude={"case", "refused", "step"}), agency, where)
        call = self.handle(case).execute_update(
            ProcedureWorkflow.supplement, SupplementInput(step_id=step, **data)
        )
        await self._update(case, call, spec.refused, where)

    async def resume(self, spec: Resume, where: str) -> None:
        case = self.render(spec.case, where=where)
        step = self.render(spec.step, where=where)
        await self.wait_state(
            case,
            lambda st: any(x.step_id == step for x in st.stalls),
            f"{where}: case {case or 'main'} stalled at step '{step}'",
        )
        data = self.render(spec.model_dump(exclude={"case", "refused", "step"}), None, where)
        call = self.handle(case).execute_update(
            ProcedureWorkflow.resume, ResumeInput(step_id=step, **data)
        )
        await self._update(case, call, spec.refused, where)

    async def faults(self, spec: Faults) -> None:
        request: tuple[str, str, dict[str, Any] | None]
        if spec.clear:
            request = ("DELETE", f"{self.sandbox_url}/_admin/faults", None)
        else:
            body = spec.model_dump(exclude={"service", "clear"})
            request = ("PUT", f"{self.sandbox_url}/_admin/faults/{spec.service}", body)

        def send() -> httpx.Response:
            return httpx.request(request[0], request[1], json=request[2], timeout=30.0)

        reply = await asyncio.to_thread(send)
        if reply.status_code != 200:
            raise ScenarioFailed(
                f"the sandbox refused the fault ({reply.status_code}): {reply.text}"
            )

    async def advance(self, spec: Advance) -> None:
        now = await self.env.get_current_time()
        target = now
        if spec.working_days:
            calendar = get_calendar()
            local = calendar.local(now)
            day = local.date()
            for _ in range(spec.working_days):
                day = calendar.next_working_day(day)
            target = datetime.combine(day, local.timetz())
        target += timedelta(days=spec.days or 0, hours=spec.hours or 0, minutes=spec.minutes or 0)
        if target > now:
            await self.env.sleep(target - now)

    async def expect_state(self, spec: StateExpect, where: str) -> None:
        case = self.render(spec.case, where=where)

        def holds(st: CaseState) -> list[str]:
            wrong: list[str] = []
            if spec.status is not None and st.status.value != spec.status:
                wrong.append(f"status {st.status.value}, expected {spec.status}")
            if spec.stalled_step is not None and not any(
                x.step_id == spec.stalled_step for x in st.stalls
            ):
                wrong.append(f"step '{spec.stalled_step}' not stalled")
            tasks = [t for t in st.open_tasks if spec.open_step in (None, t.step_id)]
            if spec.open_step is not None and not tasks:
                wrong.append(f"no open task at step '{spec.open_step}'")
            if spec.waiting_for is not None and not any(
                t.waiting_for == spec.waiting_for for t in tasks
            ):
                wrong.append(f"no open task waiting for the {spec.waiting_for}")
            if spec.escalated is not None and not any(t.escalated == spec.escalated for t in tasks):
                wrong.append("open task escalated" if not spec.escalated else "no escalated task")
            if spec.due is not None:
                wrong += self.due_problems(st, spec.due.working_days)
            return wrong

        name = f"{where}: case {case or 'main'}"
        if spec.wait:
            try:
                await self.wait_state(case, lambda st: not holds(st), name)
            except ScenarioFailed:
                state = await self.state(case)
                detail = "; ".join(holds(state)) if state is not None else "no such case"
                self.report.check(name, False, detail)
                raise _Reported(f"{name}: {detail}") from None
        else:
            state = await self.state(case)
            wrong = holds(state) if state is not None else ["no such case"]
            if wrong:
                self.report.check(name, False, "; ".join(wrong))
                raise _Reported(f"{name}: {'; '.join(wrong)}")
        state = await self.state(case)
        self.report.check(name, True, _summary(state) if state is not None else "")

    def due_problems(self, state: CaseState, working_days: int) -> list[str]:
        """The case's due time against the calendar: `working_days` after its start, with
        its procedure's cut-off."""
        compiled = [self.procedure, *self.members.values()]
        definition = next(
            (c.definition for c in compiled if c and c.definition.id == state.procedure_id), None
        )
        sla = definition.sla if definition is not None else None
        cutoff = parse_hhmm(sla.cutoff) if sla is not None and sla.cutoff else None
        calendar = get_calendar()
        want = calendar.add_working_days(state.started_at, working_days, cutoff)
        if state.due_at is not None and state.due_at == want:
            return []
        got = "none" if state.due_at is None else calendar.local(state.due_at).isoformat()
        return [f"due {got}, expected {want.isoformat()} ({working_days} working days)"]

    async def result(self, handle: WorkflowHandle[Any, Any]) -> CaseResult:
        try:
            result = await asyncio.wait_for(handle.result(), timeout=RESULT_TIMEOUT)
        except TimeoutError:
            state = await self.state(None)
            seen = _summary(state) if state is not None else "unknown"
            raise ScenarioFailed(
                f"the case did not end within {RESULT_TIMEOUT:.0f} s after the last step ({seen})"
            ) from None
        except WorkflowFailureError as e:
            cause = e.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
            return CaseResult(dossier_code=self.code, status="failed", reason=message)
        if isinstance(result, CaseResult):
            return result
        return CaseResult.model_validate(result)

    # ------------------------------------------------------------ final checks

    async def check_final(self, handle: WorkflowHandle[Any, Any], result: CaseResult) -> None:
        r, e = self.report, self.s.expect
        r.status = result.status.value
        history = await handle.fetch_history()
        r.figures["history_events"] = len(history.events)
        members_events: dict[str, int] = {}
        for member in result.children:
            try:
                member_history = await self.handle(member).fetch_history()
                members_events[member] = len(member_history.events)
            except RPCError:
                members_events[member] = 0
        r.figures["member_events"] = members_events
        ended = history.events[-1].event_time.ToDatetime(tzinfo=UTC)
        calendar = get_calendar()
        days = calendar.working_days_between(self.start, ended)
        r.figures["working_days"] = days
        sla = self.procedure.definition.sla.working_days if self.procedure else None
        if sla is not None:
            r.figures["legal_deadline_working_days"] = sla
        r.figures["emails_to_sink"] = await asyncio.to_thread(self.mails)

        detail = f"{result.status.value}" + (f": {result.reason}" if result.reason else "")
        r.check("status", result.status.value == e.status, f"{detail} (expected {e.status})")
        expected_reason = self.render(e.reason, where="expect.reason")
        if expected_reason is not None:
            r.check(
                "reason",
                result.reason == expected_reason,
                f"{result.reason!r} (expected {expected_reason!r})",
            )
        if e.output is not None:
            for key, want in e.output.items():
                got = result.output.get(key)
                if isinstance(want, dict) and set(want) == {"matches"}:
                    ok = got is not None and re.search(want["matches"], str(got)) is not None
                    r.check(f"output.{key}", ok, f"{got!r} ~ /{want['matches']}/")
                else:
                    want = self.render(want, where=f"expect.output.{key}")
                    r.check(f"output.{key}", got == want, f"{got!r} (expected {want!r})")
        if e.members is not None:
            ok = result.children == e.members
            r.check("members", ok, f"{result.children} (expected {e.members})")
        if e.documents is not None:
            await asyncio.to_thread(self.check_documents, e.documents)
        if e.notifications is not None:
            await asyncio.to_thread(self.check_notifications, e.notifications)
        if e.working_days is not None:
            w = e.working_days
            ok = (
                (w.at_most is None or days <= w.at_most)
                and (w.at_least is None or days >= w.at_least)
                and (w.equals is None or days == w.equals)
            )
            bounds = ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in w.model_dump().items() if v is not None
            )
            r.check("working days", ok, f"{days} ({bounds})")

    def mails(self) -> int:
        try:
            return sum(1 for m in messages(self.mail_dir) if self.code in m.subject + m.body)
        except OSError:
            return 0

    def _declared(self, kind: str) -> dict[str, str]:
        """Declared name -> template file, over the procedure and its members."""
        out: dict[str, str] = {}
        for compiled in [self.procedure, *self.members.values()]:
            if compiled is None:
                continue
            decls = getattr(compiled.definition, kind)
            out |= {name: decl.template for name, decl in decls.items()}
        return out

    def _names(self, templates: list[str], kind: str) -> list[str]:
        """Template files back to the names the scenario may use (declared name or file)."""
        declared = self._declared(kind)
        return [next((n for n, t in declared.items() if t == tf), tf) for tf in templates]

    def _matches(self, want: str, template: str, kind: str) -> bool:
        return want == template or self._declared(kind).get(want) == template

    def check_documents(self, expected: list[str]) -> None:
        r = self.report
        with db.session() as s:
            rows = list(
                s.exec(
                    select(IssuedDocumentRow)
                    .where(
                        or_(
                            IssuedDocumentRow.dossier_code == self.code,
                            col(IssuedDocumentRow.dossier_code).startswith(f"{self.code}."),
                        )
                    )
                    .order_by(col(IssuedDocumentRow.id))
                ).all()
            )
        issued = [row.template for row in rows]
        r.figures["documents_issued"] = len(rows)
        unmatched = list(issued)
        missing = []
        for want in expected:
            hit = next((t for t in unmatched if self._matches(want, t, "documents")), None)
            if hit is None:
                missing.append(want)
            else:
                unmatched.remove(hit)
        ok = not missing and not unmatched
        shown = self._names(issued, "documents")
        r.check("documents", ok, f"{shown} (expected {expected})")
        pdftotext = shutil.which("pdftotext")
        if pdftotext is None:
            r.notes.append("pdftotext not found: the dossier code in documents was not checked")
        for row in rows:
            name = self._names([row.template], "documents")[0]
            try:
                pdf = get_store().get(row.document_ref)
            except Exception as err:  # noqa: BLE001
                r.check(f"document {name} signed", False, f"cannot read it: {err}")
                continue
            verdict = signing.verify(pdf)
            r.check(
                f"document {name} signed",
                verdict.bottom_line,
                "signature verifies"
                if verdict.bottom_line
                else f"does not verify: {verdict.error or 'intact=' + str(verdict.intact)}",
            )
            if pdftotext is not None:
                text = _pdf_text(pdftotext, pdf)
                ok = self.code in "".join(text.split())
                r.check(
                    f"document {name} names the case",
                    ok,
                    f"dossier code {'found' if ok else 'not found'} in its text",
                )

    def check_notifications(self, expected: list[str]) -> None:
        rows = [
            row
            for row in notifications.outbox()
            if row.dossier_code == self.code or row.dossier_code.startswith(f"{self.code}.")
        ]
        sent: list[str] = []
        seen: set[str] = set()
        other: list[str] = []
        for row in rows:
            if row.status != "sent":
                other.append(f"{row.template}/{row.channel}: {row.status}")
                continue
            if row.idempotency_key in seen:
                continue
            seen.add(row.idempotency_key)
            sent.append(row.template)
        self.report.figures["notifications_sent"] = len(sent)
        ok = len(sent) == len(expected) and all(
            self._matches(w, t, "notifications") for w, t in zip(expected, sent, strict=False)
        )
        detail = f"{self._names(sent, 'notifications')} (expected {expected})"
        if other:
            detail += f"; not sent: {', '.join(other)}"
        self.report.check("notifications", ok, detail)


def _pdf_text(pdftotext: str, pdf: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        done = subprocess.run(
            [pdftotext, "-enc", "UTF-8", f.name, "-"], capture_output=True, timeout=60, check=False
        )
    return done.stdout.decode("utf-8", "replace")


async def _terminate(handle: WorkflowHandle[Any, Any]) -> None:
    try:
        await handle.terminate("scenario stopped")
    except Exception:  # noqa: BLE001 - already closed, or never started
        pass


def _summary(state: CaseState) -> str:
    parts = [f"status {state.status.value}"]
    if state.open_tasks:
        tasks = ", ".join(
            f"{t.step_id} ({t.waiting_for}{', escalated' if t.escalated else ''})"
            for t in state.open_tasks
        )
        parts.append(f"open: {tasks}")
    if state.stalls:
        parts.append("stalled: " + ", ".join(f"{x.step_id} ({x.error})" for x in state.stalls))
    if state.reason:
        parts.append(f"reason: {state.reason}")
    return "; ".join(parts)


def _procedure_path(name: str, scenario_file: Path) -> Path:
    """A procedure's file from its path (from the repository root, or beside the scenario)
    or its id, looked up in the catalogue."""
    for candidate in (ROOT / name, Path(name), scenario_file.parent / name):
        if candidate.is_file():
            return candidate
    if not name.endswith((".yaml", ".yml")):
        from motcua.workflows.dsl.compile import load_catalogue

        catalogue = load_catalogue(get_settings().procedure_dir)
        if name in catalogue:
            return catalogue[name][0]
    raise ScenarioFailed(
        f"procedure not found: {name} (give its id, or its file from the repository root)"
    )


def scenario_files(paths: list[Path]) -> list[Path]:
    """Files given, and every *.yaml under folders given (sorted by path)."""
    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    return files


class SharedRun:
    """A sandbox and an SMTP sink shared by several scenarios, each run on a fresh
    time-skipping server (it starts in about 0.1 s), so no scenario inherits another's clock.

    `clock`: move each fresh server to this moment before the scenario reads it, to run
    the scenarios as if today were that day. `env`: run every scenario on this one server
    instead (its clock then moves on from one scenario to the next).
    """

    def __init__(
        self,
        env: WorkflowEnvironment | None = None,
        mail_dir: Path | None = None,
        *,
        clock: datetime | None = None,
    ) -> None:
        self.env = env
        self.clock = clock
        self.sandbox = SandboxProcess()
        self.mail_dir = mail_dir
        self._stack = ExitStack()

    async def __aenter__(self) -> SharedRun:
        if self.mail_dir is None:
            folder = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="motcua-mail-"))
            self.mail_dir = Path(folder)
            host, port = self._stack.enter_context(running_sink(self.mail_dir))
            self._stack.enter_context(_environ(MOTCUA_SMTP_HOST=host, MOTCUA_SMTP_PORT=str(port)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            self.sandbox.stop()
        finally:
            self._stack.close()

    async def run(self, path: Path) -> ScenarioReport:
        if self.env is not None:
            return await run_scenario(
                path, env=self.env, sandbox=self.sandbox, mail_dir=self.mail_dir
            )
        env = await start_test_env()
        try:
            if self.clock is not None:
                await env.sleep(self.clock - await env.get_current_time())
            return await run_scenario(path, env=env, sandbox=self.sandbox, mail_dir=self.mail_dir)
        finally:
            await env.shutdown()
