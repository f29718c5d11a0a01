"""Add the pseudonymous sign-in links, the citizens' shares with partners and the record of every partner access.

Nothing of 0001 changes: its tables and rows stay as they are. The access records are append-only in the database
(every UPDATE and DELETE refused, and in PostgreSQL TRUNCATE); a share's decision never changes (only its
revocation is set, once).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from features.vault.triggers import create_append_only, create_set_once, drop_functions

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PARTNER_KINDS = "partner_kind IN ('employer', 'hr_intermediary', 'training_provider')"
_PURPOSES = ("purpose IN ('apply_for_vacancy', 'job_mediation', 'career_guidance', 'training_enrolment', "
             "'recognition_of_competencies')")
_CHANNELS = "contact_channel IS NULL OR contact_channel IN ('email', 'phone', 'via_service')"
_OUTCOMES = ("outcome IN ('disclosed', 'expired', 'not_yet_valid', 'other_partner', 'part_not_granted', "
             "'revoked')")
ACCESSES_APPEND_ONLY = ("the record of partner accesses is append-only: an access can be neither changed nor "
                        "removed")
SHARE_FIXED = ("a share is a decision of its citizen and never changes: only its revocation is recorded, once "
               "(make a new share instead)")
_SHARE_FIXED_COLUMNS = ("grant_id", "citizen_id", "partner_id", "partner_kind", "parts", "purpose", "purpose_text",
                        "vacancy_id", "starts_at", "ends_at", "pseudonymised", "pseudonym", "contact_channel",
                        "contact_name", "contact_address", "contact_note", "created_at")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "subject_links", sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("issuer", sa.String(255), nullable=False), sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("citizen_id", sa.BigInteger(), sa.ForeignKey("citizens.citizen_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False))
    op.create_index("ux_subject_links_subject", "subject_links", ["issuer", "subject"], unique=True)
    op.create_index("ix_subject_links_citizen", "subject_links", ["citizen_id"])
    op.create_table(
        "shares", sa.Column("grant_id", sa.String(64), primary_key=True),
        sa.Column("citizen_id", sa.BigInteger(), sa.ForeignKey("citizens.citizen_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("partner_id", sa.String(100), nullable=False),
        sa.Column("partner_kind", sa.String(32), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False), sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("purpose_text", sa.String(500), nullable=False),
        sa.Column("vacancy_id", sa.BigInteger(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pseudonymised", sa.Boolean(), nullable=False), sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("contact_channel", sa.String(16), nullable=True),
        sa.Column("contact_name", sa.String(100), nullable=True),
        sa.Column("contact_address", sa.String(254), nullable=True),
        sa.Column("contact_note", sa.String(300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_PARTNER_KINDS, name="ck_shares_partner_kind"),
        sa.CheckConstraint(_PURPOSES, name="ck_shares_purpose"),
        sa.CheckConstraint(_CHANNELS, name="ck_shares_contact_channel"),
        sa.CheckConstraint("ends_at > starts_at", name="ck_shares_period"))
    op.create_index("ix_shares_citizen", "shares", ["citizen_id", "created_at"])
    op.create_index("ix_shares_ends_at", "shares", ["ends_at"])
    op.create_index("ux_shares_pseudonym", "shares", ["pseudonym"], unique=True)
    op.create_table(
        "share_accesses", sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("grant_id", sa.String(64), sa.ForeignKey("shares.grant_id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("partner_id", sa.String(100), nullable=False),
        sa.Column("partner_kind", sa.String(32), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False), sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False), sa.Column("pseudonymised", sa.Boolean(), nullable=False),
        sa.CheckConstraint(_OUTCOMES, name="ck_share_accesses_outcome"))
    op.create_index("ix_share_accesses_grant", "share_accesses", ["grant_id", "id"])
    create_append_only(op.execute, dialect=dialect, table="share_accesses", message=ACCESSES_APPEND_ONLY)
    create_set_once(op.execute, dialect=dialect, table="shares", fixed=_SHARE_FIXED_COLUMNS, once="revoked_at",
                    message=SHARE_FIXED)


def downgrade() -> None:
    for table in ("share_accesses", "shares", "subject_links"):
        op.drop_table(table)
    drop_functions(op.execute, dialect=op.get_bind().dialect.name,
                   names=["share_accesses_append_only", "shares_set_once"])
