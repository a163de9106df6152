"""Small pure-numpy helpers that several layers share: L2 normalisation and temporal IoU."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def unit_rows(x: ArrayLike) -> np.ndarray:
    """Each row (the last axis) scaled to unit L2 norm, in the input's float precision; a zero row
    stays zero. Rows whose largest entry is extreme are first divided by it, so squaring them can
    neither overflow nor underflow; other rows are divided by their norm alone."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    info = np.finfo(x.dtype)
    big = np.max(np.abs(x), axis=-1, keepdims=True)
    room = float(x.shape[-1]) if x.ndim else 1.0
    extreme = (big > 0) & ((big < np.sqrt(info.tiny) * room / info.eps) | (big > np.sqrt(info.max / room)))
    if np.any(extreme):
        x = np.where(extreme, x / np.where(extreme, big, 1), x)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), info.tiny)


def unit(v: ArrayLike) -> np.ndarray:
    """One vector scaled to unit L2 norm (a zero vector stays zero)."""
    v = np.asarray(v)
    norm = float(np.linalg.norm(v))
    if not np.finfo(v.dtype).tiny < norm < np.inf:  # zero, or extreme entries: the careful path
        return unit_rows(v[np.newaxis])[0]
    return v / norm


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two [start, end] intervals (0 when both are empty)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0
