"""The citizen's own choice about AI suggestions (the site's switch), merged with the population's default.

Every path that computes or serves personal suggestions reads it here: the service per request (the latest
choice), the nightly batch and the fairness assessment as of their run's start (:func:`opted_out_ids`). A
citizen who never chose keeps the population's recorded default (``citizens.ai_opt_out``).

:class:`ConsentStore` is the interface a backend gives: the latest choice per citizen, a snapshot of all choices
as of a moment, and recording a choice. :class:`JsonlConsentStore` is the file backend: each change is one JSON
line ``{time, citizen, opted_out, key}`` appended with a single ``O_APPEND`` write (so every worker of the service
can write and read it), the latest line of a citizen wins, and the citizen appears only as their pseudonym
(:func:`features.keys.pseudonym`). ``key`` names the pseudonym key that wrote the line: a line written under
another key cannot be matched to anyone, so the store refuses to be read rather than silently forget choices.
:class:`VaultConsentStore` is the database backend: the vault's ``consent_choices`` (see ``docs/vault.md``); a home
with a vault (``LOOPBAAN_DATABASE_URL``, or ``<home>/vault.db``) keeps its choices there (:func:`consent_store`). The
choices a home's file recorded before it had a vault keep holding until the citizen chooses again: of a citizen's
choices in either store, the latest one holds.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from features.errors import LoopbaanError
from features.files import append_line, read_lines
from features.keys import key_id, pseudonym, pseudonym_key
from features.population.store import PopulationStore
from features.settings import Settings

if TYPE_CHECKING:
    from features.vault import Vault

NO_CHOICE, OPTED_IN, OPTED_OUT = -1, 0, 1  # what :meth:`ConsentSnapshot.choices` gives per citizen

ERR_FOREIGN_KEY = ("the consent store {path} holds {count} choice(s) recorded under another pseudonym key (key id "
                   "{found}; the key in force has id {current}), which cannot be matched to any citizen: restore that "
                   "key (LOOPBAAN_PSEUDONYM_KEY or <home>/pseudonym.key) before serving or computing suggestions")
ERR_NOT_BOOLEAN = "a consent choice is true (no AI suggestions) or false (personalised ones), not {value!r}"


class ConsentSnapshot(Protocol):
    """All recorded choices as of one moment."""

    as_of: datetime

    def choices(self, citizen_ids: np.ndarray) -> np.ndarray:
        """Per citizen: :data:`OPTED_OUT`, :data:`OPTED_IN` or :data:`NO_CHOICE` (int8)."""


class ConsentStore(Protocol):
    """Where citizens' choices are kept (this file backend; a database backend gives the same interface)."""

    def choice(self, citizen_id: int) -> bool | None:
        """The citizen's latest recorded choice (True: opted out), or None when they never chose."""

    def snapshot(self, *, as_of: datetime) -> ConsentSnapshot:
        """Every citizen's latest choice recorded at or before ``as_of``."""

    def record(self, citizen_id: int, *, opted_out: bool) -> None:
        """Record a choice now (True: no AI suggestions)."""


@dataclass(frozen=True)
class PseudonymisedSnapshot:
    as_of: datetime
    by_pseudonym: dict[str, bool]
    key: bytes

    def choices(self, citizen_ids: np.ndarray) -> np.ndarray:
        out = np.full(len(citizen_ids), NO_CHOICE, dtype=np.int8)
        if not self.by_pseudonym:
            return out
        for index, citizen_id in enumerate(np.asarray(citizen_ids).tolist()):
            chosen = self.by_pseudonym.get(pseudonym(citizen_id, key=self.key))
            if chosen is not None:
                out[index] = OPTED_OUT if chosen else OPTED_IN
        return out


