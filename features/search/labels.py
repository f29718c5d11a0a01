"""The searchable text of a taxonomy: every preferred and alternative label, Dutch and English, per concept."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


# Where a concept's labels come from, in the order a concept's rows are kept: (language, preferred, column).
_SOURCES = (("nl", True, "label_nl"), ("en", True, "label_en"), ("nl", False, "alt_labels_nl"),
            ("en", False, "alt_labels_en"))
ERR_NOT_TEXT = "taxonomy column {column!r} of the {kind} holds values that are not text or lists of text ({reason})"


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
    """Every preferred and alternative label of every concept of ``kind``, in both languages, deduplicated.

    Per concept: Dutch preferred, English preferred, Dutch alternatives, English alternatives, each in its order; a
    label whose folded text the concept already has in that language is dropped, and labels joined by " | " (some
    Dutch alternatives) are split. Vectorised over Arrow, since a search's start-up builds this for every label.
    """
    frame = concepts_of(taxonomy, kind)
    owners, texts, sources = [], [], []
    for order, (_, _, column) in enumerate(_SOURCES):
        column_owners, column_texts = _column_texts(frame[column], column=column, kind=kind)
        owners.append(column_owners)
        texts.append(column_texts)
        sources.append(np.full(len(column_owners), order, dtype=np.int8))
    owner, source = np.concatenate(owners), np.concatenate(sources)
    text = pa.concat_arrays(texts)
    folded = _folded(text)
    row = np.lexsort((np.arange(len(owner)), source, owner))  # by concept, then source, then the label's order
    lang = np.array([lang for lang, _, _ in _SOURCES], dtype=object)[source]
    rows = pd.DataFrame({"owner": owner[row], "lang": lang[row], "folded": folded[row]})
    kept = row[(~rows.duplicated(["owner", "lang", "folded"]) & (rows["folded"] != "")).to_numpy()]
    names_en = frame["label_en"].fillna(frame["label_nl"]).fillna("").astype(str).to_numpy()
    dutch = frame["label_nl"].where(has_label(frame["label_nl"]), frame["label_en"])
    return LabelTable(kind=kind, uris=frame["uri"].astype(str).to_numpy(),
                      names_nl=dutch.fillna("").astype(str).to_numpy(), names_en=names_en,
                      texts=np.array([value.strip() for value in text.take(kept).to_pylist()], dtype=object),
                      langs=lang[kept], preferred=np.array([_SOURCES[int(value)][1] for value in source[kept]],
                                                           dtype=bool),
                      owners=owner[kept].astype(np.int64))


def _column_texts(series: pd.Series, *, column: str, kind: str) -> tuple[np.ndarray, pa.Array]:
    """The labels of a column of text or of lists of text, split at "|", with the row each came from."""
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise LoopbaanError(ERR_NOT_TEXT.format(column=column, kind=kind, reason=str(error)[:200])) from None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    owners = np.arange(len(array), dtype=np.int64)
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        owners = pc.list_parent_indices(array).to_numpy()
        array = pc.list_flatten(array)
    if pa.types.is_null(array.type):
        return np.zeros(0, dtype=np.int64), pa.array([], type=pa.string())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise LoopbaanError(ERR_NOT_TEXT.format(column=column, kind=kind, reason=f"Arrow type {array.type}"))
    parts = pc.split_pattern(array.cast(pa.string()), "|")
    owners = owners[pc.list_parent_indices(parts).to_numpy()]
    texts = pc.list_flatten(parts)
    present = pc.is_valid(texts).to_numpy(zero_copy_only=False)
    return owners[present], texts.filter(pa.array(present))


def _folded(texts: pa.Array) -> np.ndarray:
    """:func:`features.search._text.fold` of every text: in Arrow for ASCII ones (the same rule), else one by one."""
    folded = pc.utf8_trim(pc.replace_substring_regex(pc.ascii_lower(texts), "[^0-9a-z]+", " "), " ")
    folded = folded.to_numpy(zero_copy_only=False).astype(object)
    for row in np.flatnonzero(~pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)):
        folded[row] = fold(texts[int(row)].as_py())
    return folded
