"""Every table as the models declared them when migrations began.

Revision ID: 0001
Revises: none
Created: 2026-12-02 06:14:51.680788
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citizen_submission",
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("request_mac", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("procedure_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("trying_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("typed_fields", sa.Integer(), nullable=True),
        sa.Column("form_opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("owner", "idempotency_key"),
    )
    with op.batch_alter_table("citizen_submission", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_citizen_submission_dossier_code"), ["dossier_code"], unique=True
        )

    op.create_table(
        "dossier_rating",
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("procedure_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code"),
    )
    with op.batch_alter_table("dossier_rating", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dossier_rating_owner"), ["owner"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dossier_rating_procedure_id"), ["procedure_id"], unique=False
        )

    op.create_table(
        "dossier_sequence",
        sa.Column("agency", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("agency", "day"),
    )
    op.create_table(
        "issued_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("verification_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("document_ref", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("sign_as", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("verification_url", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("issued_document", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issued_document_dossier_code"), ["dossier_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_issued_document_verification_code"), ["verification_code"], unique=False
        )

    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resends", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key", "channel", name="uq_outbox_key_channel"),
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_outbox_dossier_code"), ["dossier_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notification_outbox_idempotency_key"), ["idempotency_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_notification_outbox_status"), ["status"], unique=False)

    op.create_table(
        "open_dossier",
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_table(
        "published_definition",
        sa.Column("procedure_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("published_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("procedure_id", "version"),
        sa.UniqueConstraint("procedure_id", "hash", name="uq_published_content"),
    )
    op.create_table(
        "register_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("entry_no", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("void_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("book", "entry_no", name="uq_register_book_entry_no"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("register_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_register_entry_book"), ["book"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_register_entry_dossier_code"), ["dossier_code"], unique=False
        )

    op.create_table(
        "rm_decision",
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("agency", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "n"),
    )
    with op.batch_alter_table("rm_decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rm_decision_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_rm_decision_agency"), ["agency"], unique=False)

    op.create_table(
        "rm_dossier",
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("procedure_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("procedure_version", sa.Integer(), nullable=False),
        sa.Column("definition_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("parent", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("agency", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("received_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code"),
    )
    with op.batch_alter_table("rm_dossier", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rm_dossier_agency"), ["agency"], unique=False)
        batch_op.create_index(batch_op.f("ix_rm_dossier_parent"), ["parent"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_rm_dossier_procedure_id"), ["procedure_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rm_dossier_received_by"), ["received_by"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_rm_dossier_status"), ["status"], unique=False)

    op.create_table(
        "rm_stall",
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("activity", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("skippable", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "step_id"),
    )
    with op.batch_alter_table("rm_stall", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rm_stall_activity"), ["activity"], unique=False)

    op.create_table(
        "rm_task",
        sa.Column("dossier_code", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("procedure_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("agency", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("waiting_for", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actions", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("case_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("escalate_to", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("assignee", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint("dossier_code", "n"),
    )
    with op.batch_alter_table("rm_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rm_task_assignee"), ["assignee"], unique=False)
        batch_op.create_index("ix_rm_task_inbox", ["agency", "is_open", "due_at"], unique=False)
        batch_op.create_index("ix_rm_task_overdue", ["is_open", "case_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rm_task", schema=None) as batch_op:
        batch_op.drop_index("ix_rm_task_overdue")
        batch_op.drop_index("ix_rm_task_inbox")
        batch_op.drop_index(batch_op.f("ix_rm_task_assignee"))

    op.drop_table("rm_task")
    with op.batch_alter_table("rm_stall", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rm_stall_activity"))

    op.drop_table("rm_stall")
    with op.batch_alter_table("rm_dossier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rm_dossier_status"))
        batch_op.drop_index(batch_op.f("ix_rm_dossier_received_by"))
        batch_op.drop_index(batch_op.f("ix_rm_dossier_procedure_id"))
        batch_op.drop_index(batch_op.f("ix_rm_dossier_parent"))
        batch_op.drop_index(batch_op.f("ix_rm_dossier_agency"))

    op.drop_table("rm_dossier")
    with op.batch_alter_table("rm_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rm_decision_agency"))
        batch_op.drop_index(batch_op.f("ix_rm_decision_actor"))

    op.drop_table("rm_decision")
    with op.batch_alter_table("register_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_register_entry_dossier_code"))
        batch_op.drop_index(batch_op.f("ix_register_entry_book"))

    op.drop_table("register_entry")
    op.drop_table("published_definition")
    op.drop_table("open_dossier")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_notification_outbox_idempotency_key"))
        batch_op.drop_index(batch_op.f("ix_notification_outbox_dossier_code"))

    op.drop_table("notification_outbox")
    with op.batch_alter_table("issued_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_document_verification_code"))
        batch_op.drop_index(batch_op.f("ix_issued_document_dossier_code"))

    op.drop_table("issued_document")
    op.drop_table("dossier_sequence")
    with op.batch_alter_table("dossier_rating", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_rating_procedure_id"))
        batch_op.drop_index(batch_op.f("ix_dossier_rating_owner"))

    op.drop_table("dossier_rating")
    with op.batch_alter_table("citizen_submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_citizen_submission_dossier_code"))

    op.drop_table("citizen_submission")
