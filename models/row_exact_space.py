"""The match space with the semantic similarity computed one query row at a time, as the service does for one
citizen: what lets a nightly batch (:mod:`models.batch_partition`) equal the live suggestions bit for bit."""

from __future__ import annotations

import numpy as np

from features.match_space import MatchSpace


class RowExactSpace(MatchSpace):
    """The match space with the semantic similarity computed one query row at a time, as the service does for
    one citizen: a float32 product over many rows rounds differently (BLAS kernels differ with the row count).
    Everything else is :meth:`MatchSpace.block` (a test checks the two agree).

    The one-row products run over ``ITEM_CHUNK`` items at a time, every row against a chunk before the next
    chunk, so that the chunk stays in the CPU cache instead of the whole catalogue streaming from memory once
    per citizen (~3x faster at 100k items). Each element is still the one-row product's, bit for bit, where the
    BLAS takes items in groups that divide the chunk (OpenBLAS: 4 or 8); :meth:`of` checks this on the machine
    and falls back to whole rows where it does not hold.

    It holds only ``space`` and its chunk: every other attribute is read from ``space`` (its arrays shared, never
    copied; ``MatchSpace.__init__`` is not run again, it would compute them anew).
    """

    ITEM_CHUNK = 1_024

    def __init__(self, space: MatchSpace, *, item_chunk: int) -> None:
        self.space = space
        self.item_chunk = item_chunk

    def __getattr__(self, name: str):
        if name == "space":  # not set yet (an object being unpickled): no attribute to forward to
            raise AttributeError(name)
        return getattr(self.space, name)

    @classmethod
    def of(cls, space: MatchSpace) -> RowExactSpace:
        """``space`` with the row-by-row semantic similarity, in chunks of ``ITEM_CHUNK`` items where that is exact."""
        whole_rows = cls(space, item_chunk=max(1, space.item_embeddings.shape[0]))
        chunked = cls(space, item_chunk=cls.ITEM_CHUNK)
        probe = np.random.default_rng(0).standard_normal((2, space.item_embeddings.shape[1]))
        probe = probe.astype(space.item_embeddings.dtype)
        return chunked if np.array_equal(chunked.semantic(probe), whole_rows.semantic(probe)) else whole_rows

    def semantic(self, embeddings: np.ndarray) -> np.ndarray:
        items = self.item_embeddings.T
        semantic = np.empty((embeddings.shape[0], items.shape[1]), dtype=np.result_type(embeddings, items))
        for start in range(0, items.shape[1], self.item_chunk):
            chunk = items[:, start:start + self.item_chunk]
            for row in range(embeddings.shape[0]):
                semantic[row, start:start + chunk.shape[1]] = (embeddings[row:row + 1] @ chunk)[0]
        return semantic
