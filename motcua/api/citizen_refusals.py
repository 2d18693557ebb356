"""How the citizen API refuses what a citizen sent, in Vietnamese: which party they are
(motcua.cases.parties), the dossier's fields (motcua.cases.problems), a supplement the
case refused, a free text, and a case that could not start. Refusals about fields are
`Refused` with `problems`, one per field (motcua.api.errors)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException

from motcua.api import submissions
from motcua.api.errors import Refused
from motcua.cases import offering, problems, starting
from motcua.cases.parties import PartyRefused, place
from motcua.workflows.contracts import CaseState
from motcua.workflows.dsl import dossier as dossier_check
from motcua.workflows.dsl.model import ProcedureDefinition

log = logging.getLogger(__name__)
PREFILLED = (
    "đã được điền sẵn từ cơ sở dữ liệu, không sửa được; Ông/Bà bỏ trường này khỏi hồ sơ "
    "hoặc để nguyên giá trị điền sẵn"
)


def _refused(found: list[problems.Problem], lead: str = "hồ sơ chưa hợp lệ") -> Refused:
    return Refused(422, problems.summary(found, lead), found)


def placed(
    defn: ProcedureDefinition,
    dossier: dict[str, Any],
    sub: str,
    chosen: str | None,
    *,
    must_know: bool,
) -> str | None:
    """The field for the caller's id (motcua.cases.parties.place), or a 422."""
    try:
        return place(defn, dossier, sub, chosen, must_know=must_know)
    except PartyRefused as e:
        known = problems.titles(defn.input)
        raise _refused([problems.problem(e.field, e.code, e.message, known)]) from None


def prefilled_changed(defn: ProcedureDefinition, changed: list[str]) -> Refused:
    """Fields the registries filled, sent with other values."""
    known = problems.titles(defn.input)
    return _refused([problems.problem(n, "prefilled", PREFILLED, known) for n in changed])


def start_refused(e: starting.StartRefused, owner: str, defn: ProcedureDefinition) -> HTTPException:
    """A case that could not start (motcua.cases.starting), for the citizen `owner`."""
    if isinstance(e, starting.InvalidDossier):
        return _refused(problems.explain(e.problems, problems.titles(defn.input)))
    if isinstance(e, starting.NoAgency | starting.BadAgency):
        return HTTPException(
            422,
            "không xác định được cơ quan tiếp nhận từ dữ liệu dân cư của hồ sơ "
            "(nơi cư trú không có trong cơ sở dữ liệu)",
        )
    if isinstance(e, starting.SubjectOpen):
        code = e.dossier_code
        mine = code is not None and submissions.owned(owner, code) is not None
        where = f"hồ sơ {code}" if mine else "một hồ sơ khác"
        return HTTPException(
            409, f"việc này đã có {where} đang được giải quyết; không nộp lại hồ sơ trùng"
        )
    log.warning("a case could not start: %s", type(e).__name__)
    return HTTPException(409, "hệ thống chưa nhận được hồ sơ cho thủ tục này; vui lòng thử lại sau")


def supplement_refused(message: str, case: CaseState) -> Refused:
    """The case's refusal of a supplement: 409 when it was not waiting for one, else 422."""
    found = offering.offered().get(case.procedure_id)
    known = problems.titles(found[1].input) if found else {}
    conflict, said = problems.supplement_refusal(message, known)
    return Refused(
        409 if conflict else 422, problems.summary(said, "không gửi được hồ sơ bổ sung"), said
    )


def clean_text(field: str, title: str, value: str) -> None:
    """A free text the citizen wrote (a note, a comment), checked as a dossier's text."""
    problem = dossier_check.text_problem(value, multiline=True)
    if problem:
        found = problems.explain([f"{field}: {problem}"], {field: title})
        raise _refused(found, "nội dung chưa hợp lệ")
