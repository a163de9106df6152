"""Window search: the best [start, end] of a per-frame similarity sequence, exact or coarse-to-fine.

Pure numpy: no I/O, no logging, no clock. For a window of n samples in a sequence of m:

- "mean":     the mean inside the window.
- "contrast": the mean inside minus the mean outside. The whole sequence (n = m) has nothing
  outside and scores 0: it says nothing about *where* the text happens, so any window that
  stands out beats it, and it wins only when every allowed window scores below 0.
- "balanced": contrast times h(n) ** (1 - BALANCE), h(n) = n (m - n) / m, the window's effective
  size. Contrast's preference for the whole moment over its best few samples comes from the
  1 / (m - n) of the mean outside, and fades as the video grows (m >> n: contrast ~ the mean
  inside less a constant, whose best window is the shortest allowed); the factor keeps a
  preference for size that does not depend on m. BALANCE = 1 is contrast, 0.5 the z-score of a
  mean shift (the scan statistic), which over-extends onto related neighbours.

All three are S / h(n) ** p, with S the window's sum of deviations from the global mean and h
concave (and so h ** p, for 0 < p <= 1): h(n) = n, p = 1 for mean (up to the constant mean);
h(n) = n (m - n) / m, p = 1 for contrast and p = BALANCE for balanced. The whole sequence scores 0
under contrast and balanced.

Methods:

- "exact" (default). Mean: Dinkelbach (Newton) iteration on the answer x, each pass one O(m)
  sweep (max over windows of sum(s - x) via a sliding minimum of prefix sums), over lengths
  [L, min(U, 2L - 1)]: by Huang's lemma a longer window splits into two of >= L samples, one at
  least as good, so the earliest-shortest optimum is that short. Contrast and balanced: branch and
  bound over intervals of lengths; an interval is bounded by Dinkelbach on the chord of h ** p
  (below it, so the bound is valid), and one of <= _LEAF lengths is enumerated. All are exact up to
  floating-point rounding (scores are compared in units of max|scores|).
- "brute": every window from prefix sums, in slabs of bounded memory: the reference.
- "multiscale": coarse-to-fine heuristic. Lengths are split in octaves; each octave is
  searched exhaustively at the coarsest level of a pyramid of pairwise means where its
  shortest window still spans 4 blocks (under contrast also octaves of the samples left
  *outside*, for windows that differ only by a few excluded samples at the ends). The best few
  windows per octave, kept apart by NMS, are refined one level at a time with a margin of 2
  samples per boundary, then polished at full resolution (coordinate ascent on start, end and
  position, then a joint search of +-64 samples on both boundaries). It can miss when a
  near-tie lies in another region or a boundary sits further out than the polish reaches;
  choose_method says where it was measured exact enough and worth it.

Ties: scores within TIE_RTOL * max|scores| tie; the earliest start wins, then the shortest.
Top-k is greedy NMS with the same rule at every step: the next window is the best among those
whose temporal IoU (inclusive sample counts) with each window already chosen is <= nms_iou,
and that share at most NESTED of the shorter window with each (so neither lies mostly inside
the other: a short window inside a long one has a small IoU, but it is not another moment).
With method="exact" every step is exact: NMS enters the bounds through a range-minimum table
over the starts it allows; "brute" does the same by enumeration.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from clipground.errors import UsageError
from clipground.numeric import unit_rows

__all__ = [
    "METHODS",
    "OBJECTIVES",
    "TIE_RTOL",
    "Window",
    "best_window",
    "best_windows",
    "choose_method",
    "similarity",
]

OBJECTIVES = ("mean", "contrast", "balanced")
BALANCE = 0.8  # balanced's exponent: see the module docstring and the README's Accuracy section
NESTED = 0.5  # NMS also suppresses a window sharing more than this of the shorter with a chosen one
METHODS = ("exact", "brute", "multiscale")

TIE_RTOL = 1e-11  # scores closer than this times max|scores| tie: rounding blurs exact equality
_SLAB = 1 << 21  # elements per slab of vectorised work: each temporary stays near 16 MiB
_SMALL = 1 << 16  # windows (m x lengths) up to which "exact" enumerates them all
_LEAF = 8  # a length interval this narrow is enumerated: cheaper than bounding it
_FEW = 256  # windows checked against all chosen ones in one numpy pass (see `_compatible`)
_TABLE = 1 << 22  # entries of a range-minimum table, beyond which NMS bounds get looser
_MAX_ITER = 64  # Dinkelbach passes per interval; a bound stays valid if it stops early
_TINY = 1e-300  # floor for norms, so zero vectors get similarity 0 instead of NaN

_BAND_BLOCKS = 4  # multiscale: a band's shortest window spans this many blocks at its level
_BAND_SEEDS = 8  # multiscale: windows per length band (kept apart by NMS) refined to level 0
_SEED_IOU = 0.5  # multiscale: NMS threshold that keeps a band's seeds apart
_POLISHED = 8  # multiscale: best windows polished by coordinate ascent at full resolution
_REACH = 512  # multiscale: how far (in samples) one polishing move may shift a boundary
_JOINT = 2  # multiscale: polished windows then searched jointly in both boundaries
_JOINT_REACH = 64  # multiscale: the joint search moves each boundary this many steps each way
_MARGIN = 2  # multiscale: samples each boundary may move per level (each level doubles resolution)
# choose_method picks multiscale for contrast and balanced from here on. scripts/bench_search.py
# measured, on realistic sequences: at 10^5 samples exact takes ~30 ms and multiscale is only ~3x
# faster (998/1000 exact hits); at 10^6 exact takes ~1 s and multiscale is ~25x faster (20/20 hits
# in the bench, 59/60 in a longer run before its one miss was fixed). Balanced: 100/100 hits at
# 10^5 and 10/10 at 10^6 (17x faster). Below, exactness is cheap.
_AUTO_MIN_SAMPLES = 500_000

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Pick = tuple[int, int]  # (start, length) of a window, in samples


@dataclass(frozen=True)
class Window:
    """A window of samples [start, end], end inclusive, and its objective score."""

    start: int  # first sample of the window
    end: int  # last sample of the window, inclusive
    score: float  # objective value, recomputed from the window itself

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise UsageError(
                f"a window needs 0 <= start <= end, got start={self.start}, end={self.end}"
            )

    @property
    def length(self) -> int:
        """Number of samples in the window."""
        return self.end - self.start + 1


# ---------------------------------------------------------------- public API


def similarity(frame_embeddings: ArrayLike, query_embedding: ArrayLike) -> FloatArray:
    """Cosine similarity of each frame embedding (N, D) with one query embedding (D,)."""
    frames = _finite_array("frame_embeddings", frame_embeddings, ndim=2)  # (N, D)
    query = _finite_array("query_embedding", query_embedding, ndim=1)  # (D,)
    if frames.shape[1] != query.shape[0]:
        raise UsageError(
            f"embedding sizes differ: frames {frames.shape}, query {query.shape}"
        )
    return np.clip(unit_rows(frames) @ unit_rows(query[None, :])[0], -1.0, 1.0)  # (N,)


def best_window(
    scores: ArrayLike,
    *,
    min_len: int,
    max_len: int | None = None,
    objective: str = "balanced",
    method: str = "exact",
) -> Window:
    """The best window with min_len <= length <= max_len (None: the whole sequence)."""
    found = best_windows(
        scores, min_len=min_len, max_len=max_len, objective=objective, top_k=1, method=method
    )
    return found[0]


def best_windows(
    scores: ArrayLike,
    *,
    min_len: int,
    max_len: int | None = None,
    objective: str = "balanced",
    top_k: int = 5,
    nms_iou: float = 0.3,
    method: str = "exact",
) -> list[Window]:
    """Up to top_k windows, best first, none overlapping an earlier one by IoU above nms_iou."""
    problem = _problem(scores, min_len, max_len, objective)
    _check_choice("method", method, METHODS)
    top_k = _as_int("top_k", top_k)
    if top_k < 1:
        raise UsageError(f"top_k must be >= 1, got {top_k}")
    if not isinstance(nms_iou, (int, float, np.number)) or not 0.0 <= nms_iou <= 1.0:
        raise UsageError(f"nms_iou must be a number in [0, 1], got {nms_iou!r}")
    if method == "multiscale":
        picks = _multiscale(problem, top_k, float(nms_iou))
    elif method == "brute" or problem.m * (problem.max_len - problem.min_len + 1) <= _SMALL:
        # small problems: enumerating every window (exact too) beats branch and bound's set-up
        picks = _greedy(problem, top_k, float(nms_iou), _brute_step)
    else:
        picks = _exact(problem, top_k, float(nms_iou))
    return [_window(problem, start, length) for start, length in picks]


def choose_method(
    n_samples: int, *, min_len: int, max_len: int | None = None, objective: str = "balanced"
) -> str:
    """"multiscale" where the bench measured it >= 99% exact and far faster, else "exact"."""
    _check_choice("objective", objective, OBJECTIVES)
    _lengths(n_samples, min_len, max_len)  # the same errors best_window would raise
    if objective != "mean" and n_samples >= _AUTO_MIN_SAMPLES:
        return "multiscale"
    return "exact"  # exact mean is O(m); exact contrast below the cut takes well under a second


# ---------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Problem:
    """A validated search: scores scaled to |u| <= 1, and prefix sums of their deviations."""

    u: FloatArray  # (m,) scores / scale; scaling keeps sums far from overflow
    scale: float  # max|scores|, or 1 when all are 0
    min_len: int
    max_len: int
    objective: str

    @property
    def m(self) -> int:
        """Number of samples."""
        return int(self.u.size)

    @cached_property
    def prefix(self) -> FloatArray:
        """(m+1,) prefix sums of u - mean(u); centring keeps them small."""
        return np.concatenate(([0.0], np.cumsum(self.u - self.u.mean())))

    @cached_property
    def index(self) -> FloatArray:
        """(m+1,) 0.0, 1.0, ..., m: reused by every Dinkelbach pass."""
        return np.arange(self.m + 1, dtype=np.float64)


def _problem(
    scores: ArrayLike, min_len: int, max_len: int | None, objective: str
) -> _Problem:
    s = _finite_array("scores", scores, ndim=1)
    if s.size == 0:
        raise UsageError("scores is empty: need at least one sample")
    _check_choice("objective", objective, OBJECTIVES)
    lo, hi = _lengths(s.size, min_len, max_len)
    scale = float(np.max(np.abs(s))) or 1.0
    return _Problem(s / scale, scale, lo, hi, objective)


def _finite_array(name: str, value: ArrayLike, *, ndim: int) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise UsageError(f"{name} must be numeric: {err}") from None
    if array.ndim != ndim:
        raise UsageError(f"{name} must be {ndim}-D, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array.ravel()))
    if bad.size:
        first = int(bad[0])
        raise UsageError(f"{name} must be finite, got {array.ravel()[first]} at flat index {first}")
    return array


def _lengths(m: int, min_len: int, max_len: int | None) -> tuple[int, int]:
    lo = _as_int("min_len", min_len)
    if lo < 1:
        raise UsageError(f"min_len must be >= 1 sample, got {lo}")
    if lo > m:
        raise UsageError(f"min_len={lo} exceeds the {m} samples in scores")
    hi = m if max_len is None else _as_int("max_len", max_len)
    if hi < lo:
        raise UsageError(f"max_len={hi} is below min_len={lo}")
    return lo, min(hi, m)  # a cap beyond the sequence is no cap


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise UsageError(f"{name} must be an integer, got {value!r}") from None


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


# ---------------------------------------------------------------- shared pieces


def _window(problem: _Problem, start: int, length: int) -> Window:
    inside = problem.u[start : start + length]
    if problem.objective == "mean":
        score = float(inside.mean())
    elif length == problem.m:
        score = 0.0  # nothing outside: see the module docstring
    else:
        outside = np.concatenate((problem.u[:start], problem.u[start + length :]))
        contrast = float(inside.mean() - outside.mean())
        score = contrast * size_factor(problem.objective, length, problem.m)
    return Window(int(start), int(start + length - 1), score * problem.scale)


def size_factor(objective: str, lengths: Any, total: Any) -> Any:
    """What contrast is multiplied by: for balanced, the window's effective size
    length * (total - length) / total to the power 1 - BALANCE, in the units of `lengths` and
    `total` (samples here, seconds in `refine`); 1 for the others."""
    if objective != "balanced":
        return 1.0
    return np.maximum(lengths * (total - lengths) / total, 0.0) ** (1.0 - BALANCE)


def _objective_values(
    csum: FloatArray, starts: IntArray, lengths: IntArray, objective: str
) -> FloatArray:
    """Objective of windows (starts, lengths) from prefix sums csum (M+1,) of M samples."""
    m = csum.size - 1
    inside = csum[starts + lengths] - csum[starts]
    if objective == "mean":
        return inside / lengths
    rest = m - lengths
    with np.errstate(divide="ignore", invalid="ignore"):
        contrast = inside / lengths - (csum[-1] - inside) / rest
    return np.where(rest > 0, contrast * size_factor(objective, lengths, m), 0.0)


def _compatible(
    starts: IntArray, lengths: IntArray | int, chosen: list[Pick], nms_iou: float
) -> NDArray[np.bool_]:
    """Which windows may join `chosen`: with each, IoU <= nms_iou and at most NESTED of the
    shorter window shared (so not equal either).

    For a few windows, all chosen ones at once: the search asks this thousands of times about
    one window or a handful, where numpy's cost per call is what counts; for many, one chosen
    window at a time (fewer, smaller temporaries)."""
    shape = np.broadcast(starts, lengths).shape
    if len(chosen) < 2 or math.prod(shape) > _FEW:
        return _compatible_each(starts, lengths, chosen, nms_iou)
    picked = np.array(chosen)  # (K, 2)
    start, length = picked[:, 0], picked[:, 1]
    starts, lengths = np.asarray(starts)[..., None], np.asarray(lengths)[..., None]
    inter = np.maximum(np.minimum(starts + lengths, start + length) - np.maximum(starts, start), 0)
    union = lengths + length - inter
    nested = inter > NESTED * np.minimum(lengths, length)
    return ((inter <= nms_iou * union) & ~nested).all(axis=-1)


def _compatible_each(
    starts: IntArray, lengths: IntArray | int, chosen: list[Pick], nms_iou: float
) -> NDArray[np.bool_]:
    """`_compatible`, one chosen window at a time."""
    ok = np.ones(np.broadcast(starts, lengths).shape, dtype=bool)
    ends = starts + lengths
    for start, length in chosen:
        # np.maximum, not np.clip: the same, at a fraction of the call cost on small arrays
        inter = np.maximum(np.minimum(ends, start + length) - np.maximum(starts, start), 0)
        union = lengths + length - inter
        ok &= (inter <= nms_iou * union) & (inter <= NESTED * np.minimum(lengths, length))
    return ok


def _greedy(
    problem: _Problem,
    top_k: int,
    nms_iou: float,
    step: Callable[[_Problem, list[Pick], float], Pick | None],
) -> list[Pick]:
    chosen: list[Pick] = []
    while len(chosen) < top_k:
        pick = step(problem, chosen, nms_iou)
        if pick is None:
            break  # every remaining window overlaps a chosen one too much
        chosen.append(pick)
    return chosen


def _first_compatible(problem: _Problem, chosen: list[Pick], nms_iou: float) -> Pick | None:
    """The earliest, then shortest, window compatible with chosen: the answer when all tie."""
    lengths = np.arange(problem.min_len, problem.max_len + 1)
    rows = max(1, _SLAB // lengths.size)
    for first in range(0, problem.m - problem.min_len + 1, rows):
        starts = np.arange(first, min(first + rows, problem.m - problem.min_len + 1))[:, None]
        ok = _compatible(starts, lengths[None, :], chosen, nms_iou)
        ok &= starts + lengths[None, :] <= problem.m
        if ok.any():
            row, col = np.unravel_index(int(np.argmax(ok)), ok.shape)  # row-major: start first
            return int(starts[row, 0]), int(lengths[col])
    return None


# ---------------------------------------------------------------- brute force (the reference)


def _brute_step(problem: _Problem, chosen: list[Pick], nms_iou: float) -> Pick | None:
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


def _brute_slabs(
    problem: _Problem, csum: FloatArray, chosen: list[Pick], nms_iou: float
) -> Iterator[tuple[IntArray, IntArray, FloatArray]]:
    """Yield (starts, lengths, values) slabs covering every allowed window; invalid ones -inf."""
    m = problem.m
    rows = max(1, _SLAB // (m + 1))
    for first in range(problem.min_len, problem.max_len + 1, rows):
        lengths = np.arange(first, min(first + rows, problem.max_len + 1))[:, None]  # (R, 1)
        starts = np.arange(m - first + 1)[None, :]  # (1, C)
        valid = starts + lengths <= m
        safe = np.where(valid, starts, 0)
        vals = _objective_values(csum, safe, lengths, problem.objective)  # (R, C)
        if chosen:
            valid &= _compatible(starts, lengths, chosen, nms_iou)
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


# ---------------------------------------------------------------- exact: branch and bound


class _Run(NamedTuple):
    """Outcome of Dinkelbach iteration on one length interval."""

    x: float  # last ratio reached
    gain: float  # max over windows of S - x * chord(n); <= 0 means no ratio exceeds x
    start: int  # the window that attained gain
    length: int


@dataclass
class _Part:
    """A length interval searched to the end, with its best value."""

    lo: int
    hi: int
    value: float
    fallback: Pick  # a window attaining `value`, should rounding hide it from the tie pass


@dataclass
class _Search:
    """State of one branch and bound: the best value so far and the intervals settled."""

    problem: _Problem
    chosen: list[Pick]
    nms_iou: float
    best: float = -math.inf
    best_pick: Pick | None = None  # a window attaining `best`, should rounding hide it later
    parts: list[_Part] = field(default_factory=list)
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
                self.known_cuts[start, n] = _incompatible_starts(ends, start, n, self.nms_iou)
        cuts = [self.known_cuts[pick] for pick in self.chosen]
        lows, highs = np.array([lo for lo, _ in cuts]), np.array([hi for _, hi in cuts])
        order = np.argsort(lows, axis=0, kind="stable")
        return _merged_cuts(np.take_along_axis(lows, order, 0), np.take_along_axis(highs, order, 0))


def _merged_cuts(lows: IntArray, highs: IntArray) -> tuple[IntArray, IntArray]:
    """Cuts (K, E) sorted by low end per column (empty ones, lo > hi, last), with those that
    overlap or touch merged: the same starts in as few rows as the busiest column needs."""
    empty = lows > highs
    reach = np.maximum.accumulate(np.where(empty, -2, highs), axis=0)  # furthest high so far
    before = np.vstack((np.full((1, lows.shape[1]), -2), reach[:-1]))
    opens = ~empty & (lows > before + 1)  # a cut past everything before it starts a new run
    closes = ~empty & np.vstack((opens[1:] | empty[1:], np.ones((1, lows.shape[1]), bool)))
    row = np.cumsum(opens, axis=0) - 1  # each cut's merged row
    never = np.iinfo(np.int64).max // 4  # empty cuts sort last, as in `_incompatible_starts`
    rows = max(1, int(opens.sum(axis=0).max(initial=0)))
    merged_lows = np.full((rows, lows.shape[1]), never, dtype=np.int64)
    merged_highs = np.full((rows, lows.shape[1]), never - 1, dtype=np.int64)
    cols = np.broadcast_to(np.arange(lows.shape[1]), lows.shape)
    merged_lows[row[opens], cols[opens]] = lows[opens]
    merged_highs[row[closes], cols[closes]] = reach[closes]
    return merged_lows, merged_highs


def _exact(problem: _Problem, top_k: int, nms_iou: float) -> list[Pick]:
    """Greedy NMS, each step an exact search; later steps start from multiscale's windows."""
    if top_k == 1 or np.ptp(problem.u) <= TIE_RTOL / 2:
        return _greedy(problem, top_k, nms_iou, _exact_step)
    csum = np.concatenate(([0.0], np.cumsum(problem.u)))
    pool = _candidates(problem, csum, top_k)  # a good incumbent lets the bounds prune at once
    known_cuts: dict[Pick, tuple[IntArray, IntArray]] = {}

    def step(problem: _Problem, chosen: list[Pick], nms_iou: float) -> Pick | None:
        return _exact_step(problem, chosen, nms_iou, pool if chosen else None, known_cuts)

    return _greedy(problem, top_k, nms_iou, step)