class JsonlConsentStore:
    """The append-only, pseudonymised file backend (see the module docstring)."""

    def __init__(self, path: Path, *, key: bytes) -> None:
        self.path = Path(path)
        self.key = key
        self.key_id = key_id(key)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None  # (size, mtime_ns) of the file behind ``_latest``
        self._latest: dict[str, tuple[datetime, bool]] = {}

    def choice(self, citizen_id: int) -> bool | None:
        found = self.timed_choice(citizen_id)
        return None if found is None else found[1]

    def timed_choice(self, citizen_id: int) -> tuple[datetime, bool] | None:
        """The citizen's latest choice with when it was made, or None."""
        with self._lock:
            self._refresh()
            return self._latest.get(pseudonym(citizen_id, key=self.key))

    def snapshot(self, *, as_of: datetime) -> PseudonymisedSnapshot:
        return PseudonymisedSnapshot(as_of=as_of, by_pseudonym={citizen: chosen for citizen, (_, chosen) in
                                                                self._read(as_of=as_of).items()}, key=self.key)

    def timed_snapshot(self, *, as_of: datetime) -> dict[str, tuple[datetime, bool]]:
        """Per pseudonym, the latest choice made at or before ``as_of``, with its time."""
        return self._read(as_of=as_of)

    def record(self, citizen_id: int, *, opted_out: bool) -> None:
        if not isinstance(opted_out, bool):
            raise LoopbaanError(ERR_NOT_BOOLEAN.format(value=opted_out))
        entry = {"time": datetime.now(UTC).isoformat(timespec="microseconds"),
                 "citizen": pseudonym(citizen_id, key=self.key), "opted_out": opted_out, "key": self.key_id}
        with self._lock:
            append_line(self.path, json.dumps(entry, separators=(",", ":")), durable=False, mode=0o600,
                        repair_cut_line=False)

    def check(self) -> None:
        """Raise when the store holds choices this key cannot read (see the module docstring)."""
        self._read(as_of=None)

    def _refresh(self) -> None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            self._seen, self._latest = None, {}
            return
        if self._seen != (status.st_size, status.st_mtime_ns):
            self._latest = self._read(as_of=None)
            self._seen = (status.st_size, status.st_mtime_ns)

    def _read(self, *, as_of: datetime | None) -> dict[str, tuple[datetime, bool]]:
        if not self.path.is_file():
            return {}
        choices: dict[str, tuple[datetime, bool]] = {}
        foreign: dict[str, int] = {}
        for entry in read_lines(self.path):
            written_with = entry.get("key", self.key_id)  # lines from before key ids: the (adopted) key in force
            if written_with != self.key_id:
                foreign[str(written_with)] = foreign.get(str(written_with), 0) + 1
                continue
            try:
                citizen, chosen, moment = str(entry["citizen"]), entry["opted_out"], datetime.fromisoformat(entry["time"])
            except (KeyError, TypeError, ValueError):
                continue
            if not isinstance(chosen, bool):
                continue
            if as_of is None or moment <= as_of:
                choices[citizen] = (moment, chosen)
        if foreign:
            found = ", ".join(sorted(foreign))
            raise LoopbaanError(ERR_FOREIGN_KEY.format(path=self.path, count=sum(foreign.values()), found=found,
                                                       current=self.key_id))
        return choices


def _utc(moment: datetime) -> datetime:
    """SQLite gives back the UTC time it stored without its zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class MergedSnapshot:
    """The vault's choices by citizen and the file's (from before the vault) by pseudonym; the later one holds."""

    as_of: datetime
    by_citizen: dict[int, tuple[datetime, bool]]
    by_pseudonym: dict[str, tuple[datetime, bool]]
    key: bytes

    def choices(self, citizen_ids: np.ndarray) -> np.ndarray:
        out = np.full(len(citizen_ids), NO_CHOICE, dtype=np.int8)
        for index, citizen_id in enumerate(np.asarray(citizen_ids).tolist()):
            found = self.by_citizen.get(int(citizen_id))
            if self.by_pseudonym:
                older = self.by_pseudonym.get(pseudonym(citizen_id, key=self.key))
                if older is not None and (found is None or older[0] > found[0]):
                    found = older
            if found is not None:
                out[index] = OPTED_OUT if found[1] else OPTED_IN
        return out


class VaultConsentStore:
    """Choices in the vault's ``consent_choices`` (each one a row; the latest holds), written through
    :meth:`features.vault.Vault.record_consent`; ``legacy``: the home's file of choices from before the vault."""

    def __init__(self, vault: Vault, *, legacy: JsonlConsentStore | None = None) -> None:
        self.vault = vault
        self.legacy = legacy

    def choice(self, citizen_id: int) -> bool | None:
        from sqlalchemy import select

        from features.vault.schema import ConsentChoice

        table = ConsentChoice.__table__
        with self.vault.engine.connect() as connection:
            row = connection.execute(select(table.c.chosen_at, table.c.opted_out).where(
                table.c.citizen_id == int(citizen_id)).order_by(table.c.id.desc()).limit(1)).first()
        found = None if row is None else (_utc(row[0]), bool(row[1]))
        older = self.legacy.timed_choice(citizen_id) if self.legacy is not None else None
        if older is not None and (found is None or older[0] > found[0]):
            found = older
        return None if found is None else found[1]

    def snapshot(self, *, as_of: datetime) -> MergedSnapshot:
        from sqlalchemy import select

        from features.vault.schema import ConsentChoice

        table = ConsentChoice.__table__
        moment = _utc(as_of)
        by_citizen: dict[int, tuple[datetime, bool]] = {}
        with self.vault.engine.connect() as connection:
            for citizen_id, chosen_at, opted_out in connection.execute(select(
                    table.c.citizen_id, table.c.chosen_at, table.c.opted_out).order_by(table.c.id)):
                when = _utc(chosen_at)
                if when <= moment:
                    by_citizen[int(citizen_id)] = (when, bool(opted_out))
        legacy = self.legacy.timed_snapshot(as_of=moment) if self.legacy is not None else {}
        return MergedSnapshot(as_of=as_of, by_citizen=by_citizen, by_pseudonym=legacy,
                              key=self.legacy.key if self.legacy is not None else b"")

    def record(self, citizen_id: int, *, opted_out: bool) -> None:
        if not isinstance(opted_out, bool):
            raise LoopbaanError(ERR_NOT_BOOLEAN.format(value=opted_out))
        self.vault.record_consent(citizen_id=int(citizen_id), opted_out=opted_out)

    def check(self) -> None:
        """Raise when the file of choices from before the vault holds choices this key cannot read."""
        if self.legacy is not None:
            self.legacy.check()

    def defaults(self) -> pd.Series:
        """The imported AI choice per citizen of the vault (citizen id → True when opted out)."""
        from sqlalchemy import select

        from features.vault.schema import Citizen

        with self.vault.engine.connect() as connection:
            rows = connection.execute(select(Citizen.citizen_id, Citizen.ai_opt_out)).all()
        return pd.Series([bool(row[1]) for row in rows], index=np.array([row[0] for row in rows], dtype=np.int64),
                         dtype=bool)


