"""The objectives a window is scored by, and the search problem they are computed on.

For a window of n samples in a sequence of m:

- "mean":     the mean inside the window.
- "contrast": the mean inside minus the mean outside. The whole sequence (n = m) has nothing
  outside and scores 0: it says nothing about *where* the text happens, so any window that
  stands out beats it, and it wins only when every allowed window scores below 0.
- "balanced": contrast times h(n) ** (1 - BALANCE), h(n) = n (m - n) / m, the window's effective
  size. Contrast prefers the whole moment over its best few samples only through the 1 / (m - n)
  of the mean outside, which fades as the video grows (m >> n: contrast ~ the mean inside less a
  constant, whose best window is the shortest allowed); the factor keeps a preference for size
  that does not depend on m. BALANCE = 1 is contrast, 0.5 the z-score of a mean shift (the scan
  statistic), which over-extends onto related neighbours.

All three are S / h(n) ** p, with S the window's sum of deviations from the global mean and h
concave (and so h ** p, for 0 < p <= 1): h(n) = n, p = 1 for mean (up to the constant mean);
h(n) = n (m - n) / m, p = 1 for contrast and p = BALANCE for balanced. The exact solvers rely on
that form (see exact.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from clipground.errors import UsageError

BALANCE = 0.8  # balanced's exponent: the size factor is h(n) ** (1 - BALANCE)
TIE_RTOL = 1e-11  # scores closer than this times max|scores| tie: rounding blurs exact equality

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Pick = tuple[int, int]  # (start, length) of a window, in samples


@dataclass(frozen=True)
class Window:
    """A window of samples [start_sample, end_sample], end inclusive, and its objective score."""

    start_sample: int  # index of the window's first sample
    end_sample: int  # index of its last sample, inclusive
    score: float  # objective value, recomputed from the window itself

    def __post_init__(self) -> None:
        if not 0 <= self.start_sample <= self.end_sample:
            raise UsageError(
                "a window needs 0 <= start_sample <= end_sample, got "
                f"start_sample={self.start_sample}, end_sample={self.end_sample}"
            )

    @property
    def length(self) -> int:
        """Number of samples in the window."""
        return self.end_sample - self.start_sample + 1


@dataclass(frozen=True)
class Problem:
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


def score_window(problem: Problem, start: int, length: int) -> Window:
    """The window (start, length) with its score computed directly from its samples."""
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
    `total` (samples in the search, seconds in `refine`); 1 for the others."""
    if objective != "balanced":
        return 1.0
    return np.maximum(lengths * (total - lengths) / total, 0.0) ** (1.0 - BALANCE)


def objective_values(
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


def denominator(problem: Problem, n: Any) -> Any:
    """h(n) ** p, for a length or an array of them: objective = (sum of deviations) / h(n) ** p.

    Concave in n: n for mean, n * (m - n) / m for contrast, that ** BALANCE for balanced (n < m)."""
    if problem.objective == "mean":
        return n * 1.0
    h = n * (problem.m - n) / problem.m
    return h ** BALANCE if problem.objective == "balanced" else h
