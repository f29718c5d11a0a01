"""Typed job title → taxonomy occupation, lexically: TF-IDF over character n-grams of every Dutch and English
label (preferred and alternative), so spelling variants and gender forms ("poetser", "poetsvrouw") still meet.

This is the cold-start path for a citizen who types what they do; it is language-agnostic because it
only compares characters, which the English-only MiniLM cannot do for Dutch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from features.errors import LoopbaanError
from features.taxonomy import Taxonomy

MAX_QUERY_CHARS = 200
ERR_EMPTY_TITLE = "the job title is empty or has no letters: type what you do, e.g. 'lasser' or 'welder'"


@dataclass(frozen=True)
class TitleMatch:
    occupation: int  # position in taxonomy.occupations
    uri: str
    label: str  # the label that matched best
    score: float


def _as_list(values) -> list:
    return [] if values is None or (isinstance(values, float) and np.isnan(values)) else list(values)


def normalise(text: str) -> str:
    text = re.sub(r"[^\w]+", " ", text.lower(), flags=re.UNICODE)
    return re.sub(r"\s+", " ", text).strip()[:MAX_QUERY_CHARS]


class TitleMatcher:
    """Character n-gram TF-IDF over all occupation labels; built once per taxonomy."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        occupations = taxonomy.occupations
        labels, owners = [], []
        for position, row in enumerate(occupations.itertuples(index=False)):
            alternatives = [*_as_list(row.alt_labels_nl), *_as_list(row.alt_labels_en)]
            for label in (row.label_nl, row.label_en, *alternatives):
                if isinstance(label, str) and label.strip():
                    labels.append(label)
                    owners.append(position)
        self.taxonomy = taxonomy
        self.labels = np.array(labels, dtype=object)
        self.owners = np.array(owners, dtype=np.int64)
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                          preprocessor=normalise, dtype=np.float32)
        self.matrix = self.vectorizer.fit_transform(self.labels)

    def search(self, text: str, *, k: int = 5) -> list[TitleMatch]:
        """The ``k`` best occupations for a typed title, best first (an occupation appears once)."""
        if not normalise(text or "") or not re.search(r"\w", normalise(text)):
            raise LoopbaanError(ERR_EMPTY_TITLE)
        scores = (self.matrix @ self.vectorizer.transform([text]).T).toarray().ravel()
        order = np.argsort(-scores, kind="stable")
        matches: list[TitleMatch] = []
        seen: set[int] = set()
        for index in order:
            if scores[index] <= 0 or len(matches) == k:
                break
            occupation = int(self.owners[index])
            if occupation in seen:
                continue
            seen.add(occupation)
            matches.append(TitleMatch(occupation=occupation, uri=str(self.taxonomy.occupations["uri"].iloc[occupation]),
                                      label=str(self.labels[index]), score=float(scores[index])))
        return matches


@lru_cache(maxsize=2)
def title_matcher(taxonomy: Taxonomy) -> TitleMatcher:
    return TitleMatcher(taxonomy)
