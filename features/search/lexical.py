"""The lexical matcher: TF-IDF over character n-grams and gender forms of every label, best label per concept.

Character 3- to 5-grams of the folded text make spelling variants, compounds and typos meet
("schoonmaakster" and "schoonmaker" share most of their n-grams); each word's gender forms
(see :func:`features.search._text.gender_forms`) let "poetsman" find "poetsvrouw" outright.
It compares characters only, so it is language-agnostic, but it cannot cross languages.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse

from features.embedding_cache import readable_paths
from features.files import staged_folder
from features.search._text import fold, gender_forms, gender_variants
from features.search.labels import LabelTable

NGRAMS = (3, 4, 5)
WORD_PREFIX = "\x00"
CANDIDATE_LABELS = 256  # label rows kept per query before folding them into concepts
ANALYSER_VERSION = "ngrams-3-5+gender-forms-2"  # 2: the cache holds the folded labels too
PREFERRED_TIE = 1e-3  # on (near) ties a preferred label outranks an alternative: "lasser" is the welder's own name
GENDER_FORM = 0.995  # the score of a label that is the query in its other gender form


def analyse(text: str) -> list[str]:
    """The features of a text: character n-grams of each padded word and the word's gender forms."""
    features: list[str] = []
    for word in fold(text).split():
        padded = f" {word} "
        for size in NGRAMS:
            features.extend(padded[start:start + size] for start in range(len(padded) - size + 1))
        features.extend(WORD_PREFIX + form for form in gender_forms(word))
    return features


