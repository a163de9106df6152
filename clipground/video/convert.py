"""Turn decoded frames into what a sampler hands out: RGB pixels at the output size, upright, in
`Frames` chunks, and a `DecodeSummary` of the pass.

Sizes are (width, height). The output size is in display orientation; a frame stored on its side
is scaled in stored orientation first (cheaper, and as FFmpeg's scaler expects), then turned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from clipground.errors import UsageError
from clipground.types import DecodeSummary, Frames, VideoInfo

Item = tuple[np.ndarray, float, int]  # (upright pixels (H, W, 3) uint8, time_s, native index)
Size = tuple[int, int] | Callable[[int, int], tuple[int, int]]  # (width, height), or from display


def output_size(info: VideoInfo, size: Size | None, short_side: int | None) -> tuple[int, int]:
    """(width, height) of the output in display orientation; `size` may be a function of the
    video's display (width, height), so that a caller need not probe the file first."""
    if (size is None) == (short_side is None):
        raise UsageError(
            f"give exactly one of size or short_side (got size={size}, short_side={short_side})"
        )
    if callable(size):
        size = size(info.width, info.height)
    if size is not None:
        if len(size) != 2 or any(not isinstance(v, int) or v < 1 for v in size):
            raise UsageError(f"size must be (width, height) positive integers, got {size!r}")
        return size[0], size[1]
    if not isinstance(short_side, int) or short_side < 1:
        raise UsageError(f"short_side must be a positive integer, got {short_side!r}")
    scale = short_side / min(info.width, info.height)
    return max(1, round(info.width * scale)), max(1, round(info.height * scale))


def stored_size(size: tuple[int, int], rotation: int) -> tuple[int, int]:
    """(width, height) to ask of the decoder: the display `size` in stored orientation."""
    width, height = size
    return (height, width) if rotation in (90, 270) else (width, height)


def upright(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """Turn an (H, W, 3) frame `rotation` degrees clockwise (a view; stacking copies it)."""
    return np.rot90(pixels, k=-rotation // 90) if rotation else pixels


def to_rgb(
    frame: av.VideoFrame,
    decode_size: tuple[int, int],
    rotation: int,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """Convert one decoded frame: resized in FFmpeg's scaler (area filter), then upright.

    Pass one `reformatter` for all the frames of a pass: it keeps FFmpeg's scaler between frames
    (`VideoFrame.reformat` builds a new one each call: much slower, with identical pixels).
    """
    width, height = decode_size
    reformatter = reformatter or VideoReformatter()
    rgb = reformatter.reformat(frame, width, height, format="rgb24", interpolation="AREA")
    return upright(rgb.to_ndarray(), rotation)


def chunked(items: Iterable[Item], chunk_size: int) -> Iterator[Frames]:
    """Group (pixels, time_s, index) items into `Frames` of at most `chunk_size`."""
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == chunk_size:
            yield _frames(batch)
            batch = []
    if batch:
        yield _frames(batch)


def _frames(batch: list[Item]) -> Frames:
    """One `Frames` from a list of (pixels, time_s, index)."""
    pixels, times, indices = zip(*batch, strict=True)
    return Frames(
        np.stack(pixels),  # (N, H, W, 3), contiguous
        np.asarray(times, dtype=np.float64),
        np.asarray(indices, dtype=np.int64),
    )


def decode_summary(
    num_frames: int, duration_s: float, avg_fps: float, corrupt: int, backend: str
) -> DecodeSummary:
    """A `DecodeSummary`, with native_fps = frames / duration (the average rate if no duration)."""
    fps = num_frames / duration_s if duration_s > 0 else avg_fps
    return DecodeSummary(num_frames, duration_s, fps, corrupt, backend)
