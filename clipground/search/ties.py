"""The exact search's tie rule: scores within TIE_RTOL * max|scores| of the best tie, and among
them the earliest start wins, then the shortest. Branch and bound finds the best value; this pass
goes back over the length intervals that reach it for the first window that does."""

from __future__ import annotations

import numpy as np

from clipground.search.bounds import LEAF, Part, Search, masked_values
from clipground.search.objectives import TIE_RTOL, Pick, Problem
from clipground.search.ranges import sliding_max


def tie_break(search: Search) -> Pick:
    """Among settled windows within TIE_RTOL of the best: the earliest, then the shortest."""
    threshold = search.best - TIE_RTOL
    found: list[Pick] = []
    for part in search.parts:
        if part.value < threshold:
            continue
        pick = _earliest_in(search, part, threshold)
        found.append(pick if pick is not None else part.fallback)
    if not found and search.best_pick is not None:
        found.append(search.best_pick)  # rounding pruned the interval of an offered window
    return min(found)


def _earliest_in(search: Search, part: Part, threshold: float) -> Pick | None:
    problem = search.problem
    if part.lo == problem.m:
        return (0, problem.m)  # the whole sequence, contrast 0
    if part.hi - part.lo < LEAF:
        found = [_earliest_at(search, n, threshold) for n in range(part.lo, part.hi + 1)]
        return min((pick for pick in found if pick is not None), default=None)
    return _earliest_mean(problem, part.lo, part.hi, threshold)


def _earliest_at(search: Search, n: int, threshold: float) -> Pick | None:
    ok = masked_values(search, n) >= threshold
    return (int(np.argmax(ok)), n) if ok.any() else None


def _earliest_mean(problem: Problem, lo: int, hi: int, threshold: float) -> Pick | None:
    """Earliest, then shortest, window of [lo, hi] samples with mean deviation >= threshold."""
    m = problem.m
    q = problem.prefix - threshold * problem.index  # window is in iff q[end] - q[start] >= 0
    w = hi - lo + 1
    padded = np.concatenate((q[lo:], np.full(w - 1, -np.inf)))  # ends past m never qualify
    reach = sliding_max(padded, w)  # (m-lo+1,) best end for each start
    ok = reach - q[: m - lo + 1] >= 0
    if not ok.any():
        return None
    start = int(np.argmax(ok))
    ends = q[start + lo : min(start + hi, m) + 1] - q[start] >= 0
    return start, lo + int(np.argmax(ends))
