"""What ``loopbaan taxonomy prepare`` computes once per install, so that no home embeds the bundled taxonomy again.

For each search kind its lexical index (with the folded labels) and its concept vectors; for matching the competency
embeddings. Written into a cache folder (default: the install's ``Settings.prepared_cache``), which
:func:`features.embedding_cache.readable_paths` reads after a home's own cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from features.errors import LoopbaanError
from features.minilm import competency_embeddings
from features.search.encoders import base_encoder
from features.search.labels import label_table
from features.search.lexical import cached_lexical_index
from features.search.semantic import concept_vectors
from features.taxonomy import Taxonomy
from features.vocabulary import SEARCH_KINDS

ERR_NOT_WRITABLE = ("the cache folder {folder} cannot be written ({reason}): pass --cache with a folder you may "
                    "write, or run it as the owner of the install")


def prepare(taxonomy: Taxonomy, *, cache_dir: Path, progress: bool = True,
            say: Callable[[str], None] = lambda line: None) -> dict[str, float]:
    """Fill ``cache_dir`` with every entry a new home would otherwise compute; returns the seconds per entry
    (near zero for those already there)."""
    try:  # a cache that cannot be written would be computed in full and thrown away
        cache_dir.mkdir(parents=True, exist_ok=True)
        probe = cache_dir / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise LoopbaanError(ERR_NOT_WRITABLE.format(folder=cache_dir, reason=error.strerror or error)) from None
    seconds: dict[str, float] = {}

    def timed(name: str, work: Callable[[], object]) -> None:
        started = time.perf_counter()
        work()
        seconds[name] = time.perf_counter() - started
        say(f"{name}: ready in {seconds[name]:.1f} s")

    encoder = base_encoder()
    for kind in SEARCH_KINDS:
        table = label_table(taxonomy, kind)
        timed(f"{kind} lexical index", lambda: cached_lexical_index(table, cache_dir=cache_dir))
        timed(f"{kind} concept vectors", lambda: concept_vectors(table, document_encoder=encoder,
                                                                 cache_dir=cache_dir, progress=progress))
    timed("competency embeddings", lambda: competency_embeddings(taxonomy, cache_dir=cache_dir))
    return seconds
