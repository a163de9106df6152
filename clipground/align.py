"""Ordered alignment of transcript sentences to a video: dynamic programming, sentences x samples.

Pure numpy, no I/O. Given similarities sim (K, N) of K sentences, in narration order, with N sampled
frames, find K segments [start_k, end_k], in order and non-overlapping, that maximise

    sum_k sum_{t in segment k} (score[k, t] - threshold)   -   gap_penalty * (frames in no segment)

with min_len_k <= length_k <= max_len_k. Without gaps the segments tile all N samples.

Normalisation ("zscore", the default): score[k] = (sim[k] - mean(sim[k])) / std(sim[k]). Raw CLIP
cosines are all positive and close (~0.2-0.3), so summing them rewards every sentence for taking
more frames and lets a sentence with a higher baseline (a generic caption) crowd out the others.
Z-scoring each row makes a frame count for a sentence only as far as it stands out from that
sentence's average, on a scale that is the same for every sentence; a gap frame scores 0 (minus the
penalty), so with gaps a segment covers the stretch where its sentence stands out: above its
average, or more than `threshold` (standard deviations) above it. Without gaps every sample is in
a segment and the threshold changes nothing.
"raw" keeps the cosines (for scores that are already contrastive).

Solver: F[k, t] = best value with the first k sentences inside samples [0, t). The segment of
sentence k ending at t scores P_k[t] - P_k[s] (P_k prefix sums, so O(1) per segment), and the best
s over the allowed lengths is a sliding-window maximum (van Herk / Gil-Werman, O(N) per sentence).
Gaps are a running maximum. Time O(K N); memory O(K N) for the back-pointers, or, when K N is large,
O(N + K) by divide and conquer on sentences (Hirschberg): a forward and a backward pass find where
the middle sentence boundary lies, then each half is solved alone.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from clipground.errors import UsageError
from clipground.options import NORMALISATIONS

__all__ = ["NORMALISATIONS", "Segment", "align", "normalise", "segmentation_value"]

_TABLE_ENTRIES = 1 << 23  # back-pointers (2 x int32 each: 64 MiB) beyond which divide and conquer
_STD_FLOOR = 1e-12  # a flat row (no evidence) z-scores to all zeros instead of dividing by 0

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Segment:
    """Samples [start_sample, end_sample] (end inclusive) given to one sentence, and its mean
    per-sample score."""

    start_sample: int
    end_sample: int  # inclusive
    score: float  # mean normalised score over the segment

    def __post_init__(self) -> None:
        if not 0 <= self.start_sample <= self.end_sample:
            raise UsageError(
                f"a segment needs 0 <= start <= end, got {self.start_sample}..{self.end_sample}"
            )

    @property
    def length(self) -> int:
        """Number of samples in the segment."""
        return self.end_sample - self.start_sample + 1


# ---------------------------------------------------------------- public API


def align(
    sim: ArrayLike,
    min_len: int | Sequence[int] = 1,
    max_len: int | Sequence[int] | None = None,
    allow_gaps: bool = False,
    gap_penalty: float = 0.0,
    normalisation: str = "zscore",
    threshold: float = 0.0,
    table_entries: int = _TABLE_ENTRIES,
) -> list[Segment]:
    """Best ordered, non-overlapping segments for the K rows of sim (K, N); see the module doc."""
    scores = normalise(sim, normalisation)  # (K, N)
    k, n = scores.shape
    lo, hi = _lengths(k, n, min_len, max_len)
    penalty = _penalty(gap_penalty)
    if not math.isfinite(threshold):
        raise UsageError(f"threshold must be finite, got {threshold}")
    _check_feasible(n, lo, hi, allow_gaps)
    bounds = _solve(scores - threshold, lo, hi, allow_gaps, penalty, max(1, int(table_entries)))
    return [_segment(scores[i], s, e) for i, (s, e) in enumerate(bounds)]


def normalise(sim: ArrayLike, normalisation: str = "zscore") -> FloatArray:
    """The per-sample scores the alignment sums: each row z-scored, or the raw values."""
    if normalisation not in NORMALISATIONS:
        raise UsageError(
            f"normalisation must be one of {', '.join(NORMALISATIONS)}; got {normalisation!r}"
        )
    s = _matrix(sim)
    if normalisation == "raw":
        return s
    spread = np.maximum(s.std(axis=1, keepdims=True), _STD_FLOOR)  # (K, 1)
    centred = s - s.mean(axis=1, keepdims=True)  # the one (K, N) copy
    centred /= spread
    return centred


def segmentation_value(
    scores: ArrayLike, bounds: Sequence[tuple[int, int]], gap_penalty: float = 0.0
) -> float:
    """The objective of segments `bounds` [(start, end inclusive)] on already normalised scores."""
    s = _matrix(scores)
    covered = sum(e - s0 + 1 for s0, e in bounds)
    inside = sum(float(s[i, s0 : e + 1].sum()) for i, (s0, e) in enumerate(bounds))
    return inside - gap_penalty * (s.shape[1] - covered)


# ---------------------------------------------------------------- validation


def _matrix(sim: ArrayLike) -> FloatArray:
    try:
        s = np.asarray(sim, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise UsageError(f"similarities must be numeric: {err}") from None
    if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 1:
        raise UsageError(f"similarities must be (sentences, samples) with both >= 1, got {s.shape}")
    if not np.isfinite(s).all():
        raise UsageError("similarities must be finite")
    return s


def _lengths(
    k: int, n: int, min_len: int | Sequence[int], max_len: int | Sequence[int] | None
) -> tuple[IntArray, IntArray]:
    """Per-sentence (K,) min and max lengths in samples; a cap beyond N is no cap."""
    lo = _per_sentence("min_len", min_len, k)
    hi = np.full(k, n, dtype=np.int64) if max_len is None else _per_sentence("max_len", max_len, k)
    if (lo < 1).any():
        raise UsageError(f"min_len must be >= 1 sample, got {lo.min()}")
    bad = np.flatnonzero(hi < lo)
    if bad.size:
        i = int(bad[0])
        raise UsageError(f"sentence {i}: max_len {hi[i]} is below min_len {lo[i]}")
    return lo, np.minimum(hi, n)


def _per_sentence(name: str, value: int | Sequence[int], k: int) -> IntArray:
    values = [value] * k if isinstance(value, (int, np.integer)) else list(value)
    if len(values) != k:
        raise UsageError(f"{name} has {len(values)} values for {k} sentences")
    try:
        return np.array([operator.index(v) for v in values], dtype=np.int64)
    except TypeError:
        raise UsageError(f"{name} must be whole numbers of samples, got {value!r}") from None


def _penalty(gap_penalty: float) -> float:
    penalty = float(gap_penalty)
    if not (math.isfinite(penalty) and penalty >= 0):
        raise UsageError(f"gap_penalty must be a finite number >= 0, got {gap_penalty}")
    return penalty


def _check_feasible(n: int, lo: IntArray, hi: IntArray, allow_gaps: bool) -> None:
    if lo.sum() > n:
        raise UsageError(
            f"{len(lo)} sentences need at least {int(lo.sum())} samples, the video has {n}: "
            "lower the minimum length, sample more frames per second, or align fewer sentences"
        )
    if not allow_gaps and hi.sum() < n:
        raise UsageError(
            f"{len(lo)} sentences of at most {int(hi.sum())} samples together cannot cover "
            f"the {n} samples without gaps: allow gaps or raise the maximum length"
        )


def _segment(row: FloatArray, start: int, end: int) -> Segment:
    return Segment(int(start), int(end), float(row[start : end + 1].mean()))


# ---------------------------------------------------------------- solver


def _solve(
    scores: FloatArray, lo: IntArray, hi: IntArray, gaps: bool, penalty: float, table: int
) -> list[tuple[int, int]]:
    """(start, end inclusive) per sentence: back-pointers if they fit, else divide and conquer."""
    k, n = scores.shape
    if k == 1 or k * (n + 1) <= table:
        return _solve_table(scores, lo, hi, gaps, penalty)
    mid = k // 2
    forward = _last_row(scores[:mid], lo[:mid], hi[:mid], gaps, penalty)  # (N+1,)
    backward = _last_row(scores[mid:][::-1, ::-1], lo[mid:][::-1], hi[mid:][::-1], gaps, penalty)
    cut = int(np.argmax(forward + backward[::-1]))  # sentences < mid end before `cut`
    left = _solve(scores[:mid, :cut], lo[:mid], hi[:mid], gaps, penalty, table)
    right = _solve(scores[mid:, cut:], lo[mid:], hi[mid:], gaps, penalty, table)
    return left + [(s + cut, e + cut) for s, e in right]


def _last_row(
    scores: FloatArray, lo: IntArray, hi: IntArray, gaps: bool, penalty: float
) -> FloatArray:
    """F[K, :] for sentences in row order (a backward pass passes them and the samples reversed)."""
    row = _first_row(scores.shape[1], gaps, penalty)
    for i in range(scores.shape[0]):
        row = _step(row, scores[i], int(lo[i]), int(hi[i]), gaps, penalty)[0]
    return row


def _solve_table(
    scores: FloatArray, lo: IntArray, hi: IntArray, gaps: bool, penalty: float
) -> list[tuple[int, int]]:
    k, n = scores.shape
    row = _first_row(n, gaps, penalty)
    starts = np.empty((k, n + 1), dtype=np.int32)  # segment start for "sentence i ends before t"
    ends = np.empty((k, n + 1), dtype=np.int32)  # where sentence i really ends (gaps follow it)
    for i in range(k):
        row, starts[i], ends[i] = _step(row, scores[i], int(lo[i]), int(hi[i]), gaps, penalty)
    if not np.isfinite(row[n]):  # _check_feasible rules this out; kept as a clear failure
        raise UsageError("no segmentation satisfies the length limits")
    bounds, t = [], n
    for i in range(k - 1, -1, -1):
        end = int(ends[i, t])  # exclusive
        start = int(starts[i, end])
        bounds.append((start, end - 1))
        t = start
    return bounds[::-1]


def _first_row(n: int, gaps: bool, penalty: float) -> FloatArray:
    """F[0, t]: no sentence placed yet; samples [0, t) are leading gaps (or impossible)."""
    if gaps:
        return -penalty * np.arange(n + 1, dtype=np.float64)
    row = np.full(n + 1, -np.inf)
    row[0] = 0.0
    return row


def _step(
    prev: FloatArray, row: FloatArray, lo: int, hi: int, gaps: bool, penalty: float
) -> tuple[FloatArray, IntArray, IntArray]:
    """F[i+1] from F[i]; with the best start of a segment ending at each t, and the end it keeps.

    E[t] = P[t] + max_{t-hi <= s <= t-lo} (F[i, s] - P[s]); with gaps F[i+1, t] is the best of
    E[t'] - penalty * (t - t') over t' <= t, else E[t] itself.
    """
    n = row.size
    hi = min(hi, n)
    if lo > n:
        return np.full(n + 1, -np.inf), np.zeros(n + 1, dtype=np.int64), np.arange(n + 1)
    prefix = np.concatenate(([0.0], np.cumsum(row)))  # (N+1,)
    width = hi - lo + 1
    best, arg = _sliding_max(np.concatenate((np.full(width - 1, -np.inf), prev - prefix)), width)
    ended = np.full(n + 1, -np.inf)
    start = np.zeros(n + 1, dtype=np.int64)
    ended[lo:] = prefix[lo:] + best[: n + 1 - lo]  # s_end = t - lo indexes the window
    start[lo:] = arg[: n + 1 - lo] - (width - 1)
    t = np.arange(n + 1)
    if not gaps:
        return ended, start, t
    shifted = ended + penalty * t
    carried = np.maximum.accumulate(shifted)
    source = _latest_max_index(shifted, carried)
    return carried - penalty * t, start, source


def _sliding_max(x: FloatArray, width: int) -> tuple[FloatArray, IntArray]:
    """Max and argmax of every window x[i : i + width], i = 0..len(x) - width (van Herk).

    Cut x into blocks of `width`: a window is the tail of one block plus the head of the next, so
    its max is the better of a running max from the right and one from the left.
    """
    m = x.size
    blocks = -(-m // width)
    padded = np.concatenate((x, np.full(blocks * width - m, -np.inf))).reshape(blocks, width)
    head, head_at = _running_max(padded)  # (B, W) max of each block's columns 0..c
    tail, tail_at = _running_max(padded[:, ::-1])  # the same from the block's end
    tail, tail_at = tail[:, ::-1], width - 1 - tail_at[:, ::-1]
    base = (np.arange(blocks) * width)[:, None]
    head, tail = head.ravel(), tail.ravel()
    head_at, tail_at = (head_at + base).ravel(), (tail_at + base).ravel()
    i = np.arange(m - width + 1)
    j = i + width - 1
    take_tail = tail[i] >= head[j]
    return np.where(take_tail, tail[i], head[j]), np.where(take_tail, tail_at[i], head_at[j])


def _running_max(a: FloatArray) -> tuple[FloatArray, IntArray]:
    """Running max along axis 1 and the column where each was reached."""
    best = np.maximum.accumulate(a, axis=1)
    cols = np.arange(a.shape[1])
    return best, np.maximum.accumulate(np.where(a == best, cols, 0), axis=1)


def _latest_max_index(values: FloatArray, running: FloatArray) -> IntArray:
    """For each t, an index t' <= t with values[t'] == running[t] (running = cumulative max)."""
    idx = np.arange(values.size)
    return np.maximum.accumulate(np.where(values == running, idx, 0))
