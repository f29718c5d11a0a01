"""Alembic environment of the vault: runs on the connection that :func:`features.vault.database.upgrade` passes."""

from __future__ import annotations

from alembic import context

from features.vault.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
