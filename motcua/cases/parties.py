"""Who the logged-in citizen is in a dossier: the party whose personal-id field holds their
own id, read from the procedure's definition.

- `applicant_field`: the field of the applicant's own personal id: the one the one-stop
  applicant's `pid` names, directly (`{{ input.mother_pid }}`) or through a population
  look-up (`{{ applicant.pid }}` where the look-up reads `input.applicant_pid`), else a pid
  field called `applicant_pid`.
- `parties`: the fields the applicant may be. A procedure filed by one of several people
  names them all in its one-stop applicant: a marriage's applicant is
  `{{ husband.full_name ~ ' và ' ~ wife.full_name }}`, so either the man or the woman files
  it. The parties are the pid fields the applicant's `name` and `pid` read, directly or
  through a population look-up, in the order of the input; a procedure with one names only
  `applicant_field`.
- `place`: which party the citizen is: the one they say (`as`), else the only one, else
  the one field where they typed their own id. Refused (`PartyRefused`, in Vietnamese,
  naming fields, never values): a party that is not one, their id typed in another party's
  field, someone else's id in their own, and, where it must be known, several parties with
  nothing to say which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from motcua.workflows.dsl.expressions import attribute_reads
from motcua.workflows.dsl.model import ProcedureDefinition


class PartyRefused(Exception):
    """The citizen cannot be placed in the dossier: `field` and `code` say where and why,
    `message` says it in Vietnamese (what is wrong and what to do)."""

    def __init__(self, field: str, code: str, message: str) -> None:
        self.field, self.code, self.message = field, code, message
        super().__init__(message)


def _pid_read(defn: ProcedureDefinition, name: str, attrs: tuple[str, ...]) -> str | None:
    """The pid input field that `name.attrs` reads: `input.<field>`, or any attribute of a
    population look-up whose `pid` is `input.<field>`."""

    def pid_field(field: str) -> str | None:
        spec = defn.input.get(field)
        return field if spec is not None and spec.type == "pid" else None

    if name == "input":
        return pid_field(attrs[0]) if len(attrs) == 1 else None
    for step in defn.prefill:
        if step.id == name and step.call == "population.get_citizen":
            pid = step.with_.get("pid")
            for inner, inner_attrs in attribute_reads(pid) if isinstance(pid, str) else []:
                if inner == "input" and len(inner_attrs) == 1:
                    return pid_field(inner_attrs[0])
    return None


def applicant_field(defn: ProcedureDefinition) -> str | None:
    """The input field that holds the applicant's own personal id, if the definition says."""
    if defn.one_stop is not None:
        for name, attrs in attribute_reads(defn.one_stop.applicant.pid):
            if name == "input" or attrs == ("pid",):
                found = _pid_read(defn, name, attrs)
                if found:
                    return found
    spec = defn.input.get("applicant_pid")
    return "applicant_pid" if spec is not None and spec.type == "pid" else None


def parties(defn: ProcedureDefinition) -> list[str]:
    """The pid fields the logged-in citizen may be (see the module); empty when none."""
    applicant = applicant_field(defn)
    named: set[str] = {applicant} if applicant else set()
    if defn.one_stop is not None:
        who = defn.one_stop.applicant
        for name, attrs in attribute_reads(who.name) + attribute_reads(who.pid):
            found = _pid_read(defn, name, attrs)
            if found:
                named.add(found)
    return [field for field in defn.input if field in named]


def _title(defn: ProcedureDefinition, field: str) -> str:
    spec = defn.input.get(field)
    return f"{field} ({spec.title})" if spec is not None and spec.title else field


def _choices(defn: ProcedureDefinition, among: list[str]) -> str:
    return " hoặc ".join(_title(defn, f) for f in among)


def place(
    defn: ProcedureDefinition,
    dossier: Mapping[str, Any],
    sub: str,
    chosen: str | None = None,
    *,
    must_know: bool = True,
) -> str | None:
    """The field that holds the citizen `sub`'s id in `dossier` (see the module): None when
    the procedure names no applicant, or, unless `must_know`, when nothing says which of
    several parties they are."""
    among = parties(defn)
    if chosen is not None and chosen not in among:
        raise PartyRefused(
            "as", "not_a_party",
            f"tham số as phải là một bên nộp hồ sơ {defn.title}: {_choices(defn, among)}"
            if among else f"thủ tục {defn.title} không có bên nộp hồ sơ để chọn; bỏ tham số as",
        )  # fmt: skip
    own = [field for field in among if dossier.get(field) == sub]
    if chosen is None:
        if len(among) == 1:
            chosen = among[0]
        elif len(own) == 1:
            chosen = own[0]
        elif len(own) > 1:
            raise PartyRefused(
                own[1], "several_parties",
                "số định danh cá nhân của Ông/Bà được ghi ở nhiều bên ("
                + ", ".join(own) + "); mỗi người chỉ là một bên, Ông/Bà ghi số của bên kia",
            )  # fmt: skip
        elif among and must_know:
            raise PartyRefused(
                "as", "party_unknown",
                f"thủ tục {defn.title} do một trong các bên nộp hồ sơ; Ông/Bà cho biết mình "
                f"là bên nào bằng tham số as: {_choices(defn, among)}",
            )  # fmt: skip
        else:
            return None
    for field in own:
        if field != chosen:
            raise PartyRefused(
                field, "own_id_elsewhere",
                f"Ông/Bà nộp hồ sơ với tư cách {_title(defn, chosen)} nhưng ghi số định danh "
                f"cá nhân của mình vào {field}; Ông/Bà ghi vào đây số của bên kia, hoặc "
                f"chọn as={field} nếu Ông/Bà là bên này",
            )  # fmt: skip
    if dossier.get(chosen) not in (None, sub):
        raise PartyRefused(
            chosen, "not_caller",
            "là số định danh cá nhân của người nộp hồ sơ, tức người đang đăng nhập; "
            "bỏ trống trường này",
        )  # fmt: skip
    return chosen
