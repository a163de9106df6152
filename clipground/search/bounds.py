"""Upper bounds for the exact branch and bound, over an interval [a, b] of window lengths.

Every objective is S / h(n) ** p with h ** p concave (objectives.py), so on [a, b] it lies above
its chord alpha + beta * n. Dinkelbach (Newton) iteration finds the largest ratio x of S over the
chord: each pass is one O(m) sweep, the max over windows of S - x * chord(n) by a sliding minimum
of prefix sums. S / h(n) ** p <= S / chord(n) for S >= 0, so that ratio bounds the interval (a
negative one is scaled by the chord's least over h's peak). Under NMS the sweep skips the starts
the chosen windows forbid, through a range-minimum table over the gaps between their cuts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from clipground.search.nms import compatible, incompatible_starts, merged_cuts
from clipground.search.objectives import (
    TIE_RTOL,
    FloatArray,
    IntArray,
    Pick,
    Problem,
    denominator,
)
from clipground.search.ranges import min_table, range_min, sliding_min

LEAF = 8  # a length interval this narrow is enumerated: cheaper than bounding it
_TABLE = 1 << 22  # entries of a range-minimum table, beyond which NMS bounds get looser
_MAX_ITER = 64  # Dinkelbach passes per interval; a bound stays valid if it stops early


class Run(NamedTuple):
    """Outcome of Dinkelbach iteration on one length interval."""

    x: float  # last ratio reached
    gain: float  # max over windows of S - x * chord(n); <= 0 means no ratio exceeds x
    start: int  # the window that attained gain
    length: int


@dataclass
class Part:
    """A length interval searched to the end, with its best value."""

    lo: int
    hi: int
    value: float
    fallback: Pick  # a window attaining `value`, should rounding hide it from the tie pass


@dataclass
class Search:
    """State of one branch and bound: the best value so far and the intervals settled."""

    problem: Problem
    chosen: list[Pick]
    nms_iou: float
    best: float = -math.inf
    best_pick: Pick | None = None  # a window attaining `best`, should rounding hide it later
    parts: list[Part] = field(default_factory=list)
    # each chosen window's cuts (see `cuts`), kept from one greedy step to the next
    known_cuts: dict[Pick, tuple[IntArray, IntArray]] = field(default_factory=dict)

    def offer(self, value: float, pick: Pick) -> None:
        """Raise the best value so far, if this window beats it."""
        if value > self.best:
            self.best, self.best_pick = value, pick

    @cached_property
    def cuts(self) -> tuple[IntArray, IntArray]:
        """(K', m+1) starts lo..hi NMS forbids per exclusive end, sorted left to right per end:
        the chosen windows' cuts, those that overlap or touch merged (a window's containment cut
        reaches back to start 0 for every end past it, so most merge), empty rows last. They
        depend on nothing else, so are made once."""
        ends = np.arange(self.problem.m + 1) - 1  # inclusive; -1 for end 0 cuts nothing
        for start, n in self.chosen:
            if (start, n) not in self.known_cuts:
                self.known_cuts[start, n] = incompatible_starts(ends, start, n, self.nms_iou)
        cuts = [self.known_cuts[pick] for pick in self.chosen]
        lows, highs = np.array([lo for lo, _ in cuts]), np.array([hi for _, hi in cuts])
        order = np.argsort(lows, axis=0, kind="stable")
        return merged_cuts(np.take_along_axis(lows, order, 0), np.take_along_axis(highs, order, 0))

    def allows(self, start: int, n: int) -> bool:
        """Whether NMS allows the window (start, n) next to the chosen ones."""
        return not self.chosen or bool(compatible(np.array(start), n, self.chosen, self.nms_iou))


def masked_values(search: Search, n: int) -> FloatArray:
    """Objective of every window of n samples (by start), -inf where NMS forbids it."""
    problem = search.problem
    vals = (problem.prefix[n:] - problem.prefix[:-n]) / denominator(problem, n)
    if search.chosen:
        ok = compatible(np.arange(vals.size), n, search.chosen, search.nms_iou)
        vals = np.where(ok, vals, -math.inf)
    return vals


def interval_bound(search: Search, a: int, b: int) -> float:
    """An upper bound on the objective over lengths [a, b]; also raises search.best."""
    problem = search.problem
    ha, hb = denominator(problem, a), denominator(problem, b)
    beta = (hb - ha) / (b - a)
    alpha = ha - beta * a  # chord of the concave h: below h on [a, b]
    x0 = search.best - TIE_RTOL if search.best > -math.inf else start_at(search, a)
    run = dinkelbach(search, a, b, alpha, beta, x0)
    if run.gain == -math.inf:
        return -math.inf
    # S <= x * chord(n) + gain for every window, so S / chord(n) is bounded by:
    ratio = run.x + run.gain / (min(ha, hb) if run.gain >= 0 else max(ha, hb))
    if ratio >= 0 or problem.objective == "mean":
        return ratio  # S >= 0: S / h <= S / chord; S < 0: the value is negative anyway
    # every window has S < 0 here; S / h <= ratio * chord / h <= ratio * min(chord) / max(h)
    peak = denominator(problem, min(max(problem.m / 2, a), b))
    return ratio * min(ha, hb) / peak


def start_at(search: Search, n: int) -> float:
    """The best value of windows of n samples, ignoring NMS: a Dinkelbach start, as the chord
    meets h at the interval's ends. The window is offered if NMS allows it."""
    problem = search.problem
    sums = problem.prefix[n:] - problem.prefix[:-n]
    start = int(np.argmax(sums))
    value = float(sums[start] / denominator(problem, n))
    if search.allows(start, n):
        search.offer(value, (start, n))
    return value


