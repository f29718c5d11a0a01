"""Create the vault: citizens, career records, competency evidence, consent, feedback, the audit trail, import runs.

The audit trail is append-only in the database itself: triggers refuse every UPDATE and DELETE (and, in
PostgreSQL, TRUNCATE), whoever asks.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_RECORD_TYPES = "record_type IN ('work_period', 'diploma', 'training', 'assessment', 'competency')"
_PROVIDERS = "provided_by IN ('authentic', 'partner', 'guidance', 'self-declared')"
_KINDS = "kind IN ('jobs', 'trainings', 'careers')"
_REASONS = "reason IN ('too_far', 'not_interested', 'tried_before', 'cannot_meet_requirement', 'other')"
APPEND_ONLY = "the audit trail is append-only: an audit line can be neither changed nor removed"


def _citizen() -> sa.Column:
    return sa.Column("citizen_id", sa.BigInteger(), sa.ForeignKey("citizens.citizen_id", ondelete="CASCADE"),
                     nullable=False)


def upgrade() -> None:
    op.create_table("vault_meta", sa.Column("key", sa.String(64), primary_key=True),
                    sa.Column("value", sa.Text(), nullable=False))
    op.create_table(
        "import_runs", sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("population", sa.String(64), nullable=False), sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("citizens_total", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "citizens", sa.Column("citizen_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("municipality", sa.String(100), nullable=False), sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False), sa.Column("education", sa.String(20), nullable=False),
        sa.Column("dutch_level", sa.SmallInteger(), nullable=False),
        sa.Column("driving_licence", sa.Boolean(), nullable=False),
        sa.Column("care_duties", sa.Boolean(), nullable=False),
        sa.Column("prefers_part_time", sa.Boolean(), nullable=False),
        sa.Column("max_commute_km", sa.Float(), nullable=False), sa.Column("status", sa.String(20), nullable=False),
        sa.Column("ai_opt_out", sa.Boolean(), nullable=False), sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("import_run", sa.Integer(), sa.ForeignKey("import_runs.id"), nullable=True))
    op.create_table(
        "career_records", sa.Column("id", _ID, primary_key=True, autoincrement=True), _citizen(),
        sa.Column("record_type", sa.String(16), nullable=False),
        sa.Column("provided_by", sa.String(16), nullable=False),
        sa.Column("record_date", sa.Date(), nullable=False), sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("period_no", sa.SmallInteger(), nullable=True),
        sa.Column("occupation_uri", sa.String(200), nullable=True),
        sa.Column("part_time", sa.Boolean(), nullable=True), sa.Column("employer_id", sa.BigInteger(), nullable=True),
        sa.Column("diploma_id", sa.BigInteger(), nullable=True), sa.Column("level", sa.String(20), nullable=True),
        sa.Column("training_id", sa.BigInteger(), nullable=True),
        sa.Column("assessment_id", sa.BigInteger(), nullable=True),
        sa.Column("competency_uri", sa.String(200), nullable=True),
        sa.Column("proficiency", sa.SmallInteger(), nullable=True),
        sa.Column("test_name", sa.String(200), nullable=True), sa.Column("entry_key", sa.String(300), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_RECORD_TYPES, name="ck_career_records_type"),
        sa.CheckConstraint(_PROVIDERS, name="ck_career_records_provided_by"))
    op.create_index("ix_career_records_citizen", "career_records", ["citizen_id", "id"])
    op.create_index("ux_career_records_entry", "career_records", ["citizen_id", "entry_key"], unique=True)
    op.create_table(
        "competency_evidence", sa.Column("id", _ID, primary_key=True, autoincrement=True), _citizen(),
        sa.Column("competency_uri", sa.String(200), nullable=False), sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(200), nullable=False),
        sa.Column("evidence_date", sa.Date(), nullable=False),
        sa.Column("proficiency", sa.SmallInteger(), nullable=True),
        sa.Column("record_id", sa.BigInteger(), sa.ForeignKey("career_records.id", ondelete="CASCADE"),
                  nullable=True))
    op.create_index("ix_competency_evidence_citizen", "competency_evidence", ["citizen_id", "id"])
    op.create_index("ix_competency_evidence_record_id", "competency_evidence", ["record_id"])
    op.create_table(
        "consent_choices", sa.Column("id", _ID, primary_key=True, autoincrement=True), _citizen(),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False))
    op.create_index("ix_consent_choices_citizen", "consent_choices", ["citizen_id", "id"])
    op.create_table(
        "feedback", sa.Column("id", _ID, primary_key=True, autoincrement=True), _citizen(),
        sa.Column("kind", sa.String(16), nullable=False), sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False), sa.Column("note", sa.String(500), nullable=True),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_KINDS, name="ck_feedback_kind"), sa.CheckConstraint(_REASONS, name="ck_feedback_reason"))
    op.create_index("ux_feedback_item", "feedback", ["citizen_id", "kind", "item_id"], unique=True)
    op.create_table(
        "audit_trail", sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True), sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=True), sa.Column("citizen", sa.String(64), nullable=True),
        sa.Column("models", sa.Text(), nullable=False), sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("personalised", sa.Boolean(), nullable=False), sa.Column("status", sa.SmallInteger(), nullable=False))
    _append_only("audit_trail")


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$""")
        op.execute(f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                       FOR EACH ROW EXECUTE FUNCTION {table}_append_only()""")
        op.execute(f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                       FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()""")
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"""CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
                       BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""")


def downgrade() -> None:
    for table in ("audit_trail", "feedback", "consent_choices", "competency_evidence", "career_records", "citizens",
                  "import_runs", "vault_meta"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_trail_append_only()")
