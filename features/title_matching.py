"""Typed job title → taxonomy occupation, lexically, for :func:`features.citizens.cold_start_context`.

A thin view on the search's :class:`features.search.LexicalIndex` (character n-grams and gender forms over every
Dutch and English label, preferred and alternative; read from the search's cache), so spelling variants and gender
forms ("poetsvrouw", "poetsman") meet. It needs no encoder. The service reads typed titles through the full hybrid
search instead (:mod:`serving.search`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from features.errors import LoopbaanError
from features.search import cached_lexical_index, label_table
from features.search._text import fold
from features.settings import Settings
from features.taxonomy import Taxonomy

MAX_QUERY_CHARS = 200
ERR_EMPTY_TITLE = "the job title is empty or has no letters: type what you do, e.g. 'lasser' or 'welder'"


@dataclass(frozen=True)
class TitleMatch:
    occupation: int  # position in taxonomy.occupations
    uri: str
    label: str  # the label that matched best
    score: float


def normalise(text: str) -> str:
    """The folded title (lower case, no accents or punctuation), at most ``MAX_QUERY_CHARS`` long."""
    return fold(text)[:MAX_QUERY_CHARS]


class TitleMatcher:
    """The lexical occupation matcher; built once per taxonomy."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.table = label_table(taxonomy, "occupations")
        self.index = cached_lexical_index(self.table, cache_dir=Settings().cache_dir)

    def search(self, text: str, *, k: int = 5) -> list[TitleMatch]:
        """The ``k`` best occupations for a typed title, best first (an occupation appears once)."""
        title = normalise(text or "")
        if not title:
            raise LoopbaanError(ERR_EMPTY_TITLE)
        concepts, scores, rows = self.index.search(title, k=k)
        return [TitleMatch(occupation=int(concept), uri=str(self.table.uris[concept]), label=str(self.table.texts[row]),
                           score=float(score)) for concept, score, row in zip(concepts, scores, rows, strict=True)]


@lru_cache(maxsize=2)
def title_matcher(taxonomy: Taxonomy) -> TitleMatcher:
    return TitleMatcher(taxonomy)