def _exact_step(
    problem: _Problem,
    chosen: list[Pick],
    nms_iou: float,
    pool: IntArray | None = None,
    known_cuts: dict[Pick, tuple[IntArray, IntArray]] | None = None,
) -> Pick | None:
    """The best window compatible with chosen, ties to the earliest then shortest.

    pool: (K, 2) windows whose best compatible value seeds the search; known_cuts: the cuts of
    windows chosen in earlier steps (filled in as they are made). Both only speed it up."""
    if np.ptp(problem.u) <= TIE_RTOL / 2:
        return _first_compatible(problem, chosen, nms_iou)  # every window ties
    search = _Search(problem, chosen, nms_iou, known_cuts={} if known_cuts is None else known_cuts)
    if pool is not None:
        _offer_pool(search, pool)
    lo, hi = problem.min_len, problem.max_len
    if problem.objective == "mean" and not chosen:
        hi = min(hi, 2 * lo - 1)  # Huang: halve a longer window; one half is at least as good
    if problem.objective != "mean" and hi == problem.m:
        hi -= 1  # the whole sequence is a special case, scored 0
        if not chosen or _compatible(np.array(0), problem.m, chosen, nms_iou):
            search.offer(0.0, (0, problem.m))
            search.parts.append(_Part(problem.m, problem.m, 0.0, (0, problem.m)))
    if lo <= hi:
        _branch_and_bound(search, lo, hi)
    if search.best == -math.inf:
        return None
    return _tie_break(search)


