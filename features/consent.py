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
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.errors import LoopbaanError
from features.jsonlines import append_line, read_lines
from features.keys import key_id, pseudonym, pseudonym_key
from features.population.store import PopulationStore
from features.settings import Settings

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
        self._latest: dict[str, bool] = {}

    def choice(self, citizen_id: int) -> bool | None:
        with self._lock:
            self._refresh()
            return self._latest.get(pseudonym(citizen_id, key=self.key))

    def snapshot(self, *, as_of: datetime) -> PseudonymisedSnapshot:
        return PseudonymisedSnapshot(as_of=as_of, by_pseudonym=self._read(as_of=as_of), key=self.key)

    def record(self, citizen_id: int, *, opted_out: bool) -> None:
        if not isinstance(opted_out, bool):
            raise LoopbaanError(ERR_NOT_BOOLEAN.format(value=opted_out))
        entry = {"time": datetime.now(UTC).isoformat(timespec="microseconds"),
                 "citizen": pseudonym(citizen_id, key=self.key), "opted_out": opted_out, "key": self.key_id}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            append_line(self.path, entry)

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

    def _read(self, *, as_of: datetime | None) -> dict[str, bool]:
        if not self.path.is_file():
            return {}
        choices: dict[str, bool] = {}
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
                choices[citizen] = chosen
        if foreign:
            found = ", ".join(sorted(foreign))
            raise LoopbaanError(ERR_FOREIGN_KEY.format(path=self.path, count=sum(foreign.values()), found=found,
                                                       current=self.key_id))
        return choices


def consent_store(settings: Settings) -> JsonlConsentStore:
    """The consent store of the settings' home, keyed with the pseudonym key."""
    return JsonlConsentStore(settings.consent_log, key=pseudonym_key(settings))


def population_defaults(population: PopulationStore) -> pd.Series:
    """The population's recorded AI choice per citizen (citizen id → True when opted out)."""
    table = pq.read_table(Path(population.folder) / "citizens.parquet", columns=["citizen_id", "ai_opt_out"])
    return pd.Series(table["ai_opt_out"].to_numpy(zero_copy_only=False).astype(bool),
                     index=table["citizen_id"].to_numpy().astype(np.int64))


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
