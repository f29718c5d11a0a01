"""Rules the database itself enforces on the vault's records, whoever sends the statement: the migrations create
them with these functions (the statements of PostgreSQL and SQLite differ).

- :func:`create_append_only`: a table whose rows can be neither changed nor removed (every ``UPDATE`` and
  ``DELETE`` refused, and in PostgreSQL ``TRUNCATE``);
- :func:`create_set_once`: a table whose rows can be removed (with their citizen) but whose columns never change,
  except one that may be set once, from empty to a value.

Migration 0002 calls these, so a change to one changes what 0002 creates in a new vault: change one only in a way
that keeps what it created (a new rule is a new function). Migration 0001 keeps its own statements for the audit
trail, as it shipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def create_append_only(execute: Callable[[str], object], *, dialect: str, table: str, message: str) -> None:
    """Refuse every change and removal of a row of ``table`` with ``message`` (no quote in it)."""
    if dialect == "postgresql":
        execute(f"""CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION '{message}'; END $$""")
        execute(f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION {table}_append_only()""")
        execute(f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                    FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()""")
        return
    for action in ("UPDATE", "DELETE"):
        execute(f"""CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
                    BEGIN SELECT RAISE(ABORT, '{message}'); END""")


def create_set_once(execute: Callable[[str], object], *, dialect: str, table: str, fixed: Sequence[str],
                    once: str, message: str) -> None:
    """Refuse an ``UPDATE`` of ``table`` that names a column of ``fixed``, or that changes ``once`` after it was set.

    Both databases fire an ``UPDATE OF columns`` trigger when the statement's ``SET`` names one of the columns, so
    ``fixed`` must list every column but ``once``.
    """
    columns = ", ".join(fixed)
    if dialect == "postgresql":
        execute(f"""CREATE FUNCTION {table}_set_once() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION '{message}'; END $$""")
        execute(f"""CREATE TRIGGER {table}_fixed BEFORE UPDATE OF {columns} ON {table}
                    FOR EACH ROW EXECUTE FUNCTION {table}_set_once()""")
        execute(f"""CREATE TRIGGER {table}_{once}_once BEFORE UPDATE OF {once} ON {table}
                    FOR EACH ROW WHEN (OLD.{once} IS NOT NULL) EXECUTE FUNCTION {table}_set_once()""")
        return
    execute(f"""CREATE TRIGGER {table}_fixed BEFORE UPDATE OF {columns} ON {table}
                BEGIN SELECT RAISE(ABORT, '{message}'); END""")
    execute(f"""CREATE TRIGGER {table}_{once}_once BEFORE UPDATE OF {once} ON {table}
                WHEN OLD.{once} IS NOT NULL BEGIN SELECT RAISE(ABORT, '{message}'); END""")


def drop_functions(execute: Callable[[str], object], *, dialect: str, names: Sequence[str]) -> None:
    """Drop the trigger functions of PostgreSQL (its triggers go with their table; SQLite has no functions)."""
    if dialect == "postgresql":
        for name in names:
            execute(f"DROP FUNCTION IF EXISTS {name}()")
