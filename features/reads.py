"""Which processing is running, and which tables it reads: what keeps the data register from drifting.

A processing runs inside :func:`read_scope` (through :func:`features.register.processing`, which knows the tables
each processing declares). Every store calls :func:`record_read` with the table it hands out — the population
snapshot's ``PopulationStore.table`` with the table's name, the vault ``vault.<table>`` for every table a statement
names (:func:`record_sql_reads` on its engine) — and the scope notes it. A strict scope raises
:class:`UndeclaredRead` at the first table its processing does not declare; a lenient one only notes, so a whole
run can be inventoried. Outside any scope nothing is noted.

The scope lives in a context variable: it follows the code into ``asyncio`` tasks and into threads started with a
copied context, not into other processes (a Dask worker opens its own scope).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

ERR_UNDECLARED = ("the processing {processing!r} read {tables}, which the data register does not declare for it: "
                  "add {them} to its `reads` in features/register.py (and say what each holds in TABLE_CATEGORIES), "
                  "or do not read {them} in this processing")


class UndeclaredRead(RuntimeError):
    """A processing read a table its register entry does not declare: a bug in the code, never the user's input.

    Not a LoopbaanError on purpose: no fallback that catches those (an unreadable batch, a missing model) may
    swallow it.
    """


def undeclared_message(processing: str, tables: set[str] | frozenset[str]) -> str:
    names = ", ".join(repr(table) for table in sorted(tables))
    plural = len(tables) > 1
    return ERR_UNDECLARED.format(processing=processing, tables=("the tables " if plural else "the table ") + names,
                                 them="them" if plural else "it")


@dataclass
class ReadScope:
    """One run of a processing: the tables it declares and the tables it read so far."""

    processing: str
    declared: frozenset[str]
    strict: bool
    read: set[str] = field(default_factory=set)

    @property
    def undeclared(self) -> frozenset[str]:
        """Tables read that the processing does not declare (must stay empty)."""
        return frozenset(self.read - self.declared)

    @property
    def unread(self) -> frozenset[str]:
        """Tables declared that this run did not read (a run may not need every one)."""
        return self.declared - frozenset(self.read)


_ACTIVE: ContextVar[ReadScope | None] = ContextVar("loopbaan_processing", default=None)


@contextmanager
def read_scope(processing: str, *, declared: frozenset[str], strict: bool) -> Iterator[ReadScope]:
    """Note the reads of ``processing`` until the block ends; an inner scope holds its reads, the outer resumes."""
    scope = ReadScope(processing=processing, declared=frozenset(declared), strict=strict)
    token = _ACTIVE.set(scope)
    try:
        yield scope
    finally:
        _ACTIVE.reset(token)


def active_scope() -> ReadScope | None:
    """The scope of the processing running here, if any."""
    return _ACTIVE.get()


def record_read(table: str) -> None:
    """Note that the running processing reads ``table``; in a strict scope, refuse a table it does not declare."""
    scope = _ACTIVE.get()
    if scope is None:
        return
    scope.read.add(table)
    if scope.strict and table not in scope.declared:
        raise UndeclaredRead(undeclared_message(scope.processing, {table}))


def record_sql_reads(engine: Any, *, prefix: str = "vault.") -> None:
    """Note, for every statement ``engine`` runs (Core or ORM), each table it names as ``<prefix><table>``.

    One call where the vault builds its engine. Read and written tables alike count: a processing that writes a
    table handles its data too. Plain ``text()`` SQL names no table object and is not noted.
    """
    from sqlalchemy import Table, event
    from sqlalchemy.sql import ClauseElement, visitors

    def note(connection, statement, *args) -> None:
        if _ACTIVE.get() is None or not isinstance(statement, ClauseElement):
            return
        for table in sorted({element.name for element in visitors.iterate(statement) if isinstance(element, Table)}):
            record_read(prefix + table)

    event.listen(engine, "before_execute", note)
