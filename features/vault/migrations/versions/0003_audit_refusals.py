"""Keep why a request was refused in its audit line: a sign-in refusal's reason (``expired``, ``wrong_audience``,
…, :data:`serving.oidc.REASONS`) and who called for a partner's call.

Nothing else changes; the lines already written keep an empty reason. The trail stays append-only (0001's rules
name no column, so they cover the new ones).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_trail", sa.Column("refusal", sa.String(32), nullable=True))
    op.add_column("audit_trail", sa.Column("partner", sa.String(100), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in both (SQLite 3.35 or later): a batch copy of the table would lose its triggers
    op.drop_column("audit_trail", "partner")
    op.drop_column("audit_trail", "refusal")
