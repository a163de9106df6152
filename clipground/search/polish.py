"""Multiscale's last stage: the best candidate windows improved at full resolution.

Coordinate ascent moves the start, the end, then the whole window, each to its best place within
a reach, until nothing moves. The objective along one boundary is a random walk with many local
maxima, so the best few are ascended again with moves as long as the window allows, then searched
in both boundaries jointly on a grid around them.
"""

from __future__ import annotations

import math

import numpy as np

from clipground.search.objectives import FloatArray, IntArray, Pick, Problem, objective_values

_POLISHED = 8  # best windows polished by coordinate ascent at full resolution
_REACH = 512  # how far (in samples) one polishing move may shift a boundary
_JOINT = 2  # polished windows then searched jointly in both boundaries
_JOINT_REACH = 64  # the joint search moves each boundary this many steps each way
_MAX_ROUNDS = 64  # rounds of coordinate ascent per window


def polish(problem: Problem, csum: FloatArray, seeds: IntArray, top_k: int) -> IntArray:
    """The seeds, the best of them after coordinate ascent at full resolution, and the best few
    of those after far moves and a joint search: (K, 2) (start, length) windows."""
    seeds = np.unique(seeds, axis=0)
    vals = objective_values(csum, seeds[:, 0], seeds[:, 1], problem.objective)
    order = np.argsort(-vals, kind="stable")[: max(_POLISHED, top_k)]
    polished = [_ascend(problem, csum, int(s), int(n), _REACH) for s, n in seeds[order]]
    polished = np.array(polished, dtype=np.int64).reshape(-1, 2)
    vals = objective_values(csum, polished[:, 0], polished[:, 1], problem.objective)
    best = polished[np.argsort(-vals, kind="stable")[:_JOINT]]
    far = [_ascend(problem, csum, int(s), int(n), problem.max_len) for s, n in best]
    joint = [_joint(problem, csum, s, n) for s, n in far]
    return np.concatenate([seeds, polished, np.array(far + joint, dtype=np.int64).reshape(-1, 2)])


def _joint(problem: Problem, csum: FloatArray, start: int, length: int) -> Pick:
    """Search start and end together, within a reach that grows with the window: first on a
    grid of _JOINT_REACH steps each way, then sample by sample around the grid's best."""
    reach = min(max(_JOINT_REACH, length // 8), 4 * _JOINT_REACH)
    step = -(-reach // _JOINT_REACH)  # so that _JOINT_REACH steps cover the reach
    if step > 1:  # each search includes where it starts, so none can make things worse
        start, length = _around(problem, csum, start, length, _JOINT_REACH, step)
    return _around(problem, csum, start, length, _JOINT_REACH, 1)


def _around(
    problem: Problem, csum: FloatArray, start: int, length: int, steps: int, step: int
) -> Pick:
    """The best window whose start and end each move by a multiple of step, up to steps."""
    offsets = np.arange(-steps, steps + 1) * step
    starts = np.clip(start + offsets, 0, problem.m - 1)[:, None]  # (W, 1)
    ends = np.clip(start + length + offsets, 1, problem.m)[None, :]  # (1, W), exclusive
    lengths = ends - starts
    valid = (lengths >= problem.min_len) & (lengths <= problem.max_len)
    vals = objective_values(csum, starts, np.where(valid, lengths, 1), problem.objective)
    vals = np.where(valid, vals, -math.inf)
    row, col = np.unravel_index(int(np.argmax(vals)), vals.shape)
    if vals[row, col] == -math.inf:
        return start, length
    return int(starts[row, 0]), int(lengths[row, col])


def _ascend(problem: Problem, csum: FloatArray, start: int, length: int, reach: int) -> Pick:
    """Move the start, the end, then the whole window, each to its best place within `reach`
    samples (and a window-length), until nothing moves."""
    for _ in range(_MAX_ROUNDS):
        before = (start, length)
        for move in (_move_start, _move_end, _slide):
            start, length = move(problem, csum, start, length, reach)
        if (start, length) == before:
            break
    return start, length


def _move_start(
    problem: Problem, csum: FloatArray, start: int, length: int, reach: int
) -> Pick:
    end = start + length  # exclusive, kept
    reach = min(length, reach)
    first = max(0, end - problem.max_len, start - reach)
    starts = np.arange(first, min(end - problem.min_len, start + reach) + 1)
    best = int(starts[np.argmax(objective_values(csum, starts, end - starts, problem.objective))])
    return best, end - best


def _move_end(
    problem: Problem, csum: FloatArray, start: int, length: int, reach: int
) -> Pick:
    reach = min(length // 2, reach)
    top = min(problem.max_len, problem.m - start, length + reach)
    lengths = np.arange(max(problem.min_len, length - reach), top + 1)
    vals = objective_values(csum, np.int64(start), lengths, problem.objective)
    return start, int(lengths[np.argmax(vals)])


def _slide(
    problem: Problem, csum: FloatArray, start: int, length: int, reach: int
) -> Pick:
    reach = min(length, reach)
    starts = np.arange(max(0, start - reach), min(problem.m - length, start + reach) + 1)
    vals = objective_values(csum, starts, np.int64(length), problem.objective)
    return int(starts[np.argmax(vals)]), length
