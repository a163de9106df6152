"""Top-k by greedy non-maximum suppression, and which windows NMS forbids.

Every method takes its top-k the same way: the next window is the best among those whose temporal
IoU (inclusive sample counts) with each window already chosen is <= nms_iou, and that share at
most NESTED of the shorter window with each (so neither lies mostly inside the other: a short
window inside a long one has a small IoU, but it is not another moment). For the exact solver the
forbidden windows are also described as "cuts": per window end, the one run of starts a chosen
window forbids, with overlapping runs merged, so bounds can skip them through a range minimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from clipground.search.objectives import IntArray, Pick, Problem

NESTED = 0.5  # NMS also suppresses a window sharing more than this of the shorter with a chosen one
ALL_AT_ONCE = 256  # up to this many windows are checked against all chosen ones in one numpy pass
NEVER = np.iinfo(np.int64).max // 4  # the low end of an empty cut: sorts after every real one


def greedy(
    problem: Problem,
    top_k: int,
    nms_iou: float,
    step: Callable[[Problem, list[Pick], float], Pick | None],
) -> list[Pick]:
    """Up to top_k windows, each the `step`'s best window compatible with those before it."""
    chosen: list[Pick] = []
    while len(chosen) < top_k:
        pick = step(problem, chosen, nms_iou)
        if pick is None:
            break  # every remaining window overlaps a chosen one too much
        chosen.append(pick)
    return chosen


def compatible(
    starts: IntArray, lengths: IntArray | int, chosen: list[Pick], nms_iou: float
) -> NDArray[np.bool_]:
    """Which windows may join `chosen`: with each, IoU <= nms_iou and at most NESTED of the
    shorter window shared (so not equal either).

    For a few windows, all chosen ones at once: the search asks this thousands of times about
    one window or a handful, where numpy's cost per call is what counts; for many, one chosen
    window at a time (fewer, smaller temporaries)."""
    shape = np.broadcast(starts, lengths).shape
    if len(chosen) < 2 or math.prod(shape) > ALL_AT_ONCE:
        return compatible_each(starts, lengths, chosen, nms_iou)
    picked = np.array(chosen)  # (K, 2)
    start, length = picked[:, 0], picked[:, 1]
    starts, lengths = np.asarray(starts)[..., None], np.asarray(lengths)[..., None]
    inter = np.maximum(np.minimum(starts + lengths, start + length) - np.maximum(starts, start), 0)
    union = lengths + length - inter
    nested = inter > NESTED * np.minimum(lengths, length)
    return ((inter <= nms_iou * union) & ~nested).all(axis=-1)


def compatible_each(
    starts: IntArray, lengths: IntArray | int, chosen: list[Pick], nms_iou: float
) -> NDArray[np.bool_]:
    """`compatible`, one chosen window at a time."""
    ok = np.ones(np.broadcast(starts, lengths).shape, dtype=bool)
    ends = starts + lengths
    for start, length in chosen:
        # np.maximum, not np.clip: the same, at a fraction of the call cost on small arrays
        inter = np.maximum(np.minimum(ends, start + length) - np.maximum(starts, start), 0)
        union = lengths + length - inter
        ok &= (inter <= nms_iou * union) & (inter <= NESTED * np.minimum(lengths, length))
    return ok


