"""Vault fixtures: a vault per backend (SQLite file, and a database on a throwaway PostgreSQL cluster) holding the
small population, imported once per session and copied for every test that uses it."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import pg

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
KEY = b"test-pseudonym-key"


@pytest.fixture(scope="session")
def pg_cluster():
    reason = pg.unavailable()
    if reason:
        pytest.skip(reason)
    try:
        cluster = pg.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"PostgreSQL could not be started here: {error}")
    yield cluster
    cluster.stop()


def _new_url(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{(folder / f'vault-{uuid.uuid4().hex[:8]}.db').as_posix()}"
    return request.getfixturevalue("pg_cluster").database()


@pytest.fixture(params=BACKENDS)
def empty_vault_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A vault at the current migration, with nothing in it."""
    from features.vault.database import upgrade

    url = _new_url(request.param, request, tmp_path)
    upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a vault could be, before `loopbaan vault upgrade` (an SQLite path, an empty PostgreSQL database)."""
    return _new_url(request.param, request, tmp_path)


@pytest.fixture(scope="session", params=BACKENDS)
def vault_template(request: pytest.FixtureRequest, small_population_dir: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Callable[[], str]:
    """The small population imported once per backend; calling it gives the URL of a fresh copy."""
    from features.population import PopulationStore
    from features.vault.database import open_engine, upgrade
    from features.vault.importer import import_population

    folder = tmp_path_factory.mktemp("vault-template")
    url = _new_url(request.param, request, folder)
    upgrade(url)
    engine = open_engine(url)
    import_population(engine=engine, store=PopulationStore(small_population_dir), batch_size=400, progress=False)
    engine.dispose()
    if request.param == "sqlite":
        source = Path(url.removeprefix("sqlite:///"))

        def copy() -> str:
            target = folder / f"copy-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(source, target)
            return f"sqlite:///{target.as_posix()}"
        return copy
    cluster = request.getfixturevalue("pg_cluster")
    template = url.rsplit("/", 1)[1]

    def clone() -> str:
        import psycopg

        name = f"vault_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/{name}"
    return clone


@pytest.fixture
def vault_url(vault_template: Callable[[], str]) -> str:
    return vault_template()


@pytest.fixture
def vault(vault_url: str, small_population_dir: Path):
    """A :class:`~features.vault.Vault` on a fresh copy of the imported small population, with its catalogues."""
    from features.esco import load_esco
    from features.population import PopulationStore
    from features.vault import RecordCatalogue, Vault

    opened = Vault.open(url=vault_url, taxonomy=load_esco(), pseudonym_key=KEY,
                        catalogue=RecordCatalogue.of(PopulationStore(small_population_dir)))
    yield opened
    opened.close()
