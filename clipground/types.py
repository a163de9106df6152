"""The data the layers hand each other: frames, decode summaries, embeddings and groundings.

Every type is a frozen dataclass with units in its field names; none of them imports a layer above
it, so `video -> model -> cache -> search -> pipeline -> output -> cli` all point one way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Progress = Callable[[int, "int | None"], None]  # (frames embedded so far, expected total or None)


@dataclass(frozen=True)
class VideoInfo:
    """What a cheap probe (first frames only, no full decode) says about a video."""

    path: str
    width: int  # display width (after rotation and sample aspect ratio)
    height: int  # display height (after rotation)
    rotation_deg: int  # clockwise degrees applied to display upright (0, 90, 180, 270)
    avg_fps: float  # container/stream average rate (may be a guess; informational)
    duration_s: float | None  # declared by the file for its video (see probe); None: not said
    start_offset_s: float  # absolute pts of the first frame (s); all other times are relative
    codec: str  # FFmpeg decoder name, e.g. "h264", "mpeg4"


@dataclass(frozen=True, repr=False)
class Frames:
    """One chunk of sampled frames, upright, in presentation order."""

    pixels: np.ndarray  # (N, H, W, 3) uint8
    times_s: np.ndarray  # (N,) float64, seconds after the first frame
    indices: np.ndarray  # (N,) int64, rank in presentation order among all decoded frames

    def __post_init__(self) -> None:
        p, t, i = self.pixels, self.times_s, self.indices
        if p.ndim != 4 or p.shape[3] != 3 or p.dtype != np.uint8:
            raise ValueError(f"pixels must be (N, H, W, 3) uint8, got {p.shape} {p.dtype}")
        n = p.shape[0]
        if t.shape != (n,) or t.dtype != np.float64:
            raise ValueError(f"times_s must be ({n},) float64, got {t.shape} {t.dtype}")
        if i.shape != (n,) or i.dtype != np.int64:
            raise ValueError(f"indices must be ({n},) int64, got {i.shape} {i.dtype}")

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def split(self, size: int) -> list[Frames]:
        """Consecutive pieces of at most `size` frames (views, not copies)."""
        return [
            Frames(self.pixels[piece], self.times_s[piece], self.indices[piece])
            for piece in (slice(i, i + size) for i in range(0, len(self), max(1, size)))
        ]

    def __repr__(self) -> str:
        n = len(self)
        times = f" {self.times_s[0]:.3f}..{self.times_s[-1]:.3f} s" if n else ""
        indices = f" {self.indices[0]}..{self.indices[-1]}" if n else ""
        return (
            f"Frames(pixels={self.pixels.shape} uint8, times_s=({n},){times}, "
            f"indices=({n},){indices})"
        )


@dataclass(frozen=True)
class DecodeSummary:
    """What is known once a pass is done.

    `native_fps` is `num_frames / duration_s`. After seeks or a time range, frames that were not
    decoded are counted from the demux-only packet scan (which was checked against decoded frames),
    so `duration_s` is the whole file's either way. A `duration_s` well short of
    `declared_duration_s` means the file was cut (`video.cut_short`).
    """

    num_frames: int  # native frames (decoded, not the header's count)
    duration_s: float  # last frame time + its duration (or the average frame interval), relative
    native_fps: float  # num_frames / duration_s
    corrupt_packets: int  # packets skipped as undecodable
    backend: str  # "pyav" or "decord": the one actually used
    declared_duration_s: float | None = None  # the file's claim (VideoInfo.duration_s); None: none


@dataclass(frozen=True)
class VideoEmbedding:
    """Sampled frames of one video, embedded: what the cache stores and the search reads."""

    video: str
    embeddings: np.ndarray  # (N, D) float32, L2-normalised
    times_s: np.ndarray  # (N,) float64 presentation times, relative to the first frame
    indices: np.ndarray  # (N,) int64 native frame indices
    summary: DecodeSummary
    sample_fps: float
    model: str

    def __post_init__(self) -> None:
        n = len(self.embeddings)
        if self.embeddings.ndim != 2 or self.times_s.shape != (n,) or self.indices.shape != (n,):
            raise ValueError(
                f"inconsistent shapes: embeddings {self.embeddings.shape}, "
                f"times {self.times_s.shape}, indices {self.indices.shape}"
            )


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
    declared_duration_s: float | None = None  # the file's own claim; None when it makes none


@dataclass(frozen=True)
class ItemError:
    """Why one item of a job (a video, or a (video, query) pair) failed: an exception type name and
    a one-line message; the job goes on with the other items."""

    type: str
    message: str

    @classmethod
    def from_exception(cls, exc: BaseException) -> ItemError:
        """The error of `exc`: its class name, and its message on one line (at most 500 characters)."""
        text = " ".join(str(exc).split())
        return cls(type(exc).__name__, text[:500] or type(exc).__name__)


@dataclass(frozen=True)
class EmbedOutcome:
    """One video of a job embedded (from the cache or by a worker), or why it could not be."""

    video: str
    embedded: VideoEmbedding | None  # None exactly when `error` says why
    error: ItemError | None = None
    cached: bool = False  # read from the embedding cache, not decoded
    seconds: float = 0.0  # wall time spent on this video

    def __post_init__(self) -> None:
        if (self.embedded is None) == (self.error is None):
            raise ValueError(
                f"{self.video}: an outcome holds an embedding or an error, not both or neither"
            )
