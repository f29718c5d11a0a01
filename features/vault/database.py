"""Opening the vault: the engine for a database URL, the migration check, and the upgrade.

The embedded default is SQLite at ``<home>/vault.db``; ``LOOPBAAN_DATABASE_URL`` points at PostgreSQL
(``postgresql+psycopg://user@host/db``). A service opens the vault with :func:`open_engine`, which refuses a
missing vault or one at another migration with the command to run; only :func:`upgrade` (`loopbaan vault
upgrade`) creates or migrates one.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from features.reads import record_sql_reads
from features.vault.errors import ERR_NEWER_VAULT, ERR_NO_VAULT, ERR_OLD_VAULT, ERR_UNREACHABLE, VaultNotReady
from features.vault.schema import ImportRun

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE = "vault_write"  # execution option of a connection that writes (see :func:`writing`)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The migration this version of loopbaan needs."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _on_sqlite_connect(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _engine(url: str) -> Engine:
    """The engine of ``url``; every statement it runs tells the data register's guard the tables it names."""
    engine = _backend_engine(url)
    record_sql_reads(engine)
    return engine


def _backend_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _on_sqlite_connect)
        # pysqlite defers BEGIN to the first write; a writer takes the write lock at BEGIN instead (``WRITE``), so
        # that two writers queue rather than one failing half-way with "database is locked". Readers never wait.
        event.listen(engine, "connect", lambda connection, _record: setattr(connection, "isolation_level", None))
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql(
            "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN"))
        return engine
    return create_engine(url, pool_recycle=1800)


def writing(engine: Engine):
    """A transaction that writes: ``with writing(engine) as connection: ...`` commits all or nothing."""
    return engine.connect().execution_options(**{WRITE: True})


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as error:
        raise VaultNotReady(ERR_UNREACHABLE.format(url=_safe(engine.url),
                                                   reason=str(error.orig or error).splitlines()[0])) from None


def _safe(url) -> str:
    return make_url(str(url)).render_as_string(hide_password=True)


def open_engine(url: str) -> Engine:
    """The engine of an existing vault at the current migration; a clear :class:`VaultNotReady` otherwise."""
    path = _sqlite_path(url)
    if path is not None and not path.is_file():
        raise VaultNotReady(ERR_NO_VAULT.format(url=_safe(url)))
    engine = _backend_engine(url)
    found, needed = current_revision(engine), head_revision()
    if found == needed:
        record_sql_reads(engine)  # from here on: the migration check reads Alembic's bookkeeping, not data
        return engine
    engine.dispose()
    if found is None:
        raise VaultNotReady(ERR_NO_VAULT.format(url=_safe(url)))
    known = {script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}
    message = ERR_OLD_VAULT if found in known else ERR_NEWER_VAULT
    raise VaultNotReady(message.format(url=_safe(url), found=found, needed=needed))


def upgrade(url: str, *, revision: str = "head") -> tuple[str | None, str]:
    """Create the vault or migrate it to ``revision``; returns (revision before, revision after)."""
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = _engine(url)
    try:
        before = current_revision(engine)
        config = _alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return before, current_revision(engine)
    finally:
        engine.dispose()


def import_status(engine: Engine) -> dict:
    """The vault's citizens, its latest import run (finished or not) and its sign-in links."""
    run = ImportRun.__table__
    with engine.connect() as connection:
        latest = connection.execute(select(run).order_by(run.c.id.desc()).limit(1)).mappings().first()
        count = connection.execute(text("SELECT count(*) FROM citizens")).scalar_one()
        links = connection.execute(text("SELECT count(*) FROM subject_links")).scalar_one()
    return {"citizens": int(count), "import": dict(latest) if latest else None, "subject_links": int(links)}
