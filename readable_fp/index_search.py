"""Nearest entries of an index by the signature's search vector: exact brute force in numpy.

A search vector estimates ICS / 100 by its dot product with another (`signature.search_vector`),
so the nearest entries are the largest dot products. Brute force reads every row once per query:
N x D multiply-adds, in chunks so that the scores of a large index never sit in memory at once.
(bench/vector_search.py measures it against an approximate index at 10k and 1M entries.)
"""
from __future__ import annotations

import numpy as np

CHUNK = 65536  # rows per matrix product: 65536 x 576 float32 is 150 MB


def top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores), each Q x min(k, N), best first, of the rows of `vectors` (N x D) with the
    largest dot products with each of `queries` (Q x D, or one D-vector). Ties: the lower index first."""
    q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    n = len(vectors)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros((len(q), 0), dtype=np.int64), np.zeros((len(q), 0), dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    best_s = np.zeros((len(q), 0), dtype=np.float32)
    for start in range(0, n, CHUNK):
        block = np.asarray(vectors[start:start + CHUNK], dtype=np.float32)
        s = q @ block.T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_i = np.concatenate([best_i, part + start], axis=1)
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
        if best_i.shape[1] > k:  # keep the k best so far
            order = np.lexsort((best_i, -best_s), axis=1)[:, :k]
            best_i, best_s = np.take_along_axis(best_i, order, 1), np.take_along_axis(best_s, order, 1)
    order = np.lexsort((best_i, -best_s), axis=1)
    return np.take_along_axis(best_i, order, 1), np.take_along_axis(best_s, order, 1)