def _offer_pool(search: _Search, pool: IntArray) -> None:
    """Offer the best pool window NMS allows, valued by the search's own arithmetic."""
    problem = search.problem
    starts, lengths = pool[:, 0], pool[:, 1]
    ok = _compatible(starts, lengths, search.chosen, search.nms_iou)
    if problem.objective != "mean":
        ok &= lengths < problem.m  # the whole sequence is scored apart
    if ok.any():
        starts, lengths = starts[ok], lengths[ok]
        sums = problem.prefix[starts + lengths] - problem.prefix[starts]
        i = int(np.argmax(sums / _denominator(problem, lengths)))
        search.offer(float(sums[i] / _denominator(problem, lengths[i])),
                     (int(starts[i]), int(lengths[i])))


def _branch_and_bound(search: _Search, lo: int, hi: int) -> None:
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
            bound = _interval_bound(search, c, d)
            if bound >= search.best - TIE_RTOL:
                heapq.heappush(heap, (-bound, c, d))


def _is_settled(search: _Search, a: int, b: int) -> bool:
    # mean's chord is its denominator itself, so Dinkelbach is exact unless NMS masks windows
    return b - a < _LEAF or (search.problem.objective == "mean" and not search.chosen)


def _settle(search: _Search, a: int, b: int) -> None:
    if b - a < _LEAF:
        value, pick = _enumerate(search, a, b)
    else:  # mean, no NMS: Dinkelbach's answer is exact
        run = _dinkelbach(search, a, b, 0.0, 1.0, _start_at(search, a))
        value, pick = run.x, search.best_pick or (run.start, run.length)
    if value > -math.inf:
        search.parts.append(_Part(a, b, value, pick))
        search.offer(value, pick)


