"""Boundary refinement over irregular samples: the best window near a coarse one, time-weighted.

After a coarse pass, frames near a candidate's boundaries are embedded densely. The merged samples
are irregular in time, so every sample stands for the time until the next one, and window scores
are time-weighted: the mean similarity inside a window is the integral of the piecewise-constant
curve over the window divided by its duration (and likewise outside, for `contrast` and `balanced`).
On a regular grid this equals the plain per-sample objective; `balanced`'s size factor is then
taken in seconds, so its values are those in samples times (seconds per sample) ** (1 - BALANCE).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clipground.search.objectives import size_factor


@dataclass(frozen=True)
class Curve:
    """A piecewise-constant similarity curve: sample i holds from starts_s[i] to starts_s[i + 1]."""

    starts_s: np.ndarray  # (N,) increasing presentation times
    end_s: float  # when the last sample stops holding (the video's duration)
    values: np.ndarray  # (N,) similarity

    def __post_init__(self) -> None:
        n = len(self.starts_s)
        if n == 0 or self.values.shape != (n,):
            raise ValueError(f"need N >= 1 samples with N values, got {n} and {self.values.shape}")
        if np.any(np.diff(self.starts_s) <= 0) or self.end_s <= self.starts_s[-1]:
            raise ValueError("sample times must increase and end before end_s")

    @property
    def bounds_s(self) -> np.ndarray:
        """(N + 1,) sample boundaries: each start, then the end."""
        return np.append(self.starts_s, self.end_s)


@dataclass(frozen=True)
class TimedWindow:
    """Samples first..last (inclusive) of a `Curve`, with its time-weighted score."""

    first: int
    last: int
    score: float


def window_scores(curve: Curve, firsts: np.ndarray, lasts: np.ndarray, objective: str) -> np.ndarray:
    """Time-weighted `objective` for every pair (firsts[a], lasts[b]): an (A, B) array, NaN if empty."""
    bounds = curve.bounds_s
    weights = np.diff(bounds)
    offset = float(curve.values.mean())  # centred sums keep the prefix sums well conditioned
    mass = np.concatenate(([0.0], np.cumsum(weights * (curve.values - offset))))
    f, e = firsts[:, None], lasts[None, :]  # (A, 1) first and (1, B) last samples
    length = bounds[e + 1] - bounds[f]
    inside = mass[e + 1] - mass[f]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in = np.where(length > 0, inside / length, np.nan) + offset
        if objective == "mean":
            return np.where(e >= f, mean_in, np.nan)
        rest = bounds[-1] - bounds[0] - length
        mean_out = (mass[-1] - inside) / rest + offset
        # the whole video has nothing outside: it scores 0, as in the per-sample search
        contrast = np.where(rest > 1e-12, mean_in - mean_out, 0.0)
        contrast = contrast * size_factor(objective, length, length + rest)  # in seconds
        return np.where(e >= f, contrast, np.nan)


def refine_window(
    curve: Curve,
    start_s: float,
    end_s: float,
    margin_s: float,
    objective: str,
    min_len_s: float = 0.0,
    max_len_s: float | None = None,
) -> TimedWindow | None:
    """The best window whose boundaries lie within `margin_s` of (start_s, end_s), or None."""
    bounds = curve.bounds_s
    firsts = np.flatnonzero(np.abs(bounds[:-1] - start_s) <= margin_s)
    lasts = np.flatnonzero(np.abs(bounds[1:] - end_s) <= margin_s)
    if len(firsts) == 0 or len(lasts) == 0:
        return None
    scores = window_scores(curve, firsts, lasts, objective)
    length = bounds[lasts[None, :] + 1] - bounds[firsts[:, None]]
    tolerance = 1e-9
    scores[length < min_len_s - tolerance] = np.nan
    if max_len_s is not None:
        scores[length > max_len_s + tolerance] = np.nan
    if np.all(np.isnan(scores)):
        return None
    # nanargmax takes the first maximum: the earliest start, then the earliest end.
    a, b = np.unravel_index(int(np.nanargmax(scores)), scores.shape)
    return TimedWindow(int(firsts[a]), int(lasts[b]), float(scores[a, b]))
