"""The sampling plan: which presentation times to sample (a grid of `fps`, or every frame) within
which time ranges, and so which frames of a video are wanted.

Times are seconds after the first frame. A frame is wanted when it is the one on screen at a
target time, so a sampled video shows what a viewer would see at those times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clipground.errors import UsageError
from clipground.video.packets import PacketScan
from clipground.video.probe import Probe, rel_s

EPS_S = 1e-9  # float noise allowed when a frame time is compared with a target time
EVERYTHING = ((0.0, math.inf),)


@dataclass(frozen=True)
class Plan:
    """Which times to sample: the grid k / fps, or every frame (fps None), within `ranges`.

    `ranges` are sorted, disjoint [start, end) stretches in seconds; one pass decodes them all,
    seeking over the gaps between them where seeking pays.
    """

    fps: float | None
    ranges: tuple[tuple[float, float], ...] = EVERYTHING

    @property
    def end_s(self) -> float:
        return self.ranges[-1][1]

    @property
    def every_frame(self) -> bool:
        """Whether every frame of the video is wanted (then no packet can be skipped)."""
        return self.fps is None and self.ranges == EVERYTHING

    def wants(self, t0: float, t1: float) -> bool:
        """Whether the frame displayed over [t0, t1) is the one shown at a target time."""
        if self.fps is None:
            return any(
                t0 < end - EPS_S and (t0 >= start - EPS_S or t1 > start + EPS_S)
                for start, end in self.ranges
            )
        return self.next_target(t0) < t1 - EPS_S

    def next_target(self, t: float) -> float:
        """The first target at or after `t` (a frame starting within EPS_S after it counts);
        inf after the last range."""
        for start, end in self.ranges:
            target = max(t, start)
            if self.fps is not None:
                target = math.ceil((target - EPS_S) * self.fps) / self.fps
            if target < end - EPS_S:
                return target
        return math.inf


def sampling_plan(
    fps: float | None, avg_fps: float, ranges: tuple[tuple[float, float], ...]
) -> Plan:
    """The plan for the requested rate; at or above the native rate every frame is emitted once."""
    every = fps is None or (avg_fps > 0 and fps >= avg_fps)
    return Plan(None if every else fps, ranges)


def checked_ranges(
    start_s: float | None, end_s: float | None, ranges: Sequence[tuple[float, float]] | None
) -> tuple[tuple[float, float], ...]:
    """The stretches to sample: `ranges`, or [start_s, end_s); checked, sorted, disjoint."""
    if ranges is None:
        ranges = [(0.0 if start_s is None else start_s, math.inf if end_s is None else end_s)]
    elif start_s is not None or end_s is not None:
        raise UsageError("give either start_s/end_s or ranges, not both")
    spans = sorted((float(a), float(b)) for a, b in ranges)
    if not spans:
        raise UsageError("ranges is empty: give at least one (start_s, end_s)")
    for i, (a, b) in enumerate(spans):
        if not (math.isfinite(a) and a >= 0):
            raise UsageError(f"start_s must be a finite number >= 0, got {a!r}")
        if not b > a:
            raise UsageError(f"end_s must be after start_s, got start_s={a!r}, end_s={b!r}")
        if i and a < spans[i - 1][1]:
            raise UsageError(f"ranges overlap: {spans[i - 1]} and {(a, b)}; merge them first")
    return tuple(spans)


def wanted(plan: Plan, probed: Probe, scan: PacketScan) -> np.ndarray:
    """(P,) bool over `scan.pts`: frames the plan wants, and the last (so that a pass ends at the
    end of the file and counts its frames)."""
    ends = np.append(scan.pts[1:], scan.end_pts)
    rel = [rel_s(probed, int(p)) for p in scan.pts], [rel_s(probed, int(p)) for p in ends]
    mask = np.fromiter(
        (plan.wants(t0, t1) for t0, t1 in zip(*rel)),
        dtype=bool,
        count=len(scan.pts),
    )
    mask[-1:] = True
    return mask
