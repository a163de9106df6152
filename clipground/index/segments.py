"""Segments: what the index holds of a video. Pure numpy.

A segment is `size` consecutive samples (2 s by default: 4 samples at 2 frames/s). Its vector is
the mean of its samples' embeddings minus the mean of the whole video's, so that its inner product
with a query is the segment's mean similarity minus the video's: the contrast that `search`'s
default objectives rank windows by (a video about the query throughout contrasts little, and one
whose every frame is far from it can still hold the moment). Neighbouring samples are nearly
alike, so segments keep what shortlisting needs at a fraction of the memory of every frame
(docs/index-search.md has the figures).
"""

from __future__ import annotations

import numpy as np

SEGMENT_S = 2.0  # seconds of samples pooled into one indexed vector


def segment_samples(fps: float, segment_s: float = SEGMENT_S) -> int:
    """Samples per segment at `fps` frames per second (at least one)."""
    return max(1, round(segment_s * fps))


def segment_means(embeddings: np.ndarray, size: int) -> np.ndarray:
    """The mean of each run of `size` rows of `embeddings` (N, D): (ceil(N / size), D) float32."""
    n, dim = embeddings.shape
    whole = n // size * size
    parts = [embeddings[:whole].reshape(-1, size, dim).mean(axis=1)]  # (n // size, D)
    if whole < n:
        parts.append(embeddings[whole:].mean(axis=0, keepdims=True))  # the shorter last one
    return np.concatenate(parts).astype(np.float32)


def segment_vectors(embeddings: np.ndarray, size: int) -> np.ndarray:
    """What the index holds of a video's embeddings (N, D): each segment's mean minus the video's
    mean, (ceil(N / size), D) float32."""
    mean = embeddings.mean(axis=0, dtype=np.float64).astype(np.float32)  # (D,)
    return segment_means(embeddings, size) - mean


def segment_bounds(segment: int, size: int, samples: int) -> tuple[int, int]:
    """The first and last sample (inclusive) of segment number `segment`."""
    return segment * size, min(samples, (segment + 1) * size) - 1
