"""Binary sparse matrices from (row, column) pairs: the shape of every profile and catalogue matrix."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def binary_csr(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
    """1.0 wherever a (row, column) pair occurs (duplicates count once); pairs with a negative index are dropped."""
    rows, columns = np.asarray(rows), np.asarray(columns)
    keep = (rows >= 0) & (columns >= 0)
    matrix = sparse.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], columns[keep])), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