class LexicalIndex:
    """Character n-gram TF-IDF over the label rows of a :class:`LabelTable`, following scikit-learn's contract.

    ``fit`` learns the vocabulary and inverse document frequencies and builds the index; ``search_many``
    returns, per query, the best concepts with the score of their best-matching label (cosine, 0..1).
    A fitted index keeps its term frequencies (``frequencies_``) so :meth:`restricted` can drop labels cheaply;
    one read from the disk cache cannot.
    """

    def fit(self, table: LabelTable) -> LexicalIndex:
        counts = [Counter(analyse(text)) for text in table.texts]
        vocabulary: dict[str, int] = {}
        for counter in counts:
            for feature in counter:
                vocabulary.setdefault(feature, len(vocabulary))
        rows, cols, values = [], [], []
        for row, counter in enumerate(counts):
            for feature, count in counter.items():
                rows.append(row)
                cols.append(vocabulary[feature])
                values.append(1.0 + np.log(count))
        frequencies = sparse.csr_matrix((np.array(values, dtype=np.float32), (rows, cols)),
                                        shape=(len(counts), len(vocabulary)))
        return self._build(table, frequencies, vocabulary)

    def restricted(self, keep: np.ndarray) -> LexicalIndex:
        """A new index of only the label rows where ``keep`` is true, as if fitted on them alone (the document
        frequencies are recounted; features that only the dropped labels had are unknown to it)."""
        if self.frequencies_ is None:
            raise ValueError("an index read from the cache has no term frequencies; fit one to restrict it")
        return LexicalIndex()._build(self.table_.subset(keep), self.frequencies_[np.flatnonzero(keep)],
                                     self.vocabulary_)

    def _build(self, table: LabelTable, frequencies: sparse.csr_matrix, vocabulary: dict[str, int]) -> LexicalIndex:
        document_frequency = np.bincount(frequencies.indices, minlength=frequencies.shape[1])
        idf = np.log((1 + frequencies.shape[0]) / (1 + document_frequency)) + 1.0
        self.idf_ = np.where(document_frequency > 0, idf, 0.0).astype(np.float32)  # 0: an unknown feature
        self.vocabulary_ = vocabulary
        self.table_ = table
        self.frequencies_ = frequencies
        self.folded_ = None
        self.folded_texts_ = None
        self.index_ = _l2_rows(frequencies @ sparse.diags(self.idf_)).T.tocsr()  # features × labels
        return self

    def query_matrix(self, queries: list[str]) -> sparse.csr_matrix:
        """Queries as L2-normalised TF-IDF rows over the fitted vocabulary (unknown features are dropped)."""
        rows, cols, values = [], [], []
        for row, query in enumerate(queries):
            counter = Counter(feature for feature in analyse(query)
                              if feature in self.vocabulary_ and self.idf_[self.vocabulary_[feature]] > 0)
            for feature, count in counter.items():
                column = self.vocabulary_[feature]
                rows.append(row)
                cols.append(column)
                values.append((1.0 + np.log(count)) * self.idf_[column])
        matrix = sparse.csr_matrix((np.array(values, dtype=np.float32), (rows, cols)),
                                   shape=(len(queries), len(self.vocabulary_)))
        return _l2_rows(matrix)

    def search_many(self, queries: list[str], *, k: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per query: concept positions, scores and the matching label rows of the ``k`` best concepts.

        A label that is the query in its other gender form ("poetsvrouw" for "poetsman") scores ``GENDER_FORM``,
        just below an identical label, whatever their n-grams share.
        """
        scores = (self.query_matrix(queries) @ self.index_).tocsr()
        out = []
        for i, query in enumerate(queries):
            rows = scores.indices[scores.indptr[i]:scores.indptr[i + 1]]
            values = scores.data[scores.indptr[i]:scores.indptr[i + 1]]
            rows, values = self._with_gender_forms(query, rows, values)
            out.append(_best_concepts(rows, values, self.table_, k))
        return out

    def _with_gender_forms(self, query: str, rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        variants = gender_variants(query)[1:]
        if not variants:
            return rows, values
        folded = self.folded_rows()
        matches = np.array(sorted({row for variant in variants for row in folded.get(fold(variant), ())}),
                           dtype=rows.dtype)
        if not len(matches):
            return rows, values
        values = values.copy()
        present = np.isin(rows, matches)
        values[present] = np.maximum(values[present], GENDER_FORM)
        missing = matches[~np.isin(matches, rows)]
        return np.concatenate([rows, missing]), np.concatenate([values, np.full(len(missing), GENDER_FORM,
                                                                                dtype=values.dtype)])

    def search(self, query: str, *, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.search_many([query], k=k)[0]

    def folded_rows(self) -> dict[str, list[int]]:
        """The label rows per folded label text (built on first use, or read from the cache with the index)."""
        if getattr(self, "folded_", None) is None:
            texts = getattr(self, "folded_texts_", None) or [fold(text) for text in self.table_.texts.tolist()]
            self.folded_ = _rows_by_text(texts)
        return self.folded_


def cached_lexical_index(table: LabelTable, *, cache_dir: Path | None) -> LexicalIndex:
    """A fitted :class:`LexicalIndex` for ``table``, read from ``cache_dir`` when the same labels were indexed."""
    if cache_dir is None:
        return LexicalIndex().fit(table)
    digest = hashlib.sha256("\x1f".join([ANALYSER_VERSION, *map(str, table.texts)]).encode()).hexdigest()[:20]
    folders = readable_paths(cache_dir, Path("search") / f"{table.kind}-lexical-{digest}")
    for folder in folders:
        try:
            return _load(folder, table)
        except (OSError, ValueError, KeyError):
            pass  # absent or damaged: fit and write it again
    index = LexicalIndex().fit(table)
    index.frequencies_ = None  # only restricting needs them; a served index answers queries
    try:
        _save(index, folders[0])
    except OSError:
        pass  # a read-only cache only costs the next run the same work
    return index


def _save(index: LexicalIndex, folder: Path) -> None:
    with staged_folder(folder, durable=False, replace=False) as partial:  # another process may write it first
        vocabulary = sorted(index.vocabulary_, key=index.vocabulary_.__getitem__)
        (partial / "vocabulary.json").write_text(json.dumps(vocabulary), encoding="utf-8")
        np.save(partial / "idf.npy", index.idf_)
        sparse.save_npz(partial / "index.npz", index.index_, compressed=False)
        folded = [""] * len(index.table_.texts)
        for text, rows in index.folded_rows().items():
            for row in rows:
                folded[row] = text
        (partial / "folded.json").write_text(json.dumps(folded), encoding="utf-8")


def _load(folder: Path, table: LabelTable) -> LexicalIndex:
    vocabulary = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
    index = LexicalIndex()
    index.vocabulary_ = {feature: column for column, feature in enumerate(vocabulary)}
    index.idf_ = np.load(folder / "idf.npy")
    index.index_ = sparse.csr_matrix(sparse.load_npz(folder / "index.npz"), dtype=np.float32)
    index.frequencies_ = None
    folded = json.loads((folder / "folded.json").read_text(encoding="utf-8"))
    if (index.index_.shape != (len(vocabulary), len(table.texts)) or len(index.idf_) != len(vocabulary)
            or len(folded) != len(table.texts)):
        raise ValueError("the cached lexical index does not match its labels")
    index.table_ = table
    index.folded_texts_ = folded  # grouped into rows per text at the first gender form asked (a tenth of a second)
    return index


def _rows_by_text(texts: list[str]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for row, text in enumerate(texts):
        rows.setdefault(text, []).append(row)
    return rows


def _l2_rows(matrix: sparse.spmatrix) -> sparse.csr_matrix:
    matrix = sparse.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix, dtype=np.float32)


def best_per_concept(rows: np.ndarray, scores: np.ndarray, table: LabelTable,
                     k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` best concepts among scored label rows: concepts, their best label's score, that label's row."""
    # Equal scores go to the lower concept, so that the order does not depend on how the rows were gathered.
    order = np.lexsort((table.owners[rows], -(scores + PREFERRED_TIE * table.preferred[rows])))
    concepts = table.owners[rows[order]]
    _, first = np.unique(concepts, return_index=True)
    first = np.sort(first)[:k]
    return concepts[first], scores[order][first], rows[order][first]


def _best_concepts(rows: np.ndarray, scores: np.ndarray, table: LabelTable,
                   k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = scores > 0
    rows, scores = rows[keep], scores[keep]
    limit = max(CANDIDATE_LABELS, 8 * k)
    while True:
        if len(scores) > limit:
            top = np.argpartition(-scores, limit)[:limit]
            found = best_per_concept(rows[top], scores[top], table, k)
        else:
            found = best_per_concept(rows, scores, table, k)
        if len(found[0]) >= k or len(scores) <= limit:
            return found
        limit *= 4
