"""Which citizens an assessment may look at, and which of them may only judge.

- **Held out**: every citizen of the population snapshot whom the version never learnt from, by id, as the
  version's lineage record says (:mod:`models.lineage`: its training and validation citizens and, for a
  mitigated version, the citizens its setting was tuned on). A new snapshot that shares citizens with the one
  a model was trained on still leaves those citizens out. Citizens who switched AI suggestions off are left
  out too: nothing is computed for them.
- **Tuning / judging**: the held-out citizens are split once by a seeded rule that the policy names and every
  assessment stores: a citizen belongs to the tuning part when the first 8 bytes of SHA-256("<salt>:<id>"),
  read as a fraction of 2⁶⁴, fall below ``tuning_share``. The rule depends on the id alone, so a citizen stays
  in the same part on every snapshot. The mitigation may look at tuning citizens only; every verdict is computed
  on judging citizens only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from features.errors import LoopbaanError

TUNING, JUDGING = "tuning", "judging"
PARTS = (TUNING, JUDGING)
ERR_NO_HELDOUT = ("no citizen of {folder} is held out from version {version} (it learnt from all {population:,} of "
                  "them, or they opted out of AI suggestions): assess it on a population with new citizens")
ERR_EMPTY_PART = ("the {part} part of the held-out citizens is empty ({heldout:,} held out, tuning share "
                  "{share:g}): assess on a larger population or change the policy's holdout.tuning_share")


@dataclass(frozen=True)
class HoldoutRule:
    salt: str
    tuning_share: float

    def tuning_mask(self, citizen_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(citizen_ids, dtype=np.int64)
        limit = int(self.tuning_share * 2 ** 64)
        values = [int.from_bytes(hashlib.sha256(f"{self.salt}:{int(citizen)}".encode()).digest()[:8], "big")
                  for citizen in ids]
        return np.fromiter((value < limit for value in values), dtype=bool, count=len(ids))

    def to_dict(self) -> dict:
        return {"method": "sha256(salt:citizen_id)[:8] / 2^64 < tuning_share", "salt": self.salt,
                "tuning_share": self.tuning_share}


@dataclass(frozen=True)
class Holdout:
    """The held-out citizens of one assessment, split into its two parts (sorted ids each)."""

    rule: HoldoutRule
    parts: dict[str, np.ndarray]
    seen: int  # citizens of the snapshot the version learnt from
    opted_out: int  # held-out citizens left out because they switched AI suggestions off

    @property
    def heldout(self) -> int:
        return sum(len(ids) for ids in self.parts.values())

    def part_of(self, citizen_ids: np.ndarray) -> np.ndarray:
        """TUNING, JUDGING or "" (not held out) per citizen id."""
        ids = np.asarray(citizen_ids)
        out = np.full(len(ids), "", dtype=object)
        for name, members in self.parts.items():
            out[np.isin(ids, members)] = name
        return out

    def facts(self) -> dict:
        return {"rule": self.rule.to_dict(), "heldout_citizens": self.heldout, "seen_citizens": self.seen,
                "opted_out_citizens": self.opted_out,
                **{f"{name}_citizens": len(ids) for name, ids in self.parts.items()}}


def split_holdout(*, population: np.ndarray, seen: np.ndarray, opted_out: np.ndarray, rule: HoldoutRule,
                  folder: str, version: str, required: tuple[str, ...] = PARTS) -> Holdout:
    """The held-out citizens of ``population`` (ids), without ``seen`` and ``opted_out``, in their two parts
    (each part in ``required`` must hold someone)."""
    population = np.unique(np.asarray(population, dtype=np.int64))
    known = np.isin(population, seen)
    refused = np.isin(population, opted_out) & ~known
    heldout = population[~known & ~refused]
    if not len(heldout):
        raise LoopbaanError(ERR_NO_HELDOUT.format(folder=folder, version=version, population=len(population)))
    tuning = rule.tuning_mask(heldout)
    parts = {TUNING: heldout[tuning], JUDGING: heldout[~tuning]}
    for name in required:
        if not len(parts[name]):
            raise LoopbaanError(ERR_EMPTY_PART.format(part=name, heldout=len(heldout), share=rule.tuning_share))
    return Holdout(rule=rule, parts=parts, seen=int(known.sum()), opted_out=int(refused.sum()))
