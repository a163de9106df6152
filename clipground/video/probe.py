"""Probe a video cheaply: open it and decode just its first frames to learn its display size,
rotation, rate and first timestamp, without decoding the whole file.

`Probe` keeps the exact tick values the decoders need besides the `VideoInfo` callers see.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from clipground.errors import VideoError
from clipground.types import VideoInfo
from clipground.video.decoding import Counter, decoded
from clipground.video.opening import FIX_HINT, Opener, open_video
from clipground.video.timing import timed

log = logging.getLogger(__name__)

# FFmpeg's picture demuxers (png_pipe, jpeg_pipe, ...): a file they read is an image, and it is a
# video only if it holds more than one frame (animated WebP); animated GIF has its own demuxer.
_IMAGE_FORMATS = re.compile(r"^(image2|[a-z0-9]+_pipe)$")


@dataclass(frozen=True)
class Probe:
    """`VideoInfo` plus the exact tick values the decoders need."""

    info: VideoInfo
    stream_index: int
    time_base: Fraction
    first_pts: int  # ticks of `time_base`
    step: int  # ticks: the average frame interval, for frames without pts or duration


Prober = Callable[[Path, Opener], Probe]  # probe_stream, or a test's stand-in


def probe(path: str | Path) -> VideoInfo:
    """Read a video's display size, rotation, rate and start time from its first frames."""
    return probe_stream(Path(path)).info


def probe_stream(path: Path, opener: Opener = open_video) -> Probe:
    """Open `path` and decode just enough frames to know the first pts and the rotation."""
    with opener(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 90000)
        avg_fps = _avg_fps(stream)
        step = max(1, round(1 / (avg_fps * tb))) if avg_fps > 0 else max(1, round(0.04 / tb))
        frames = timed(decoded(container, stream, path, Counter()), step)
        first = next(frames, None)
        if first is None:
            raise VideoError(f"{path}: no decodable video frame; {FIX_HINT}")
        frame, first_pts = first
        _refuse_still_image(container.format.name, frames, path)
        info = _info(path, container, stream, frame, avg_fps, first_pts * tb)
        return Probe(info, stream.index, tb, first_pts, step)


def rel_s(probed: Probe, pts: int) -> float:
    """Seconds after the first frame (integer true division: as exact as the Fraction, faster)."""
    tb = probed.time_base
    return (pts - probed.first_pts) * tb.numerator / tb.denominator


def _refuse_still_image(fmt: str, rest: Iterator[Any], path: Path) -> None:
    """A `VideoError` for a photo (an image format with no second frame in `rest`)."""
    if _IMAGE_FORMATS.match(fmt) and next(rest, None) is None:
        raise VideoError(f"{path}: is a still image ({fmt}), not a video; pass a video file")


def _info(
    path: Path,
    container: av.container.InputContainer,
    stream: av.video.VideoStream,
    frame: av.VideoFrame,
    avg_fps: float,
    start_s: Fraction,
) -> VideoInfo:
    """Assemble a `VideoInfo` from an opened stream and its first decoded frame."""
    rotation = _clockwise_rotation(frame, path)
    width, height = _display_size(frame, stream, rotation)
    return VideoInfo(
        path=str(path),
        width=width,
        height=height,
        rotation_deg=rotation,
        avg_fps=avg_fps,
        duration_s=_duration_s(container, stream),
        start_offset_s=float(start_s),
        codec=stream.codec_context.name,
    )


def _avg_fps(stream: av.video.VideoStream) -> float:
    """The stream's average rate, else FFmpeg's guess, else 0.0 (unknown)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _duration_s(
    container: av.container.InputContainer, stream: av.video.VideoStream
) -> float | None:
    """The duration the file declares for its video: the stream's own, else its Matroska
    `DURATION` tag, else the container's, else None.

    The container's duration spans every stream, and audio often outlasts the video: it is only
    the last resort. Matroska keeps no per-stream duration field, but muxers write the tag.
    """
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tags = stream.metadata.items()
    tagged = next((_clock_s(v) for k, v in tags if k.upper().split("-")[0] == "DURATION"), None)
    if tagged:
        return tagged
    if container.duration:
        return container.duration / av.time_base
    return None


def _clock_s(text: str) -> float | None:
    """Seconds in an `HH:MM:SS.fraction` tag (as mkvmerge and FFmpeg write it); None if not one."""
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", text.strip())
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _clockwise_rotation(frame: av.VideoFrame, path: Path) -> int:
    """Clockwise degrees to turn the decoded picture upright.

    FFmpeg's display-matrix angle (`frame.rotation`, as ffprobe prints it) is counter-clockwise:
    -90 means the player turns the picture 90 degrees clockwise, as iPhone portrait clips need.
    """
    angle = -float(getattr(frame, "rotation", 0) or 0)
    quarter = round(angle / 90)
    if abs(angle - 90 * quarter) > 1:
        log.warning(
            "%s: display rotation %.1f deg is not a right angle; using %d",
            path,
            -angle,
            -90 * quarter,
        )
    return (90 * quarter) % 360


def _display_size(
    frame: av.VideoFrame, stream: av.video.VideoStream, rotation: int
) -> tuple[int, int]:
    """(width, height) as a player shows it: sample aspect ratio applied, then rotation."""
    width, height = frame.width, frame.height
    sar = stream.sample_aspect_ratio
    if sar and sar > 0 and sar != 1:  # anamorphic (DV, HDV): stretch the width as players do
        width = max(1, round(width * sar))
    return (height, width) if rotation in (90, 270) else (width, height)
