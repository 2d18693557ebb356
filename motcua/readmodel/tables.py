"""The projected tables: one row per case, per task hand-off, per decision, per stall.

No personal data: codes, procedures, agencies, roles, officers' ids and times. What a
citizen typed stays in the case's (encrypted) history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, SQLModel


def _moment(nullable: bool = True) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable)


class DossierView(SQLModel, table=True):
    __tablename__ = "rm_dossier"

    dossier_code: str = Field(primary_key=True, max_length=200)
    procedure_id: str = Field(index=True, max_length=200)
    procedure_version: int
    definition_hash: str = Field(max_length=64)
    parent: str | None = Field(default=None, index=True, max_length=200)
    channel: str = Field(max_length=100)
    status: str = Field(index=True, max_length=32)
    agency: str | None = Field(default=None, index=True, max_length=200)
    received_by: str | None = Field(default=None, index=True, max_length=200)
    started_at: datetime = Field(sa_column=_moment(False))
    due_at: datetime | None = Field(default=None, sa_column=_moment())
    closed_at: datetime | None = Field(default=None, sa_column=_moment())
    reason: str | None = None
    revision: int = Field(description="The case's projection this row shows")


class TaskView(SQLModel, table=True):
    """A hand-off: to an officer (a task) or back to the citizen (a supplement)."""

    __tablename__ = "rm_task"
    __table_args__ = (
        Index("ix_rm_task_inbox", "agency", "is_open", "due_at"),
        Index("ix_rm_task_overdue", "is_open", "case_due_at"),
    )

    dossier_code: str = Field(primary_key=True, max_length=200)
    n: int = Field(primary_key=True, description="Its place among the case's hand-offs")
    procedure_id: str = Field(max_length=200)
    step_id: str = Field(max_length=200)
    role: str = Field(max_length=100)
    agency: str = Field(max_length=200)
    waiting_for: str = Field(max_length=16)
    actions: str = Field(default="", description="Comma-separated, while open")
    is_open: bool
    opened_at: datetime = Field(sa_column=_moment(False))
    due_at: datetime | None = Field(default=None, sa_column=_moment())
    case_due_at: datetime | None = Field(default=None, sa_column=_moment())
    escalated: bool = False
    escalate_to: str | None = Field(default=None, max_length=100)
    closed_at: datetime | None = Field(default=None, sa_column=_moment())
    action: str | None = Field(default=None, max_length=100)
    actor: str | None = Field(default=None, max_length=200)
    assignee: str | None = Field(default=None, index=True, max_length=200)


class DecisionView(SQLModel, table=True):
    __tablename__ = "rm_decision"

    dossier_code: str = Field(primary_key=True, max_length=200)
    n: int = Field(primary_key=True)
    step_id: str = Field(max_length=200)
    action: str = Field(max_length=100)
    role: str = Field(max_length=100)
    agency: str = Field(index=True, max_length=200)
    actor: str = Field(index=True, max_length=200)
    at: datetime = Field(sa_column=_moment(False))


class StallView(SQLModel, table=True):
    __tablename__ = "rm_stall"

    dossier_code: str = Field(primary_key=True, max_length=200)
    step_id: str = Field(primary_key=True, max_length=200)
    activity: str = Field(index=True, max_length=200)
    error: str
    attempts: int
    since: datetime = Field(sa_column=_moment(False))
    skippable: bool = False


PROJECTED = (DossierView, TaskView, DecisionView, StallView)
