"""Brute force: every allowed window scored from prefix sums, in slabs of bounded memory. It is
the reference the other methods are tested against, and the exact method's choice for small
problems, where enumerating beats branch and bound's set-up."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from clipground.search.nms import compatible, greedy
from clipground.search.objectives import (
    TIE_RTOL,
    FloatArray,
    IntArray,
    Pick,
    Problem,
    objective_values,
)

_SLAB = 1 << 21  # elements per slab of vectorised work: each temporary stays near 16 MiB


def search_brute(problem: Problem, top_k: int, nms_iou: float) -> list[Pick]:
    """Greedy NMS, each step scoring every window."""
    return greedy(problem, top_k, nms_iou, brute_step)


def brute_step(problem: Problem, chosen: list[Pick], nms_iou: float) -> Pick | None:
    """Score every window in slabs of lengths; the best, ties to the earliest then shortest."""
    csum = np.concatenate(([0.0], np.cumsum(problem.u)))  # raw sums: independent of `exact`
    best = max((vals.max() for _, _, vals in _brute_slabs(problem, csum, chosen, nms_iou)),
               default=-math.inf)
    if best == -math.inf:
        return None
    threshold = best - TIE_RTOL
    found = [
        _first_at_least(starts, lengths, vals, threshold)
        for starts, lengths, vals in _brute_slabs(problem, csum, chosen, nms_iou)
    ]
    return min(pick for pick in found if pick is not None)


def first_compatible(problem: Problem, chosen: list[Pick], nms_iou: float) -> Pick | None:
    """The earliest, then shortest, window compatible with chosen: the answer when all tie."""
    lengths = np.arange(problem.min_len, problem.max_len + 1)
    rows = max(1, _SLAB // lengths.size)
    for first in range(0, problem.m - problem.min_len + 1, rows):
        starts = np.arange(first, min(first + rows, problem.m - problem.min_len + 1))[:, None]
        ok = compatible(starts, lengths[None, :], chosen, nms_iou)
        ok &= starts + lengths[None, :] <= problem.m
        if ok.any():
            row, col = np.unravel_index(int(np.argmax(ok)), ok.shape)  # row-major: start first
            return int(starts[row, 0]), int(lengths[col])
    return None


def _brute_slabs(
    problem: Problem, csum: FloatArray, chosen: list[Pick], nms_iou: float
) -> Iterator[tuple[IntArray, IntArray, FloatArray]]:
    """Yield (starts, lengths, values) slabs covering every allowed window; invalid ones -inf."""
    m = problem.m
    rows = max(1, _SLAB // (m + 1))
    for first in range(problem.min_len, problem.max_len + 1, rows):
        lengths = np.arange(first, min(first + rows, problem.max_len + 1))[:, None]  # (R, 1)
        starts = np.arange(m - first + 1)[None, :]  # (1, C)
        valid = starts + lengths <= m
        safe = np.where(valid, starts, 0)
        vals = objective_values(csum, safe, lengths, problem.objective)  # (R, C)
        if chosen:
            valid &= compatible(starts, lengths, chosen, nms_iou)
        yield starts, lengths, np.where(valid, vals, -math.inf)


def _first_at_least(
    starts: IntArray, lengths: IntArray, vals: FloatArray, threshold: float
) -> Pick | None:
    ok = vals >= threshold  # (R, C); rows are lengths, columns starts
    if not ok.any():
        return None
    cols = np.flatnonzero(ok.any(axis=0))
    col = int(cols[0])  # earliest start
    row = int(np.argmax(ok[:, col]))  # then the shortest
    return int(starts[0, col]), int(lengths[row, 0])