def has_vault(settings: Settings) -> bool:
    """Whether the settings name a vault: ``LOOPBAAN_DATABASE_URL``, or an SQLite vault in the home."""
    return settings.database_url is not None or (settings.home / "vault.db").is_file()


def consent_store(settings: Settings) -> ConsentStore:
    """The consent store of the settings' home, keyed with the pseudonym key: the vault's when the home has one (a
    vault that cannot be opened raises :class:`~features.vault.errors.VaultNotReady`, it is never skipped), else
    the file."""
    legacy = JsonlConsentStore(settings.consent_log, key=pseudonym_key(settings))
    if not has_vault(settings):
        return legacy
    from features.imported_labels import home_taxonomy
    from features.vault import Vault

    return VaultConsentStore(Vault.open(url=settings.vault_url, taxonomy=home_taxonomy(settings),
                                        pseudonym_key=legacy.key),
                             legacy=legacy)


def population_defaults(population: PopulationStore) -> pd.Series:
    """The population's recorded AI choice per citizen (citizen id → True when opted out)."""
    table = population.table("citizens", columns=["citizen_id", "ai_opt_out"])
    return pd.Series(table["ai_opt_out"].to_numpy().astype(bool), index=table["citizen_id"].to_numpy().astype(np.int64))


def merged(choices: np.ndarray, defaults: np.ndarray) -> np.ndarray:
    """Opted out or not, per citizen: the recorded choice where there is one, else the default."""
    choices = np.asarray(choices)
    return np.where(choices == NO_CHOICE, np.asarray(defaults, dtype=bool), choices == OPTED_OUT)


class Consent:
    """A citizen's AI choice as every path must read it: their latest recorded choice, else the population's."""

    def __init__(self, *, store: ConsentStore, defaults: pd.Series) -> None:
        self.store = store
        self.defaults = defaults

    @classmethod
    def of(cls, settings: Settings, population: PopulationStore) -> Consent:
        return cls(store=consent_store(settings), defaults=population_defaults(population))

    def known(self, citizen_id: int) -> bool:
        return int(citizen_id) in self.defaults.index

    def opted_out(self, citizen_id: int | None) -> bool:
        if citizen_id is None:
            return False
        chosen = self.store.choice(int(citizen_id))
        return bool(self.defaults.get(int(citizen_id), False)) if chosen is None else chosen

    def opted_out_mask(self, *, as_of: datetime) -> pd.Series:
        """Every citizen of the population (id → opted out) as of ``as_of``."""
        ids = self.defaults.index.to_numpy()
        choices = self.store.snapshot(as_of=as_of).choices(ids)
        return pd.Series(merged(choices, self.defaults.to_numpy()), index=self.defaults.index)


def opted_out_ids(settings: Settings, population_store: PopulationStore, as_of: datetime) -> np.ndarray:
    """The ids (sorted) of the citizens who had no AI suggestions as of ``as_of``: their recorded choice merged with
    the population's default. The batch and the fairness assessment leave these citizens out."""
    mask = Consent.of(settings, population_store).opted_out_mask(as_of=as_of)
    return np.sort(mask.index.to_numpy()[mask.to_numpy()])
