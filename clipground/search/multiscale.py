"""The "multiscale" method: a coarse-to-fine heuristic for long sequences.

Lengths are split in octaves; each octave is searched exhaustively at the coarsest level of a
pyramid of pairwise means where its shortest window still spans _BAND_BLOCKS blocks (under
contrast also octaves of the samples left *outside*, for windows that differ only by a few
excluded samples at the ends). The best few windows per octave, kept apart by NMS, are refined
one level at a time with a margin of _MARGIN samples per boundary, then polished at full
resolution (polish.py). It can miss when a near-tie lies in another region or a boundary sits
further out than the polish reaches; `choose_method` picks it only where the benchmark
(scripts/bench_search.py) measures it close to always exact and far faster.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from clipground.search.nms import compatible
from clipground.search.objectives import (
    TIE_RTOL,
    FloatArray,
    IntArray,
    Pick,
    Problem,
    objective_values,
    size_factor,
)
from clipground.search.polish import polish

_BAND_BLOCKS = 4  # a band's shortest window spans this many blocks at its level
_BAND_SEEDS = 8  # windows per length band (kept apart by NMS) refined to level 0
_SEED_IOU = 0.5  # NMS threshold that keeps a band's seeds apart
_MARGIN = 2  # samples each boundary may move per level (each level doubles resolution)


class _Band(NamedTuple):
    """Windows searched together at one level: lengths lo..hi, or with `outside`, lengths
    m - hi .. m - lo (long windows, told apart by the few samples they leave out)."""

    level: int
    lo: int
    hi: int
    outside: bool


def search_multiscale(problem: Problem, top_k: int, nms_iou: float) -> list[Pick]:
    """Greedy NMS over the windows the coarse-to-fine search ends with."""
    csum = np.concatenate(([0.0], np.cumsum(problem.u)))
    return _nms(problem, csum, candidates(problem, csum, top_k), top_k, nms_iou)


def candidates(problem: Problem, csum: FloatArray, top_k: int) -> IntArray:
    """(K, 2) windows: each length band searched at a coarse level, its best refined level by
    level to full resolution, and the best of those polished there."""
    bands = _bands(problem)
    csums = _pyramid(csum, max(band.level for band in bands))
    seeds = np.zeros((0, 2), dtype=np.int64)
    for level in range(len(csums) - 1, -1, -1):
        if level < len(csums) - 1:
            seeds = _to_finer_level(problem, csums[level], level, seeds)
        found = [_band_seeds(problem, csums[level], band, top_k)
                 for band in bands if band.level == level]
        seeds = np.concatenate([seeds, *found])
    if problem.max_len == problem.m:
        seeds = np.concatenate([seeds, [[0, problem.m]]])  # contrast 0: wins if all else is < 0
    return polish(problem, csums[0], seeds, top_k)


def _bands(problem: Problem) -> list[_Band]:
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


def _level_lengths(problem: Problem, level: int, lo: int, hi: int, size: int) -> tuple[int, int]:
    """Lengths at a level of any full-resolution window of lo..hi samples, give or take one."""
    if level == 0:
        return lo, hi
    return max(1, lo >> level), min(size, -(-hi >> level) + 1)


def _band_seeds(problem: Problem, csum: FloatArray, band: _Band, top_k: int) -> IntArray:
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
        vals[~compatible(starts, lengths, picks[-1:], iou)] = -math.inf
    return np.array(picks, dtype=np.int64).reshape(-1, 2)


def _outside_seeds(problem: Problem, csum: FloatArray, band: _Band, count: int) -> IntArray:
    """The best windows leaving band.lo..band.hi samples out, split between the two ends."""
    size = csum.size - 1
    lo, hi = _level_lengths(problem, band.level, band.lo, band.hi, size)
    head = np.arange(hi + 1)[:, None]  # (H, 1) samples left out before the window
    tail = np.arange(hi + 1)[None, :]  # (1, H) and after it
    lengths = size - head - tail
    lmin, lmax = _level_lengths(problem, band.level, problem.min_len, problem.max_len, size)
    valid = (head + tail >= lo) & (head + tail <= hi) & (lengths >= lmin) & (lengths <= lmax)
    starts, lengths = np.broadcast_to(head, valid.shape)[valid], lengths[valid]
    vals = objective_values(csum, starts, lengths, problem.objective)
    order = np.lexsort((lengths, starts, -vals))[:count]  # these overlap: NMS would keep one
    return np.stack((starts[order], lengths[order]), axis=1)


def _to_finer_level(problem: Problem, csum: FloatArray, level: int, seeds: IntArray) -> IntArray:
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
    vals = objective_values(csum, starts, np.where(valid, lengths, 1), problem.objective)
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
    problem: Problem, csum: FloatArray, seeds: IntArray, top_k: int, nms_iou: float
) -> list[Pick]:
    """Greedy NMS over the refined full-resolution windows, same tie rule as the exact search."""
    seeds = np.unique(seeds, axis=0)  # sorted by start, then length: the tie order
    starts, lengths = seeds[:, 0], seeds[:, 1]
    vals = objective_values(csum, starts, lengths, problem.objective)
    alive = np.ones(len(seeds), dtype=bool)
    picks: list[Pick] = []
    while len(picks) < top_k and alive.any():
        i = int(np.argmax(alive & (vals >= vals[alive].max() - TIE_RTOL)))
        picks.append((int(starts[i]), int(lengths[i])))
        alive &= compatible(starts, lengths, picks[-1:], nms_iou)
    return picks
