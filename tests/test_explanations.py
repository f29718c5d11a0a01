"""Truthful explanations of re-ranked lists: which items the fairness guarantee moved up, and in which words."""

from __future__ import annotations

import numpy as np
import pytest

from models.rerank import TIE, fair_top_k, fair_top_k_moves
from models.suggest import moved_reason


@pytest.mark.parametrize("seed", range(40))
def test_an_item_is_flagged_moved_exactly_when_a_better_scored_item_comes_after_it(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(5, 60))
    scores = rng.random(size)
    protected = rng.random((size, 2)) < rng.uniform(0.05, 0.5, size=2)
    chosen, moved = fair_top_k_moves(scores, protected, k=size, proportion=float(rng.uniform(0.2, 0.8)),
                                     significance=0.1)
    ordered = scores[chosen]
    for position in range(size):
        jumped = bool((ordered[position + 1:] > ordered[position] + TIE).any())
        assert bool(moved[position].any()) == jumped, (seed, position)
        assert not (moved[position] & ~protected[chosen[position]]).any()  # only a guarantee the item meets
    assert np.array_equal(np.sort(chosen), np.arange(size))


def test_fair_top_k_is_unchanged_by_the_explanation() -> None:
    rng = np.random.default_rng(1)
    scores, protected = rng.random(50), rng.random((50, 2)) < 0.2
    for k in (1, 10, 50):
        plain = fair_top_k(scores, protected, k=k, proportion=0.6, significance=0.1)
        explained, moved = fair_top_k_moves(scores, protected, k=k, proportion=0.6, significance=0.1)
        assert np.array_equal(plain, explained) and moved.shape == (len(plain), 2)
    nothing = fair_top_k_moves(scores, np.zeros((50, 1), dtype=bool), k=10, proportion=0.6, significance=0.1)
    assert np.array_equal(nothing[0], np.argsort(-scores)[:10]) and not nothing[1].any()  # no guarantee: by score


def test_a_moved_item_says_why_in_both_languages() -> None:
    assert moved_reason((), "nl") is None
    assert moved_reason(("good",), "nl") == "opgeschoven als goede kans"
    assert moved_reason(("ready",), "nl") == "opgeschoven: je kunt hier nu al aan beginnen"
    assert moved_reason(("good",), "en") == "moved up as a good opportunity"
    assert moved_reason(("ready",), "en") == "moved up: you can start on this right now"
    assert moved_reason(("good", "ready"), "nl").startswith("opgeschoven als goede kans")


def test_a_tie_is_not_a_move() -> None:
    protected = np.array([[False], [True]])
    for gap, expected in ((TIE / 10, False), (10 * TIE, True)):
        chosen, moved = fair_top_k_moves(np.array([0.5 + gap, 0.5]), protected, k=2, proportion=0.9,
                                         significance=0.5)
        assert chosen[0] == 1  # the guarantee takes the protected item first ...
        assert bool(moved[0].any()) is expected  # ... a move only past a clearly higher score
