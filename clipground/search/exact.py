"""The "exact" method: greedy NMS in which every step finds the best allowed window exactly.

Mean, no NMS: Dinkelbach iteration on lengths [L, min(U, 2L - 1)] only. By Huang's lemma a longer
window splits into two of >= L samples, one at least as good, so the earliest-shortest optimum is
that short; and mean's chord is its denominator itself, so Dinkelbach's answer is the optimum.
Otherwise: branch and bound over intervals of lengths, the highest bound first. Each interval's
bound (bounds.py) is valid, so an interval whose bound is below the best window found holds no
better one; an interval narrower than LEAF lengths is enumerated. NMS enters the bounds, so every
greedy step is exact. Exact means up to floating-point rounding: scores compare within TIE_RTOL
of max|scores|, and ties.py picks among those. Problems of at most `enumerate_up_to` windows are
enumerated instead (brute.py), which is exact too and faster there.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from clipground.search.bounds import (
    LEAF,
    Part,
    Search,
    dinkelbach,
    interval_bound,
    masked_values,
    start_at,
)
from clipground.search.brute import first_compatible, search_brute
from clipground.search.multiscale import candidates
from clipground.search.nms import compatible, greedy
from clipground.search.objectives import TIE_RTOL, IntArray, Pick, Problem, denominator
from clipground.search.ties import tie_break

ENUMERATE_UP_TO = 1 << 16  # windows (m x lengths) up to which "exact" enumerates them all


def search_exact(
    problem: Problem, top_k: int, nms_iou: float, *, enumerate_up_to: int = ENUMERATE_UP_TO
) -> list[Pick]:
    """Greedy NMS, each step an exact search; later steps start from multiscale's windows.

    Problems of at most `enumerate_up_to` windows (samples x lengths) are enumerated: exact too,
    and there cheaper than branch and bound's set-up. 0 always runs branch and bound."""
    if problem.m * (problem.max_len - problem.min_len + 1) <= enumerate_up_to:
        return search_brute(problem, top_k, nms_iou)
    if top_k == 1 or np.ptp(problem.u) <= TIE_RTOL / 2:
        return greedy(problem, top_k, nms_iou, exact_step)
    csum = np.concatenate(([0.0], np.cumsum(problem.u)))
    pool = candidates(problem, csum, top_k)  # a good incumbent lets the bounds prune at once
    known_cuts: dict[Pick, tuple[IntArray, IntArray]] = {}

    def step(problem: Problem, chosen: list[Pick], nms_iou: float) -> Pick | None:
        return exact_step(problem, chosen, nms_iou, pool if chosen else None, known_cuts)

    return greedy(problem, top_k, nms_iou, step)


def exact_step(
    problem: Problem,
    chosen: list[Pick],
    nms_iou: float,
    pool: IntArray | None = None,
    known_cuts: dict[Pick, tuple[IntArray, IntArray]] | None = None,
) -> Pick | None:
    """The best window compatible with chosen, ties to the earliest then shortest.

    pool: (K, 2) windows whose best compatible value seeds the search; known_cuts: the cuts of
    windows chosen in earlier steps (filled in as they are made). Both only speed it up."""
    if np.ptp(problem.u) <= TIE_RTOL / 2:
        return first_compatible(problem, chosen, nms_iou)  # every window ties
    search = Search(problem, chosen, nms_iou, known_cuts={} if known_cuts is None else known_cuts)
    if pool is not None:
        _offer_pool(search, pool)
    lo, hi = problem.min_len, problem.max_len
    if problem.objective == "mean" and not chosen:
        hi = min(hi, 2 * lo - 1)  # Huang: halve a longer window; one half is at least as good
    if problem.objective != "mean" and hi == problem.m:
        hi -= 1  # the whole sequence is a special case, scored 0
        if search.allows(0, problem.m):
            search.offer(0.0, (0, problem.m))
            search.parts.append(Part(problem.m, problem.m, 0.0, (0, problem.m)))
    if lo <= hi:
        _branch_and_bound(search, lo, hi)
    if search.best == -math.inf:
        return None
    return tie_break(search)


def _offer_pool(search: Search, pool: IntArray) -> None:
    """Offer the best pool window NMS allows, valued by the search's own arithmetic."""
    problem = search.problem
    starts, lengths = pool[:, 0], pool[:, 1]
    ok = compatible(starts, lengths, search.chosen, search.nms_iou)
    if problem.objective != "mean":
        ok &= lengths < problem.m  # the whole sequence is scored apart
    if ok.any():
        starts, lengths = starts[ok], lengths[ok]
        sums = problem.prefix[starts + lengths] - problem.prefix[starts]
        i = int(np.argmax(sums / denominator(problem, lengths)))
        search.offer(float(sums[i] / denominator(problem, lengths[i])),
                     (int(starts[i]), int(lengths[i])))


def _branch_and_bound(search: Search, lo: int, hi: int) -> None:
    heap: list[tuple[float, int, int]] = [(-math.inf, lo, hi)]
    while heap:
        neg_bound, a, b = heapq.heappop(heap)
        if -neg_bound < search.best - TIE_RTOL:
            break  # no window left can reach the best, even as a tie
        if _is_settled(search, a, b):
            _settle(search, a, b)
            continue
        mid = (a + b) // 2
        for c, d in ((a, mid), (mid + 1, b)):
            bound = interval_bound(search, c, d)
            if bound >= search.best - TIE_RTOL:
                heapq.heappush(heap, (-bound, c, d))


def _is_settled(search: Search, a: int, b: int) -> bool:
    # mean's chord is its denominator itself, so Dinkelbach is exact unless NMS masks windows
    return b - a < LEAF or (search.problem.objective == "mean" and not search.chosen)


def _settle(search: Search, a: int, b: int) -> None:
    if b - a < LEAF:
        value, pick = _enumerate_lengths(search, a, b)
    else:  # mean, no NMS: Dinkelbach's answer is exact
        run = dinkelbach(search, a, b, 0.0, 1.0, start_at(search, a))
        value, pick = run.x, search.best_pick or (run.start, run.length)
    if value > -math.inf:
        search.parts.append(Part(a, b, value, pick))
        search.offer(value, pick)


def _enumerate_lengths(search: Search, a: int, b: int) -> tuple[float, Pick]:
    best, pick = -math.inf, (0, a)
    for n in range(a, b + 1):
        vals = masked_values(search, n)
        i = int(np.argmax(vals))
        if vals[i] > best:
            best, pick = float(vals[i]), (i, n)
    return best, pick
