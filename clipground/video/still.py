"""One still of a video: the frame on screen at a time, upright and scaled, and as a JPEG."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from clipground.errors import UsageError
from clipground.video.convert import Size
from clipground.video.sampler import FrameSampler

MAX_WIDTH = 1920  # a still wider than this is refused (a thumbnail is ~160)
_SLIVER_S = 1e-3  # the sampled range [t, t + this): the frame shown at t, and no later one
_LOOK_BACK_S = 2.0  # at the end, the last frame is looked for this far back


def frame_at(path: str | Path, t_s: float, width: int) -> np.ndarray:
    """(H, W, 3) uint8: the frame shown `t_s` seconds after the first, `width` pixels wide (the
    height keeps the display aspect); at or after the end, the last frame."""
    if not (math.isfinite(t_s) and t_s >= 0):
        raise UsageError(f"t must be a number of seconds >= 0, got {t_s}")
    if not 1 <= width <= MAX_WIDTH:
        raise UsageError(f"width must be 1..{MAX_WIDTH} pixels, got {width}")

    def size(w: int, h: int) -> tuple[int, int]:
        return width, max(1, round(h * width / w))

    shown = _frames(path, size, (t_s, t_s + _SLIVER_S))
    if not shown and t_s > 0:  # at or after the end: the last frame, as a player shows it
        shown = _frames(path, size, (max(0.0, t_s - _LOOK_BACK_S), t_s))[-1:]
    if not shown:
        raise UsageError(f"{path}: no frame at {t_s} s")
    return shown[0]


def _frames(path: str | Path, size: Size, span: tuple[float, float]) -> list[np.ndarray]:
    sampler = FrameSampler(path, fps=None, size=size, ranges=[span])
    return [pixels for chunk in sampler.chunks() for pixels in chunk.pixels]


def jpeg_bytes(pixels: np.ndarray) -> bytes:
    """A JPEG of an (H, W, 3) uint8 picture (FFmpeg's MJPEG encoder at its default quality)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = frame.width, frame.height
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    packets = codec.encode(frame.reformat(format="yuvj420p")) + codec.encode(None)
    return b"".join(bytes(p) for p in packets)
