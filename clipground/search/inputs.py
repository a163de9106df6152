"""What a search is given: cosine similarity of embeddings, and the checks that turn scores and
length limits into a `Problem`, each raising `UsageError` with the offending value."""

from __future__ import annotations

import operator

import numpy as np
from numpy.typing import ArrayLike

from clipground.errors import UsageError
from clipground.numeric import unit_rows
from clipground.options import OBJECTIVES
from clipground.search.objectives import FloatArray, Problem


def similarity(frame_embeddings: ArrayLike, query_embedding: ArrayLike) -> FloatArray:
    """Cosine similarity of each frame embedding (N, D) with one query embedding (D,)."""
    frames = finite_array("frame_embeddings", frame_embeddings, ndim=2)  # (N, D)
    query = finite_array("query_embedding", query_embedding, ndim=1)  # (D,)
    if frames.shape[1] != query.shape[0]:
        raise UsageError(
            f"embedding sizes differ: frames {frames.shape}, query {query.shape}"
        )
    return np.clip(unit_rows(frames) @ unit_rows(query[None, :])[0], -1.0, 1.0)  # (N,)


def make_problem(
    scores: ArrayLike, min_len: int, max_len: int | None, objective: str
) -> Problem:
    """The validated search over `scores`, scaled so that max|u| = 1."""
    s = finite_array("scores", scores, ndim=1)
    if s.size == 0:
        raise UsageError("scores is empty: need at least one sample")
    check_choice("objective", objective, OBJECTIVES)
    lo, hi = check_lengths(s.size, min_len, max_len)
    scale = float(np.max(np.abs(s))) or 1.0
    return Problem(s / scale, scale, lo, hi, objective)


def finite_array(name: str, value: ArrayLike, *, ndim: int) -> FloatArray:
    """`value` as a float64 array of `ndim` dimensions, every entry finite."""
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


def check_lengths(m: int, min_len: int, max_len: int | None) -> tuple[int, int]:
    """(min_len, max_len) checked against m samples; max_len None or past m means m."""
    lo = as_int("min_len", min_len)
    if lo < 1:
        raise UsageError(f"min_len must be >= 1 sample, got {lo}")
    if lo > m:
        raise UsageError(f"min_len={lo} exceeds the {m} samples in scores")
    hi = m if max_len is None else as_int("max_len", max_len)
    if hi < lo:
        raise UsageError(f"max_len={hi} is below min_len={lo}")
    return lo, min(hi, m)  # a cap beyond the sequence is no cap


def as_int(name: str, value: object) -> int:
    """`value` as an int; bools and non-integral numbers are refused."""
    if isinstance(value, bool):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise UsageError(f"{name} must be an integer, got {value!r}") from None


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    """Raise unless `value` is one of `allowed`."""
    if value not in allowed:
        raise UsageError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
