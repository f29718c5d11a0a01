"""The service's vault: opened once per process, shared by the service core and the audit middleware, checked at start.

The service reads and writes citizens' data through the vault (``docs/vault.md``); the population snapshot is only
where its catalogues, outcomes and the consent default come from. It starts only on a vault that is at this
version's migration (:class:`~features.vault.errors.VaultNotReady` otherwise) and holds the whole population of the
snapshot it serves: an import that never ran or did not finish, or citizens of another population, stop the start
with the command to run. Nothing here migrates or imports.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from features.errors import LoopbaanError
from features.imported_labels import home_taxonomy
from features.keys import key_id, pseudonym_key
from features.population.store import PopulationStore
from features.settings import Settings
from features.vault import RecordCatalogue, Vault

ERR_NOT_IMPORTED = "the vault at {url} holds no citizens yet: run `loopbaan vault import`, then start the service again"
ERR_UNFINISHED = ("the last import into the vault at {url} did not finish: run `loopbaan vault import` again to "
                  "complete it, then start the service again")
ERR_OTHER_POPULATION = ("the vault at {url} holds the citizens of another population than the snapshot at {folder}: "
                        "point LOOPBAAN_DATABASE_URL at the vault imported from it (or import it into a new vault)")

_lock = threading.Lock()
_opened: dict[tuple[str, str, str], Vault] = {}


def check_imported(engine: Engine, store: PopulationStore) -> int:
    """Refuse a vault whose import is missing, unfinished, or of another population than ``store``; returns how
    many citizens it holds."""
    from features.vault.database import import_status
    from features.vault.importer import population_identity

    url = engine.url.render_as_string(hide_password=True)
    found = import_status(engine)
    run = found["import"]
    if run is None:
        raise LoopbaanError(ERR_NOT_IMPORTED.format(url=url))
    if run["finished_at"] is None:
        raise LoopbaanError(ERR_UNFINISHED.format(url=url))
    if run["population"] != population_identity(store):
        raise LoopbaanError(ERR_OTHER_POPULATION.format(url=url, folder=store.folder))
    return int(found["citizens"])


def service_vault(settings: Settings, *, store: PopulationStore | None = None) -> Vault:
    """The process's vault for these settings (opened and checked on first use)."""
    key = pseudonym_key(settings)
    identity = (settings.vault_url, str(settings.population_dir), key_id(key))
    with _lock:
        if identity not in _opened:
            store = store or PopulationStore(settings.population_dir)
            vault = Vault.open(url=settings.vault_url, taxonomy=home_taxonomy(settings), pseudonym_key=key,
                               catalogue=RecordCatalogue.of(store))
            try:
                check_imported(vault.engine, store)
            except LoopbaanError:
                vault.close()
                raise
            _opened[identity] = vault
        return _opened[identity]