def _enumerate(search: _Search, a: int, b: int) -> tuple[float, Pick]:
    best, pick = -math.inf, (0, a)
    for n in range(a, b + 1):
        vals = _masked_values(search, n)
        i = int(np.argmax(vals))
        if vals[i] > best:
            best, pick = float(vals[i]), (i, n)
    return best, pick


def _masked_values(search: _Search, n: int) -> FloatArray:
    """Objective of every window of n samples (by start), -inf where NMS forbids it."""
    problem = search.problem
    vals = (problem.prefix[n:] - problem.prefix[:-n]) / _denominator(problem, n)
    if search.chosen:
        ok = _compatible(np.arange(vals.size), n, search.chosen, search.nms_iou)
        vals = np.where(ok, vals, -math.inf)
    return vals


def _denominator(problem: _Problem, n: Any) -> Any:
    """h(n) ** p, for a length or an array of them: objective = (sum of deviations) / h(n) ** p.

    Concave in n: n for mean, n * (m - n) / m for contrast, that ** BALANCE for balanced (n < m)."""
    if problem.objective == "mean":
        return n * 1.0
    h = n * (problem.m - n) / problem.m
    return h ** BALANCE if problem.objective == "balanced" else h


def _interval_bound(search: _Search, a: int, b: int) -> float:
    """An upper bound on the objective over lengths [a, b]; also raises search.best."""
    problem = search.problem
    ha, hb = _denominator(problem, a), _denominator(problem, b)
    beta = (hb - ha) / (b - a)
    alpha = ha - beta * a  # chord of the concave h: below h on [a, b]
    x0 = search.best - TIE_RTOL if search.best > -math.inf else _start_at(search, a)
    run = _dinkelbach(search, a, b, alpha, beta, x0)
    if run.gain == -math.inf:
        return -math.inf
    # S <= x * chord(n) + gain for every window, so S / chord(n) is bounded by:
    ratio = run.x + run.gain / (min(ha, hb) if run.gain >= 0 else max(ha, hb))
    if ratio >= 0 or problem.objective == "mean":
        return ratio  # S >= 0: S / h <= S / chord; S < 0: the value is negative anyway
    # every window has S < 0 here; S / h <= ratio * chord / h <= ratio * min(chord) / max(h)
    peak = _denominator(problem, min(max(problem.m / 2, a), b))
    return ratio * min(ha, hb) / peak


