"""Minima over ranges of an array: sliding windows of one width, and a sparse table for ranges of
any width. The exact solvers' inner loops, in whole-array numpy passes."""

from __future__ import annotations

import numpy as np

from clipground.search.objectives import FloatArray, IntArray


def sliding_min(x: FloatArray, w: int) -> FloatArray:
    """min(x[i : i + w]) for every i, by doubling: O(len(x) log w) contiguous SIMD passes,
    faster here than the O(len(x)) van Herk / Gil-Werman scans (ufunc.accumulate is slow)."""
    n_out = x.size - w + 1
    span, cur = 1, x
    while 2 * span <= w:
        cur = np.minimum(cur[:-span], cur[span:])  # now min over 2 * span samples
        span *= 2
    # two windows of `span` samples, overlapping, cover each window of w
    return np.minimum(cur[:n_out], cur[w - span : w - span + n_out])


def sliding_max(x: FloatArray, w: int) -> FloatArray:
    """max(x[i : i + w]) for every i."""
    return -sliding_min(-x, w)


def min_table(q: FloatArray, levels: int) -> FloatArray:
    """(levels, n) sparse table: row k holds min(q[i : i + 2**k])."""
    table = np.full((levels, q.size), np.inf)
    table[0] = q
    for k in range(1, levels):
        half = 1 << (k - 1)
        np.minimum(table[k - 1, :-half], table[k - 1, half:], out=table[k, :-half])
    return table


def range_min(table: FloatArray, first: IntArray, last: IntArray) -> FloatArray:
    """min q[first..last] per entry, from `min_table(q)`; +inf where first > last."""
    width = np.maximum(last - first + 1, 1)
    k = np.minimum(np.frexp(width)[1] - 1, table.shape[0] - 1)  # floor(log2), exactly
    top = table.shape[1] - 1
    lo = table[k, np.minimum(np.maximum(first, 0), top)]
    hi = table[k, np.minimum(np.maximum(last - (1 << k) + 1, 0), top)]
    return np.where(last >= first, np.minimum(lo, hi), np.inf)