def dinkelbach(search: Search, a: int, b: int, alpha: float, beta: float, x: float) -> Run:
    """Newton on x: max ratio S / (alpha + beta * n) over lengths [a, b], from a lower start x."""
    problem = search.problem
    for _ in range(_MAX_ITER):
        gain, start, n = _max_penalised_sum(search, a, b, x * beta)
        if gain == -math.inf:
            break  # NMS leaves no window in [a, b]
        gain -= x * alpha
        total = problem.prefix[start + n] - problem.prefix[start]
        if search.allows(start, n):
            search.offer(total / denominator(problem, n), (start, n))  # a real window
        ratio = total / (alpha + beta * n)
        if gain <= 0 or ratio <= x:
            break  # converged, or rounding stalled it: the bound uses gain either way
        x = ratio
    return Run(x, gain, start, n)


def _max_penalised_sum(search: Search, a: int, b: int, slope: float) -> tuple[float, int, int]:
    """max over allowed windows of a..b samples of sum(u - mean - slope): (value, start, n).

    Allowed means compatible with search.chosen; if the range-minimum table would be too big,
    the windows NMS forbids are allowed too and the window may be one of them."""
    problem = search.problem
    q = problem.prefix - slope * problem.index  # (m+1,) prefix sums of the penalised deviations
    # end j (exclusive) may start at j-b .. j-a; +inf pads the starts before 0
    padded = np.concatenate((np.full(b - a, np.inf), q[: problem.m - a + 1]))
    floor = sliding_min(padded, b - a + 1)  # (m-a+1,) for j = a..m
    masked = bool(search.chosen) and _floor_compatible(search, q, a, b, floor)
    gains = q[a:] - floor
    j = int(np.argmax(gains)) + a
    if gains[j - a] == -math.inf:
        return -math.inf, 0, 0
    starts = np.arange(max(0, j - b), j - a + 1)
    if masked:
        starts = starts[allowed_starts(search, int(starts[0]), int(starts[-1]), j)]
    start = int(starts[np.argmin(q[starts])])
    return float(gains[j - a]), start, j - start


def allowed_starts(search: Search, first: int, last: int, end: int) -> NDArray[np.bool_]:
    """Which starts first..last NMS allows for windows ending at `end` (exclusive): those outside
    every chosen window's cut (as `compatible` says, from the cuts already made)."""
    allowed = np.ones(last - first + 1, dtype=bool)
    lows, highs = search.cuts
    for lo, hi in zip(lows[:, end].tolist(), highs[:, end].tolist(), strict=True):
        lo, hi = max(lo, first), min(hi, last)
        if lo <= hi:
            allowed[lo - first : hi - first + 1] = False
    return allowed


def _floor_compatible(search: Search, q: FloatArray, a: int, b: int, floor: FloatArray) -> bool:
    """Redo floor[j - a] = min q[start] for the ends j whose starts NMS cuts into, over the
    starts it allows (+inf if none). False, floor untouched, if the table would be too big."""
    lows, highs = search.cuts[0][:, a:], search.cuts[1][:, a:]  # (K, m-a+1)
    ends = np.arange(a, search.problem.m + 1)  # exclusive
    first, last = np.maximum(ends - b, 0), ends - a
    hit = np.flatnonzero(((lows <= last) & (highs >= first) & (lows <= highs)).any(axis=0))
    if hit.size == 0:
        return True
    first, last, lows, highs = first[hit], last[hit], lows[:, hit], highs[:, hit]
    base = int(first.min())  # the table covers only the starts these ends may use
    span = int(last.max()) - base + 1
    levels = (b - a + 1).bit_length()
    if levels * span > _TABLE:
        return False
    table = min_table(q[base : base + span], levels)
    first, last, lows, highs = first - base, last - base, lows - base, highs - base
    # The allowed starts are the gaps between the cuts (sorted by low end): gap k runs from past
    # every earlier cut's high end to before cut k's low end; the last gap runs on to `last`.
    past = np.where(highs >= lows, highs + 1, first)  # an empty cut moves nothing
    gap_first = np.maximum.accumulate(np.vstack((first, past)), axis=0)  # (K+1, hits)
    gap_last = np.vstack((np.minimum(last, lows - 1), last))
    floor[hit] = range_min(table, gap_first, gap_last).min(axis=0)
    return True