def _start_at(search: _Search, n: int) -> float:
    """The best value of windows of n samples, ignoring NMS: a Dinkelbach start, as the chord
    meets h at the interval's ends. The window is offered if NMS allows it."""
    problem = search.problem
    sums = problem.prefix[n:] - problem.prefix[:-n]
    start = int(np.argmax(sums))
    value = float(sums[start] / _denominator(problem, n))
    if not search.chosen or _compatible(np.array(start), n, search.chosen, search.nms_iou):
        search.offer(value, (start, n))
    return value


def _dinkelbach(
    search: _Search, a: int, b: int, alpha: float, beta: float, x: float
) -> _Run:
    """Newton on x: max ratio S / (alpha + beta * n) over lengths [a, b], from a lower start x."""
    problem = search.problem
    for _ in range(_MAX_ITER):
        gain, start, n = _max_penalised_sum(search, a, b, x * beta)
        if gain == -math.inf:
            break  # NMS leaves no window in [a, b]
        gain -= x * alpha
        total = problem.prefix[start + n] - problem.prefix[start]
        if not search.chosen or _compatible(np.array(start), n, search.chosen, search.nms_iou):
            search.offer(total / _denominator(problem, n), (start, n))  # a real window
        ratio = total / (alpha + beta * n)
        if gain <= 0 or ratio <= x:
            break  # converged, or rounding stalled it: the bound uses gain either way
        x = ratio
    return _Run(x, gain, start, n)


def _max_penalised_sum(search: _Search, a: int, b: int, slope: float) -> tuple[float, int, int]:
    """max over allowed windows of a..b samples of sum(u - mean - slope): (value, start, n).

    Allowed means compatible with search.chosen; if the range-minimum table would be too big,
    the windows NMS forbids are allowed too and the window may be one of them."""
    problem = search.problem
    q = problem.prefix - slope * problem.index  # (m+1,) prefix sums of the penalised deviations
    # end j (exclusive) may start at j-b .. j-a; +inf pads the starts before 0
    padded = np.concatenate((np.full(b - a, np.inf), q[: problem.m - a + 1]))
    floor = _sliding_min(padded, b - a + 1)  # (m-a+1,) for j = a..m
    masked = bool(search.chosen) and _floor_compatible(search, q, a, b, floor)
    gains = q[a:] - floor
    j = int(np.argmax(gains)) + a
    if gains[j - a] == -math.inf:
        return -math.inf, 0, 0
    starts = np.arange(max(0, j - b), j - a + 1)
    if masked:
        starts = starts[_allowed_starts(search, int(starts[0]), int(starts[-1]), j)]
    start = int(starts[np.argmin(q[starts])])
    return float(gains[j - a]), start, j - start


def _allowed_starts(search: _Search, first: int, last: int, end: int) -> NDArray[np.bool_]:
    """Which starts first..last NMS allows for windows ending at `end` (exclusive): those outside
    every chosen window's cut (as `_compatible` says, from the cuts already made)."""
    allowed = np.ones(last - first + 1, dtype=bool)
    lows, highs = search.cuts
    for lo, hi in zip(lows[:, end].tolist(), highs[:, end].tolist(), strict=True):
        lo, hi = max(lo, first), min(hi, last)
        if lo <= hi:
            allowed[lo - first : hi - first + 1] = False
    return allowed


def _floor_compatible(search: _Search, q: FloatArray, a: int, b: int, floor: FloatArray) -> bool:
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
    table = _min_table(q[base : base + span], levels)
    first, last, lows, highs = first - base, last - base, lows - base, highs - base
    # The allowed starts are the gaps between the cuts (sorted by low end): gap k runs from past
    # every earlier cut's high end to before cut k's low end; the last gap runs on to `last`.
    past = np.where(highs >= lows, highs + 1, first)  # an empty cut moves nothing
    gap_first = np.maximum.accumulate(np.vstack((first, past)), axis=0)  # (K+1, hits)
    gap_last = np.vstack((np.minimum(last, lows - 1), last))
    floor[hit] = _range_min(table, gap_first, gap_last).min(axis=0)
    return True


