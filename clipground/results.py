"""Typed, frozen result objects; units are in the field names."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Moment:
    """A window of the video: inclusive native frame indices and presentation times in seconds."""

    start_frame: int
    end_frame: int  # inclusive
    start_s: float
    end_s: float  # when the window's last frame stops being shown
    score: float

    def __post_init__(self) -> None:
        if not 0 <= self.start_frame <= self.end_frame:
            raise ValueError(f"bad frame range {self.start_frame}..{self.end_frame}")
        if not self.start_s <= self.end_s:
            raise ValueError(f"bad time range {self.start_s}..{self.end_s}")
        if not math.isfinite(self.score):
            raise ValueError(f"score must be finite, got {self.score}")

    @property
    def duration_s(self) -> float:
        """Length of the window in seconds."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Grounding:
    """Where a query happens in one video: the best window, ranked candidates, and how it was found."""

    video: str
    query: tuple[str, ...]
    best: Moment
    candidates: tuple[Moment, ...]  # best first, non-overlapping by temporal NMS; [0] == best
    sentences: tuple[Moment, ...]  # per-sentence windows (span_mode "ordered"), else empty
    objective: str
    span_mode: str
    model: str
    decoder: str
    native_fps: float
    num_frames: int
    duration_s: float
    sample_fps: float
    num_sampled: int
    frames_embedded: int
