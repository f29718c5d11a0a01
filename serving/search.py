"""The service's one door to the free-text search: competencies and occupations by what a citizen types.

Everything the service asks of the search goes through :class:`Search`: the endpoints ``GET /search/competencies``
and ``GET /search/occupations`` (the site's search-as-you-type) and the cold start of an anonymous profile (its
typed ``job_title``). Another search drops in by changing this module only. Today it builds
``features.search.build_searcher`` per kind, with the query encoder that ``loopbaan train --kind encoder`` registered
(else the untuned MiniLM; :func:`models.encoder_registry.search_encoder` says which), and reads
``KindSearcher.search(query, lang=, k=)``. The hits do not say which language their label is in, so that comes from
the taxonomy (:class:`features.label_languages.LabelLanguages`).

The searchers are built once per process (:meth:`Search.warm_up`, at start-up: from the on-disk caches of the label
indexes after the first time) and are not safe for two threads at once; the service asks them one request at a
time per process, as it ranks.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from features.errors import LoopbaanError
from features.search.queries import MAX_QUERY_CHARS
from features.settings import Settings
from features.taxonomy import Taxonomy
from features.vocabulary import SEARCH_KINDS
from features.label_languages import LabelLanguages

logger = logging.getLogger(__name__)
__all__ = ["MAX_QUERY_CHARS", "Found", "Search", "SearchRefused"]


class SearchRefused(LoopbaanError):
    """A query the search cannot answer (empty, no letters or digits, too long); the message says what to type."""


@dataclass(frozen=True)
class Found:
    rank: int
    uri: str
    label: str  # the preferred label, in the asked language where the taxonomy has one
    label_lang: str
    matched_label: str  # the label (any language) that matched the query best
    score: float


class Search:
    """Competency and occupation search for the service (see the module docstring)."""

    def __init__(self, *, settings: Settings, taxonomy: Taxonomy, languages: LabelLanguages) -> None:
        self.settings = settings
        self.taxonomy = taxonomy
        self.languages = languages
        self._searchers: dict[str, object] = {}
        self._lock = threading.Lock()
        self._resolved = None  # the query encoder, resolved once for both kinds
        self.encoder: str | None = None

    def warm_up(self) -> None:
        """Build both searchers now rather than on the first query."""
        for kind in SEARCH_KINDS:
            self._searcher(kind)

    def find(self, kind: str, query: str, *, language: str, k: int) -> list[Found]:
        """The ``k`` best concepts of ``kind`` for a typed query, labelled in ``language``."""
        searcher = self._searcher(kind)
        try:
            hits = searcher.search(query, lang=language, k=k)
        except LoopbaanError as error:
            raise SearchRefused(str(error)) from None
        label_lang = self.languages.competency if kind == "competencies" else self.languages.occupation
        return [Found(rank=hit.rank, uri=hit.uri, label=hit.label, label_lang=label_lang(hit.uri, language),
                      matched_label=hit.matched_label, score=float(hit.score)) for hit in hits]

    def occupation_for(self, title: str) -> str | None:
        """The occupation a typed job title is read as (its URI), or None when nothing resembles it."""
        found = self.find("occupations", title, language="nl", k=1)
        return found[0].uri if found else None

    def _searcher(self, kind: str):
        with self._lock:
            if kind not in self._searchers:
                self._searchers[kind] = self._build(kind)
            return self._searchers[kind]

    def _build(self, kind: str):
        from features.search import build_searcher
        from features.search.fusion import ALPHA
        from models.encoder_registry import search_encoder

        if self._resolved is None:
            self._resolved = search_encoder(settings=self.settings)
            if self._resolved.note:
                logger.info("search: %s", self._resolved.note)
        resolved = self._resolved
        searcher = build_searcher(kind, taxonomy=self.taxonomy, encoder=resolved.encoder,
                              cache_dir=self.settings.cache_dir, alpha=resolved.alphas.get(kind, ALPHA))
        self.encoder = searcher.encoder_description
        return searcher