def _incompatible_starts(
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
        return ~_compatible(first, ends - first + 1, [(start, length)], nms_iou)
    for _ in range(2):
        hi = np.where((hi + 1 <= near) & bad(hi + 1), hi + 1, hi)
        hi = np.where((hi >= start) & ~bad(np.maximum(hi, 0)), hi - 1, hi)
        lo = np.where((lo >= 1) & (lo <= start) & bad(lo - 1), lo - 1, lo)
        lo = np.where((lo <= start) & ~bad(lo), lo + 1, lo)
    empty = (hi < start) | (near < start)
    never = np.iinfo(np.int64).max // 4  # empty cuts sort last, after every real one
    return np.where(empty, never, np.minimum(lo, start)), np.where(empty, never - 1, hi)


def _nested_starts(ends: IntArray, start: int, length: int) -> tuple[IntArray, IntArray]:
    """For windows ending at `ends`, the starts lo..hi that share more than NESTED of the shorter
    window with the chosen (start, length), estimated to +-1 (`_incompatible_starts` settles
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


def _min_table(q: FloatArray, levels: int) -> FloatArray:
    """(levels, n) sparse table: row k holds min(q[i : i + 2**k])."""
    table = np.full((levels, q.size), np.inf)
    table[0] = q
    for k in range(1, levels):
        half = 1 << (k - 1)
        np.minimum(table[k - 1, :-half], table[k - 1, half:], out=table[k, :-half])
    return table


def _range_min(table: FloatArray, first: IntArray, last: IntArray) -> FloatArray:
    """min q[first..last] per entry, +inf where first > last."""
    width = np.maximum(last - first + 1, 1)
    k = np.minimum(np.frexp(width)[1] - 1, table.shape[0] - 1)  # floor(log2), exactly
    top = table.shape[1] - 1
    lo = table[k, np.minimum(np.maximum(first, 0), top)]
    hi = table[k, np.minimum(np.maximum(last - (1 << k) + 1, 0), top)]
    return np.where(last >= first, np.minimum(lo, hi), np.inf)


def _sliding_min(x: FloatArray, w: int) -> FloatArray:
    """min(x[i : i + w]) for every i, by doubling: O(len(x) log w) contiguous SIMD passes,
    faster here than the O(len(x)) van Herk / Gil-Werman scans (ufunc.accumulate is slow)."""
    n_out = x.size - w + 1
    span, cur = 1, x
    while 2 * span <= w:
        cur = np.minimum(cur[:-span], cur[span:])  # now min over 2 * span samples
        span *= 2
    # two windows of `span` samples, overlapping, cover each window of w
    return np.minimum(cur[:n_out], cur[w - span : w - span + n_out])


def _sliding_max(x: FloatArray, w: int) -> FloatArray:
    return -_sliding_min(-x, w)


# ---------------------------------------------------------------- exact: the tie rule


def _tie_break(search: _Search) -> Pick:
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


def _earliest_in(search: _Search, part: _Part, threshold: float) -> Pick | None:
    problem = search.problem
    if part.lo == problem.m:
        return (0, problem.m)  # the whole sequence, contrast 0
    if part.hi - part.lo < _LEAF:
        found = [_earliest_at(search, n, threshold) for n in range(part.lo, part.hi + 1)]
        return min((pick for pick in found if pick is not None), default=None)
    return _earliest_mean(problem, part.lo, part.hi, threshold)


def _earliest_at(search: _Search, n: int, threshold: float) -> Pick | None:
    ok = _masked_values(search, n) >= threshold
    return (int(np.argmax(ok)), n) if ok.any() else None


def _earliest_mean(problem: _Problem, lo: int, hi: int, threshold: float) -> Pick | None:
    """Earliest, then shortest, window of [lo, hi] samples with mean deviation >= threshold."""
    m = problem.m
    q = problem.prefix - threshold * problem.index  # window is in iff q[end] - q[start] >= 0
    w = hi - lo + 1
    padded = np.concatenate((q[lo:], np.full(w - 1, -np.inf)))  # ends past m never qualify
    reach = _sliding_max(padded, w)  # (m-lo+1,) best end for each start
    ok = reach - q[: m - lo + 1] >= 0
    if not ok.any():
        return None
    start = int(np.argmax(ok))
    ends = q[start + lo : min(start + hi, m) + 1] - q[start] >= 0
    return start, lo + int(np.argmax(ends))


# ---------------------------------------------------------------- multiscale


class _Band(NamedTuple):
    """Windows searched together at one level: lengths lo..hi, or with `outside`, lengths
    m - hi .. m - lo (long windows, told apart by the few samples they leave out)."""

    level: int
    lo: int
    hi: int
    outside: bool


def _bands(problem: _Problem) -> list[_Band]:
    """Lengths split in octaves, each searched at the coarsest level that still resolves it."""
    bands = [_Band(_band_level(lo), lo, hi, False)
             for lo, hi in _octaves(problem.min_len, problem.max_len)]
    if problem.objective != "mean":
        # under contrast what lies outside counts as much as what lies inside
        m = problem.m
        outside = _octaves(max(1, m - problem.max_len), min(m - problem.min_len, m // 2))
        bands += [_Band(_band_level(lo), lo, hi, True) for lo, hi in outside]
    return bands


def _octaves(lo: int, hi: int) -> list[tuple[int, int]]:
    return [(max(lo, 1 << octave), min(hi, (2 << octave) - 1))
            for octave in range(lo.bit_length() - 1, hi.bit_length()) if lo <= hi]


def _band_level(shortest: int) -> int:
    # the coarsest level at which the band's shortest extent still spans _BAND_BLOCKS blocks
    return max(0, (shortest // _BAND_BLOCKS).bit_length() - 1)


def _pyramid(csum: FloatArray, top: int) -> list[FloatArray]:
    """Prefix sums at levels 0 .. top from those of u (m+1,); level k has blocks of 2**k
    samples, each its mean."""
    # subsampled prefix sums, no pass over the samples per level: the price is that a short
    # last block counts as diluted by its missing samples, a bias at the very end that the
    # refinement at finer levels removes
    return [_block_csum(csum, level) for level in range(top + 1)]


def _block_csum(csum: FloatArray, level: int) -> FloatArray:
    block = 1 << level
    coarse = csum[::block]
    if (csum.size - 1) % block:
        coarse = np.append(coarse, csum[-1])
    return coarse / block


def _level_lengths(problem: _Problem, level: int, lo: int, hi: int, size: int) -> tuple[int, int]:
    """Lengths at a level of any full-resolution window of lo..hi samples, give or take one."""
    if level == 0:
        return lo, hi
    return max(1, lo >> level), min(size, -(-hi >> level) + 1)


def _multiscale(problem: _Problem, top_k: int, nms_iou: float) -> list[Pick]:
    """Greedy NMS over the windows the coarse-to-fine search ends with."""
    csum = np.concatenate(([0.0], np.cumsum(problem.u)))
    return _nms(problem, csum, _candidates(problem, csum, top_k), top_k, nms_iou)


def _candidates(problem: _Problem, csum: FloatArray, top_k: int) -> IntArray:
    """(K, 2) windows: each length band searched at a coarse level, its best refined level by
    level to full resolution, and the best of those polished there."""
    bands = _bands(problem)
    csums = _pyramid(csum, max(band.level for band in bands))
    seeds = np.zeros((0, 2), dtype=np.int64)
    for level in range(len(csums) - 1, -1, -1):
        if level < len(csums) - 1:
            seeds = _refine(problem, csums[level], level, seeds)
        found = [_band_seeds(problem, csums[level], band, top_k)
                 for band in bands if band.level == level]
        seeds = np.concatenate([seeds, *found])
    if problem.max_len == problem.m:
        seeds = np.concatenate([seeds, [[0, problem.m]]])  # contrast 0: wins if all else is < 0
    return _polish(problem, csums[0], seeds, top_k)


def _polish(problem: _Problem, csum: FloatArray, seeds: IntArray, top_k: int) -> IntArray:
    """Coordinate ascent at full resolution on the best seeds: best start for the end, and so on."""
    seeds = np.unique(seeds, axis=0)
    vals = _objective_values(csum, seeds[:, 0], seeds[:, 1], problem.objective)
    order = np.argsort(-vals, kind="stable")[: max(_POLISHED, top_k)]
    polished = [_ascend(problem, csum, int(s), int(n), _REACH) for s, n in seeds[order]]
    polished = np.array(polished, dtype=np.int64).reshape(-1, 2)
    # the best few again with moves as long as the window (the objective along one boundary
    # is a random walk with many local maxima), then searched in both boundaries jointly
    vals = _objective_values(csum, polished[:, 0], polished[:, 1], problem.objective)
    best = polished[np.argsort(-vals, kind="stable")[:_JOINT]]
    far = [_ascend(problem, csum, int(s), int(n), problem.max_len) for s, n in best]
    joint = [_joint(problem, csum, s, n) for s, n in far]
    return np.concatenate([seeds, polished, np.array(far + joint, dtype=np.int64).reshape(-1, 2)])


def _joint(problem: _Problem, csum: FloatArray, start: int, length: int) -> Pick:
    """Search start and end together, within a reach that grows with the window: first on a
    grid of _JOINT_REACH steps each way, then sample by sample around the grid's best."""
    reach = min(max(_JOINT_REACH, length // 8), 4 * _JOINT_REACH)
    step = -(-reach // _JOINT_REACH)  # so that _JOINT_REACH steps cover the reach
    if step > 1:  # each search includes where it starts, so none can make things worse
        start, length = _around(problem, csum, start, length, _JOINT_REACH, step)
    return _around(problem, csum, start, length, _JOINT_REACH, 1)


def _around(
    problem: _Problem, csum: FloatArray, start: int, length: int, steps: int, step: int
) -> Pick:
    """The best window whose start and end each move by a multiple of step, up to steps."""
    offsets = np.arange(-steps, steps + 1) * step
    starts = np.clip(start + offsets, 0, problem.m - 1)[:, None]  # (W, 1)
    ends = np.clip(start + length + offsets, 1, problem.m)[None, :]  # (1, W), exclusive
    lengths = ends - starts
    valid = (lengths >= problem.min_len) & (lengths <= problem.max_len)
    vals = _objective_values(csum, starts, np.where(valid, lengths, 1), problem.objective)
    vals = np.where(valid, vals, -math.inf)
    row, col = np.unravel_index(int(np.argmax(vals)), vals.shape)
    if vals[row, col] == -math.inf:
        return start, length
    return int(starts[row, 0]), int(lengths[row, col])


def _ascend(problem: _Problem, csum: FloatArray, start: int, length: int, reach: int) -> Pick:
    """Move the start, the end, then the whole window, each to its best place within `reach`
    samples (and a window-length), until nothing moves."""
    for _ in range(_MAX_ITER):
        before = (start, length)
        for move in (_move_start, _move_end, _slide):
            start, length = move(problem, csum, start, length, reach)
        if (start, length) == before:
            break
    return start, length


def _move_start(
    problem: _Problem, csum: FloatArray, start: int, length: int, reach: int
) -> Pick:
    end = start + length  # exclusive, kept
    reach = min(length, reach)
    first = max(0, end - problem.max_len, start - reach)
    starts = np.arange(first, min(end - problem.min_len, start + reach) + 1)
    best = int(starts[np.argmax(_objective_values(csum, starts, end - starts, problem.objective))])
    return best, end - best


def _move_end(
    problem: _Problem, csum: FloatArray, start: int, length: int, reach: int
) -> Pick:
    reach = min(length // 2, reach)
    top = min(problem.max_len, problem.m - start, length + reach)
    lengths = np.arange(max(problem.min_len, length - reach), top + 1)
    vals = _objective_values(csum, np.int64(start), lengths, problem.objective)
    return start, int(lengths[np.argmax(vals)])


def _slide(
    problem: _Problem, csum: FloatArray, start: int, length: int, reach: int
) -> Pick:
    reach = min(length, reach)
    starts = np.arange(max(0, start - reach), min(problem.m - length, start + reach) + 1)
    vals = _objective_values(csum, starts, np.int64(length), problem.objective)
    return int(starts[np.argmax(vals)]), length


def _band_seeds(problem: _Problem, csum: FloatArray, band: _Band, top_k: int) -> IntArray:
    """(<= count, 2) diverse (start, length) windows of one band, from every window at a level."""
    size = csum.size - 1
    count = max(_BAND_SEEDS, 2 * top_k)
    if band.outside:
        return _outside_seeds(problem, csum, band, count)
    lo, hi = _level_lengths(problem, band.level, band.lo, band.hi, size)
    # the best length per start: one candidate per start, yet every region is represented
    best = np.full(size - lo + 1, -math.inf)
    best_len = np.zeros(best.size, dtype=np.int64)
    for n in range(lo, hi + 1):
        vals = _run_values(csum, n, problem.objective)  # (size - n + 1,)
        better = vals > best[: vals.size]  # strict: the shortest wins ties
        best[: vals.size] = np.where(better, vals, best[: vals.size])
        best_len[: vals.size] = np.where(better, n, best_len[: vals.size])
    return _greedy_best(np.arange(best.size), best_len, best, count, _SEED_IOU)


def _run_values(csum: FloatArray, n: int, objective: str) -> FloatArray:
    """Objective of every window of n samples, by start, from prefix sums of M samples."""
    m = csum.size - 1
    inside = csum[n:] - csum[:-n]
    if objective == "mean":
        return inside / n
    if n == m:
        return np.zeros(1)  # nothing outside
    # mean in - mean out = inside * (1/n + 1/(m-n)) - total / (m-n)
    return (inside * (1 / n + 1 / (m - n)) - csum[-1] / (m - n)) * size_factor(objective, n, m)


def _greedy_best(
    starts: IntArray, lengths: IntArray, vals: FloatArray, count: int, iou: float
) -> IntArray:
    """Greedy NMS, best value first (ties: earliest in the arrays); (<= count, 2) survivors."""
    vals = vals.copy()
    picks: list[Pick] = []
    while len(picks) < count:
        i = int(np.argmax(vals))
        if vals[i] == -math.inf:
            break
        picks.append((int(starts[i]), int(lengths[i])))
        vals[~_compatible(starts, lengths, picks[-1:], iou)] = -math.inf
    return np.array(picks, dtype=np.int64).reshape(-1, 2)


def _outside_seeds(problem: _Problem, csum: FloatArray, band: _Band, count: int) -> IntArray:
    """The best windows leaving band.lo..band.hi samples out, split between the two ends."""
    size = csum.size - 1
    lo, hi = _level_lengths(problem, band.level, band.lo, band.hi, size)
    head = np.arange(hi + 1)[:, None]  # (H, 1) samples left out before the window
    tail = np.arange(hi + 1)[None, :]  # (1, H) and after it
    lengths = size - head - tail
    lmin, lmax = _level_lengths(problem, band.level, problem.min_len, problem.max_len, size)
    valid = (head + tail >= lo) & (head + tail <= hi) & (lengths >= lmin) & (lengths <= lmax)
    starts, lengths = np.broadcast_to(head, valid.shape)[valid], lengths[valid]
    vals = _objective_values(csum, starts, lengths, problem.objective)
    order = np.lexsort((lengths, starts, -vals))[:count]  # these overlap: NMS would keep one
    return np.stack((starts[order], lengths[order]), axis=1)


def _refine(problem: _Problem, csum: FloatArray, level: int, seeds: IntArray) -> IntArray:
    """Each seed from the level above, moved to the best window within _MARGIN at this level."""
    if seeds.size == 0:
        return seeds
    size = csum.size - 1
    offsets = np.arange(-_MARGIN, _MARGIN + 1)
    first = 2 * seeds[:, 0]  # the seed's first sample at this level
    last = 2 * (seeds[:, 0] + seeds[:, 1]) - 1  # and its last
    starts = np.clip(first[:, None, None] + offsets[None, :, None], 0, size - 1)  # (K, W, 1)
    ends = np.clip(last[:, None, None] + offsets[None, None, :], 0, size - 1)  # (K, 1, W)
    lengths = (ends - starts + 1).reshape(len(seeds), -1)  # (K, W * W)
    starts = np.broadcast_to(starts, (len(seeds), offsets.size, offsets.size)).reshape(
        len(seeds), -1
    )
    lo, hi = _level_lengths(problem, level, problem.min_len, problem.max_len, size)
    valid = (lengths >= lo) & (lengths <= hi)
    vals = _objective_values(csum, starts, np.where(valid, lengths, 1), problem.objective)
    return _row_picks(starts, lengths, np.where(valid, vals, -math.inf))


def _row_picks(starts: IntArray, lengths: IntArray, vals: FloatArray) -> IntArray:
    """Per row, the best window (ties: earliest, shortest); rows with none valid are dropped."""
    top = vals.max(axis=1, keepdims=True)
    ok = (vals >= top - TIE_RTOL) & np.isfinite(vals)
    key = np.where(ok, starts * (int(lengths.max()) + 1) + lengths, np.iinfo(np.int64).max)
    col = np.argmin(key, axis=1)
    rows = np.flatnonzero(np.isfinite(top[:, 0]))
    return np.stack((starts[rows, col[rows]], lengths[rows, col[rows]]), axis=1)


def _nms(
    problem: _Problem, csum: FloatArray, seeds: IntArray, top_k: int, nms_iou: float
) -> list[Pick]:
    """Greedy NMS over the refined full-resolution windows, same tie rule as the exact search."""
    seeds = np.unique(seeds, axis=0)  # sorted by start, then length: the tie order
    starts, lengths = seeds[:, 0], seeds[:, 1]
    vals = _objective_values(csum, starts, lengths, problem.objective)
    alive = np.ones(len(seeds), dtype=bool)
    picks: list[Pick] = []
    while len(picks) < top_k and alive.any():
        i = int(np.argmax(alive & (vals >= vals[alive].max() - TIE_RTOL)))
        picks.append((int(starts[i]), int(lengths[i])))
        alive &= _compatible(starts, lengths, picks[-1:], nms_iou)
    return picks