def incompatible_starts(
    ends: IntArray, start: int, length: int, nms_iou: float
) -> tuple[IntArray, IntArray]:
    """For windows ending at `ends` (inclusive), the starts lo..hi NMS forbids next to the
    chosen window (start, length); empty where lo > hi. IoU peaks at start = `start` and falls
    away on both sides, and so does the share of the shorter window (1 at `start`, for an end at
    or past it), so the forbidden starts are one run through `start`."""
    last = start + length - 1
    near, far = np.minimum(ends, last), np.maximum(ends, last)
    # starts in start..near: the union is fixed and the overlap shrinks as the start grows
    with np.errstate(divide="ignore", invalid="ignore"):
        hi = np.floor(near + 1 - nms_iou * (far - start + 1) - 1e-9)
        # starts before `start`: the overlap is fixed and the union grows as the start falls
        lo = np.floor(far + 1 - (near - start + 1) / nms_iou) + 1
    hi = np.clip(np.nan_to_num(hi, nan=start - 1), start - 1, near).astype(np.int64)
    lo = np.clip(np.nan_to_num(lo, nan=0, neginf=0), 0, start + 1).astype(np.int64)
    nested_lo, nested_hi = _nested_starts(ends, start, length)
    lo, hi = np.minimum(lo, nested_lo), np.maximum(hi, nested_hi)
    # float rounding may leave either end one off: settle both with the exact test
    def bad(first: IntArray) -> NDArray[np.bool_]:
        return ~compatible(first, ends - first + 1, [(start, length)], nms_iou)
    for _ in range(2):
        hi = np.where((hi + 1 <= near) & bad(hi + 1), hi + 1, hi)
        hi = np.where((hi >= start) & ~bad(np.maximum(hi, 0)), hi - 1, hi)
        lo = np.where((lo >= 1) & (lo <= start) & bad(lo - 1), lo - 1, lo)
        lo = np.where((lo <= start) & ~bad(lo), lo + 1, lo)
    empty = (hi < start) | (near < start)
    return np.where(empty, NEVER, np.minimum(lo, start)), np.where(empty, NEVER - 1, hi)


def _nested_starts(ends: IntArray, start: int, length: int) -> tuple[IntArray, IntArray]:
    """For windows ending at `ends`, the starts lo..hi that share more than NESTED of the shorter
    window with the chosen (start, length), estimated to +-1 (`incompatible_starts` settles
    them); lo > hi where none do (ends before `start`)."""
    last = start + length - 1
    near = np.minimum(ends, last)
    shared = near - start + 1  # for starts up to `start`
    # starts up to `start`: all of them once `shared` is over NESTED of the chosen window, else
    # those whose own window is short enough: end - first + 1 < shared / NESTED
    lo = np.where(shared > NESTED * length, 0, np.floor(ends + 1 - shared / NESTED) + 1)
    # starts past `start`: ends inside the chosen window nest there; past it, `last - first + 1`
    # samples are shared, over NESTED of the window (end - first + 1) or of the chosen one
    past = np.maximum(np.ceil((last + 1 - NESTED * (ends + 1)) / (1 - NESTED)) - 1,
                      np.ceil(last + 1 - NESTED * length) - 1)
    hi = np.where(ends <= last, ends, past)
    none = near < start
    lo = np.where(none, start + 1, np.clip(lo, 0, start)).astype(np.int64)
    hi = np.where(none, start, np.clip(hi, start, np.maximum(near, start))).astype(np.int64)
    return lo, hi


def merged_cuts(lows: IntArray, highs: IntArray) -> tuple[IntArray, IntArray]:
    """Cuts (K, E) sorted by low end per column (empty ones, lo > hi, last), with those that
    overlap or touch merged: the same starts in as few rows as the busiest column needs."""
    empty = lows > highs
    reach = np.maximum.accumulate(np.where(empty, -2, highs), axis=0)  # furthest high so far
    before = np.vstack((np.full((1, lows.shape[1]), -2), reach[:-1]))
    opens = ~empty & (lows > before + 1)  # a cut past everything before it starts a new run
    closes = ~empty & np.vstack((opens[1:] | empty[1:], np.ones((1, lows.shape[1]), bool)))
    row = np.cumsum(opens, axis=0) - 1  # each cut's merged row
    rows = max(1, int(opens.sum(axis=0).max(initial=0)))
    merged_lows = np.full((rows, lows.shape[1]), NEVER, dtype=np.int64)
    merged_highs = np.full((rows, lows.shape[1]), NEVER - 1, dtype=np.int64)
    cols = np.broadcast_to(np.arange(lows.shape[1]), lows.shape)
    merged_lows[row[opens], cols[opens]] = lows[opens]
    merged_highs[row[closes], cols[closes]] = reach[closes]
    return merged_lows, merged_highs
