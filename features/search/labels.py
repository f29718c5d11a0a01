"""The searchable text of a taxonomy: every preferred and alternative label, Dutch and English, per concept."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import LoopbaanError
from features.search._text import fold
from features.taxonomy import Taxonomy, has_label
from features.vocabulary import SEARCH_KINDS, Language, SearchKind

ERR_UNKNOWN_SEARCH_KIND = "unknown search kind {kind!r}: choose one of " + ", ".join(SEARCH_KINDS)


def check_kind(kind: str) -> SearchKind:
    if kind not in SEARCH_KINDS:
        raise LoopbaanError(ERR_UNKNOWN_SEARCH_KIND.format(kind=kind))
    return kind  # type: ignore[return-value]


def concepts_of(taxonomy: Taxonomy, kind: SearchKind) -> pd.DataFrame:
    """The taxonomy table of ``kind`` (occupations or competencies)."""
    return taxonomy.occupations if check_kind(kind) == "occupations" else taxonomy.competencies


def _texts(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    values = [value] if isinstance(value, str) else [text for text in value if isinstance(text, str)]
    # some Dutch alternative labels hold several labels joined by " | "
    return [part for text in values for part in text.split("|")]


@dataclass(frozen=True, eq=False)
class LabelTable:
    """One row per distinct (concept, label): the unit both matchers index.

    Attributes
    ----------
    kind : {"occupations", "competencies"}
    uris, names_nl, names_en : numpy.ndarray
        Per concept (taxonomy row order): id and preferred label in each language (English where Dutch is missing).
    texts, langs, preferred : numpy.ndarray
        Per label row: the label, its language (``"nl"``/``"en"``) and whether it is a preferred label.
    owners : numpy.ndarray
        Per label row: the position of its concept; rows are grouped by concept, in concept order.
    """

    kind: SearchKind
    uris: np.ndarray
    names_nl: np.ndarray
    names_en: np.ndarray
    texts: np.ndarray
    langs: np.ndarray
    preferred: np.ndarray
    owners: np.ndarray

    @property
    def n_concepts(self) -> int:
        return len(self.uris)

    def names(self, lang: Language) -> np.ndarray:
        return self.names_nl if lang == "nl" else self.names_en

    def subset(self, keep: np.ndarray) -> LabelTable:
        """The same concepts with only the label rows where ``keep`` is true."""
        return LabelTable(kind=self.kind, uris=self.uris, names_nl=self.names_nl, names_en=self.names_en,
                          texts=self.texts[keep], langs=self.langs[keep], preferred=self.preferred[keep],
                          owners=self.owners[keep])

    def without_dutch(self, concepts: Iterable[int], *, keep_preferred: bool = False) -> LabelTable:
        """This table minus the Dutch labels of ``concepts`` (all, or only the alternatives); English labels stay."""
        hidden = self._mask(concepts)[self.owners] & (self.langs == "nl")
        if keep_preferred:
            hidden &= ~self.preferred
        return self.subset(~hidden)

    def dutch_labels(self, concepts: Iterable[int], *,
                     alternatives_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The Dutch labels of ``concepts`` (preferred and alternative, or alternatives only): texts and owners."""
        rows = self._mask(concepts)[self.owners] & (self.langs == "nl")
        if alternatives_only:
            rows &= ~self.preferred
        return self.texts[rows], self.owners[rows]

    def _mask(self, concepts: Iterable[int]) -> np.ndarray:
        mask = np.zeros(self.n_concepts, dtype=bool)
        mask[np.fromiter(concepts, dtype=np.int64)] = True
        return mask


def label_table(taxonomy: Taxonomy, kind: SearchKind) -> LabelTable:
    """Every preferred and alternative label of every concept of ``kind``, in both languages, deduplicated."""
    frame = concepts_of(taxonomy, kind)
    texts, langs, preferred, owners = [], [], [], []
    for position, row in enumerate(frame[["label_nl", "label_en", "alt_labels_nl", "alt_labels_en"]]
                                   .itertuples(index=False)):
        seen: set[tuple[str, str]] = set()
        for lang, is_preferred, values in (("nl", True, row.label_nl), ("en", True, row.label_en),
                                           ("nl", False, row.alt_labels_nl), ("en", False, row.alt_labels_en)):
            for text in _texts(values):
                key = (lang, fold(text))
                if not key[1] or key in seen:
                    continue
                seen.add(key)
                texts.append(text.strip())
                langs.append(lang)
                preferred.append(is_preferred)
                owners.append(position)
    names_en = frame["label_en"].fillna(frame["label_nl"]).fillna("").astype(str).to_numpy()
    dutch = frame["label_nl"].where(has_label(frame["label_nl"]), frame["label_en"])
    return LabelTable(kind=kind, uris=frame["uri"].astype(str).to_numpy(),
                      names_nl=dutch.fillna("").astype(str).to_numpy(), names_en=names_en,
                      texts=np.array(texts, dtype=object), langs=np.array(langs, dtype=object),
                      preferred=np.array(preferred, dtype=bool), owners=np.array(owners, dtype=np.int64))
