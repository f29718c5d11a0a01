"""Score fusion of the two matchers: ``alpha · lexical cosine + (1 − alpha) · semantic cosine``, exact labels first.

A concept one matcher did not list gets that matcher's lowest listed score (it ranked below all of them). A
concept with a label equal to the query after folding, or to the query in its other gender form (lexical score
at least ``EXACT``), is ranked before the rest whatever the encoder thinks: someone who types "poetsvrouw" or
"poetsman" means the occupation that has that name.
Measured on held-out concepts (see ``docs/search.md``), this beats reciprocal-rank fusion: the lexical cosine
says how sure it is (near 1 for an exact label, low for a few shared n-grams), which ranks throw away.
"""

from __future__ import annotations

import numpy as np

ALPHA = 0.3
EXACT = 0.99  # a lexical score this high is the same folded text, or the query in its other gender form
EXACT_BONUS = 1.0  # added to the fused score of such a match: a fused score above 1 says "a label is the query"


def score_fusion(lexical: tuple[np.ndarray, np.ndarray], semantic: tuple[np.ndarray, np.ndarray], *,
                 alpha: float = ALPHA, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fuse two (concepts, scores) lists, each best first; returns the concepts and their fused scores, best first
    (exact matches carry ``EXACT_BONUS``, so they come first)."""
    lexical_concepts, lexical_scores = lexical
    semantic_concepts, semantic_scores = semantic
    concepts = np.unique(np.concatenate([lexical_concepts, semantic_concepts]).astype(np.int64))
    lexical_spread = _spread(concepts, lexical_concepts, lexical_scores)
    fused = alpha * lexical_spread + (1.0 - alpha) * _spread(concepts, semantic_concepts, semantic_scores)
    exact = np.zeros(len(concepts), dtype=bool)
    exact[np.searchsorted(concepts, lexical_concepts[lexical_scores >= EXACT])] = True
    fused += EXACT_BONUS * exact
    order = np.lexsort((concepts, -fused))[:limit]
    return concepts[order], fused[order]


def _spread(concepts: np.ndarray, listed: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Scores of ``listed`` placed on ``concepts`` (sorted); the unlisted get the lowest listed score (or 0)."""
    out = np.full(len(concepts), float(scores.min()) if len(scores) else 0.0, dtype=np.float64)
    if len(listed):
        out[np.searchsorted(concepts, listed)] = scores
    return out
