"""Video decoding: a cheap probe, then frames sampled by presentation time, in bounded chunks.

Two backends share one interface. PyAV (the default) demuxes and decodes itself, skips undecodable
packets, decodes only the packets that sampled frames need and converts only the sampled frames.
decord is an alternative that is checked against PyAV's packet scan first and falls back to PyAV
(with a warning) where it would return wrong frames.
This is the only module that imports `av` or `decord`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import re
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from clipground.errors import UsageError, VideoError
from clipground.types import DecodeSummary, Frames, VideoInfo
from clipground.workers import background

log = logging.getLogger(__name__)

DECODERS = ("pyav", "decord")

_EPS_S = 1e-9  # float noise allowed when a frame time is compared with a target time
_REORDER_DEPTH = 4  # frames held back to repair pts that decoders emit out of order
_HEAD_FRAMES = 16  # first decoded frames compared with the packet scan before it is trusted
_SEEK_MIN_S = 2.0  # never seek for less; below this, decoding through is cheaper
_SEEK_MIN_GOPS = 3  # ...and only when the next target is this many (longest) GOPs ahead
_SEEK_RETRIES = 3  # earlier keyframes tried when a seek overshoots, before decoding from the start
_SKIP_MIN_FRACTION = 0.1  # skip unneeded packets only where at least this fraction of them are
_SEGMENT_MIN_S = 10.0  # segments decoded at once are no shorter (each costs a file and a decoder)
_SHORT_FRAMES = 2  # the header's duration may exceed the decoded one by this many frames...
_SHORT_FRACTION = 0.05  # ...or this fraction of it before a file is reported as cut short
_DECORD_MAX_MEAN_DIFF = 12.0  # decord vs PyAV frame 0, mean |diff| in 0..255 (scalers differ)
_FIX_HINT = "check that the file plays in a media player; re-export or re-download it if not"
# FFmpeg's picture demuxers (png_pipe, jpeg_pipe, ...): a file they read is an image, and it is a
# video only if it holds more than one frame (animated WebP); animated GIF has its own demuxer.
_IMAGE_FORMATS = re.compile(r"^(image2|[a-z0-9]+_pipe)$")

_Item = tuple[np.ndarray, float, int]  # (upright pixels (H, W, 3), time_s, native index)


# ---------------------------------------------------------------------------------------------
# Opening and probing


@dataclass(frozen=True)
class _Probe:
    """`VideoInfo` plus the exact tick values the decoders need."""

    info: VideoInfo
    stream_index: int
    time_base: Fraction
    first_pts: int  # ticks of `time_base`
    step: int  # ticks: the average frame interval, for frames without pts or duration


def _open(path: Path) -> av.container.InputContainer:
    """Open `path` for reading, turning every failure into a `VideoError` that names the file."""
    if not path.exists():
        raise VideoError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise VideoError(f"{path}: is a directory, not a video file; pass a video file")
    try:
        # Tags that are not UTF-8 (Latin-1 titles from older tools) must not keep a playable file
        # from opening: PyAV decodes them strictly unless told otherwise.
        return av.open(str(path), mode="r", metadata_errors="replace")
    except PermissionError:
        raise VideoError(
            f"{path}: permission denied; make the file readable (chmod +r) or run as its owner"
        ) from None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path}: cannot be opened as a video ({exc}); {_FIX_HINT}") from exc


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.VideoStream:
    """The first video stream (as a player would pick it), or a `VideoError`."""
    if not container.streams.video:
        raise VideoError(
            f"{path}: has no video stream (audio-only or not a video); pass a file with video"
        )
    return container.streams.video[0]


def probe(path: str | Path) -> VideoInfo:
    """Read a video's display size, rotation, rate and start time from its first frames."""
    return _probe(Path(path)).info


def _probe(path: Path) -> _Probe:
    """Open `path` and decode just enough frames to know the first pts and the rotation."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        tb = stream.time_base or Fraction(1, 90000)
        avg_fps = _avg_fps(stream)
        step = max(1, round(1 / (avg_fps * tb))) if avg_fps > 0 else max(1, round(0.04 / tb))
        timed = _timed(_decoded(container, stream, path, _Counter()), step)
        first = next(timed, None)
        if first is None:
            raise VideoError(f"{path}: no decodable video frame; {_FIX_HINT}")
        frame, first_pts = first
        _refuse_still_image(container.format.name, timed, path)
        info = _info(path, container, stream, frame, avg_fps, first_pts * tb)
        return _Probe(info, stream.index, tb, first_pts, step)


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
    """The video stream's duration, else the container's, else None."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


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


# ---------------------------------------------------------------------------------------------
# Demuxing, decoding and timing (PyAV)


class _Counter:
    """Packets skipped as undecodable, shared by the generators of one pass."""

    def __init__(self) -> None:
        self.corrupt_packets = 0
        self.packets = 0  # packets sent that should each show a frame (not empty or discarded)
        self.frames = 0  # frames the decoder gave back
        self.interlaced = 0  # ...of which interlaced
        self.short_drains = 0  # drains before a skipped run that gave back too few frames

    def frames_lost(self) -> bool:
        """Fewer frames than packets over the whole pass (see `_frames_lost`)."""
        return _frames_lost(self.packets, self.frames, self.interlaced)

    def mark(self) -> tuple[int, int, int]:
        """The counts now, to compare with later (`lost_since`)."""
        return self.packets, self.frames, self.interlaced

    def lost_since(self, mark: tuple[int, int, int]) -> bool:
        """Fewer frames than packets since `mark`, with nothing left in the decoder (just drained)."""
        packets, frames, interlaced = (now - then for now, then in zip(self.mark(), mark))
        return _frames_lost(packets, frames, interlaced)


def _frames_lost(packets: int, frames: int, interlaced: int) -> bool:
    """Fewer frames than packets: 1 packet a frame, or exactly 2 for field-coded video."""
    fields = interlaced == frames and 2 * frames == packets
    return frames < packets and not fields


class _Skip:
    """Which packets a pass does not decode: none until `start`, and none once `broken`.

    Every packet is checked against the scan's decode order as it is demuxed, so a skipped packet
    is always the one the plan meant; a packet out of that order sets `broken`.
    """

    def __init__(self) -> None:
        self.order: np.ndarray | None = None  # (P,) the scan's pts in decode order
        self.unneeded: np.ndarray | None = None  # (P,) bool: do not decode
        self.keys: np.ndarray | None = None  # (P,) bool: keyframes
        self.cursor = 0  # position in `order` of the next packet
        self.broken = False

    def start(self, scan: PacketScan, unneeded: np.ndarray) -> None:
        """Skip the packets `unneeded` marks: (P,) bool in the scan's decode order."""
        self.order, self.keys, self.unneeded = scan.decode_pts, scan.decode_key, unneeded

    @property
    def active(self) -> bool:
        return self.unneeded is not None and not self.broken

    def skips(self, packet: av.Packet) -> bool:
        """Whether `packet` is not to be decoded (flush, empty and discarded ones always are)."""
        if not packet.size or packet.is_discard:
            return False
        at, self.cursor = self.cursor, self.cursor + 1
        if self.order is None or self.unneeded is None or self.broken:
            return False
        if at >= len(self.order) or self.order[at] != packet.pts:
            at = self._find(packet)  # after a seek or a restart
            if at is None:
                self.broken = True
                return False
            self.cursor = at + 1
        return bool(self.unneeded[at])

    def _find(self, packet: av.Packet) -> int | None:
        """Where a pass resumes: the first packet, or a keyframe after a seek."""
        assert self.order is not None and self.keys is not None
        where = np.flatnonzero(self.order == packet.pts) if packet.pts is not None else []
        if len(where) != 1 or not (where[0] == 0 or (packet.is_keyframe and self.keys[where[0]])):
            return None
        return int(where[0])


def _decoded(
    container: av.container.InputContainer,
    stream: av.video.VideoStream,
    path: Path,
    counter: _Counter,
    skip: _Skip | None = None,
) -> Iterator[av.VideoFrame]:
    """Decoded frames in output order; undecodable packets are counted and skipped.

    Packets `skip` names are not decoded. Before the first of a run of them the decoder is drained
    and reset, so decoding resumes at the next needed packet (a keyframe) as after a seek. A drain
    that gives back fewer frames than the run sent counts in `counter.short_drains`: frame threads
    can drop frames after a damaged packet without reporting an error.
    """
    drained = True  # a fresh or just-seeked decoder holds nothing
    mark = counter.mark()
    if skip is not None:
        skip.cursor = 0  # from the start; after a seek `_Skip` finds its place at the keyframe
    for packet in _demuxed(container, stream, path):
        if packet is not None and skip is not None and skip.skips(packet):
            if not drained:
                frames = _decode(stream, None, path, counter)
                stream.codec_context.flush_buffers()
                counter.short_drains += int(counter.lost_since(mark))
                drained, mark = True, counter.mark()
                yield from frames
            continue
        drained = False
        if packet is not None and packet.size and not packet.is_discard:
            counter.packets += 1
        yield from _decode(stream, packet, path, counter)


def _decode(
    stream: av.video.VideoStream, packet: av.Packet | None, path: Path, counter: _Counter
) -> list[av.VideoFrame]:
    """The frames one packet (None: the end of the stream) gives back; [] if it is undecodable."""
    try:
        frames = packet.decode() if packet is not None else stream.decode(None)
    except av.error.FFmpegError as exc:
        if isinstance(exc, MemoryError):
            raise
        counter.corrupt_packets += 1  # a corrupt stretch must not end the video
        log.debug("%s: skipped an undecodable packet (%s)", path, exc)
        return []
    counter.frames += len(frames)
    counter.interlaced += sum(1 for frame in frames if frame.interlaced_frame)
    return frames


def _demuxed(
    container: av.container.InputContainer, stream: av.video.VideoStream, path: Path
) -> Iterator[av.Packet | None]:
    """Video packets, ending with a flush; a container error (truncated file) ends the stream."""
    try:
        yield from container.demux(stream)  # ends with an empty packet that flushes the decoder
    except av.error.FFmpegError as exc:
        log.warning(
            "%s: stopped at a container read error (%s); the file may be truncated", path, exc
        )
        yield None  # flush what the decoder still holds: the frames before the cut are good


@dataclass(frozen=True)
class _Released:
    """A decoded frame whose picture went back to the decoder as soon as it was seen to be
    unwanted: what `_timed` and `_with_end` read of it."""

    pts: int | None
    dts: int | None
    duration: int
    interlaced_frame: bool


def _released(
    frames: Iterable[av.VideoFrame], keep: Callable[[int | None, int | None], bool]
) -> Iterator[av.VideoFrame | _Released]:
    """`frames`, each one that `keep(its pts, the next frame's pts)` refuses as a `_Released`.

    Holding decoded pictures costs: `_timed` keeps `_REORDER_DEPTH` frames back, and a decoder
    whose pictures are held cycles through more buffers, so each one it writes is colder in the
    cache (a bare loop over the 1080p bench video's 1,500 frames: 1.30 CPU-s holding 4, 1.01
    letting each go at once).
    """
    previous = None
    for frame in frames:
        if previous is not None:
            yield previous if keep(previous.pts, frame.pts) else _release(previous)
        previous = frame
    if previous is not None:
        yield previous


def _release(frame: av.VideoFrame) -> _Released:
    return _Released(frame.pts, frame.dts, frame.duration, frame.interlaced_frame)


def _timed(
    frames: Iterable[av.VideoFrame | _Released], step: int
) -> Iterator[tuple[av.VideoFrame | _Released, int]]:
    """Pair each frame with its presentation time (ticks), in presentation order.

    Decoders output frames in display order, but some (MPEG-4 ASP with packed B-frames in AVI)
    attach the pts of a neighbouring packet. Handing out the smallest pending pts over a window of
    `_REORDER_DEPTH` frames repairs that and is the identity for well-formed streams.
    """
    pending: deque[av.VideoFrame | _Released] = deque()
    heap: list[int] = []
    last = None
    for frame in frames:
        pts = frame.pts if frame.pts is not None else frame.dts
        pts = pts if pts is not None else (last + step if last is not None else 0)
        last = pts
        heapq.heappush(heap, pts)
        pending.append(frame)
        if len(pending) > _REORDER_DEPTH:
            yield pending.popleft(), heapq.heappop(heap)
    while pending:
        yield pending.popleft(), heapq.heappop(heap)


def _with_end(
    timed: Iterable[tuple[av.VideoFrame | _Released, int]], step: int
) -> Iterator[tuple[av.VideoFrame | _Released, int, int]]:
    """Add each frame's display end: the next frame's pts; for the last, pts + its duration."""
    previous: tuple[av.VideoFrame | _Released, int] | None = None
    interval: int | None = None
    for frame, pts in timed:
        if previous is not None:
            interval = pts - previous[1]
            yield previous[0], previous[1], pts
        previous = (frame, pts)
    if previous is not None:
        yield previous[0], previous[1], previous[1] + _last_duration(previous[0], interval, step)


def _last_duration(frame: av.VideoFrame | _Released, interval: int | None, step: int) -> int:
    """The last frame's display time (ticks): its own, else the previous interval, else `step`."""
    duration = frame.duration if frame.duration and frame.duration > 0 else (interval or step)
    # Field-coded interlaced video (AVCHD) puts one field's duration on the frame.
    if frame.interlaced_frame and interval and abs(2 * duration - interval) <= 1:
        duration = interval
    return duration


# ---------------------------------------------------------------------------------------------
# Packet scan: a demux-only pass mapping pts -> native frame index


@dataclass(frozen=True)
class PacketScan:
    """Where the frames are, from demuxing only (no decoding)."""

    pts: np.ndarray  # (P,) int64 sorted pts (ticks) of the packets that carry a displayed frame
    keyframe_pts: np.ndarray  # (K,) int64 sorted pts of keyframes
    end_pts: int  # the last packet's pts + duration (ticks)
    complete: bool  # every such packet had a pts
    reordered: bool  # pts not increasing in decode order: the stream has B-frames
    decode_pts: np.ndarray  # (P,) int64 the same pts in decode (file) order
    decode_key: np.ndarray  # (P,) bool: which of them are keyframes

    def gop_ticks(self) -> int:
        """The longest distance between keyframes (the whole stream if it has one keyframe)."""
        marks = np.concatenate([self.keyframe_pts, [self.end_pts]])
        return int(np.diff(marks).max()) if len(marks) > 1 else self.end_pts

    def rank(self, pts: int) -> int:
        """The native index of the frame with presentation time `pts`."""
        return int(np.searchsorted(self.pts, pts, side="left"))

    def successor(self, pts: int) -> int | None:
        """The pts of the frame shown after the one at `pts` (None for the last)."""
        index = int(np.searchsorted(self.pts, pts, side="right"))
        return int(self.pts[index]) if index < len(self.pts) else None


def scan_packets(path: str | Path) -> PacketScan:
    """Demux the first video stream of `path` without decoding and list its packets' pts."""
    path = Path(path)
    pts, flags, end, complete, reordered, newest = [], [], 0, True, False, None
    with _open(path) as container:
        stream = _video_stream(container, path)
        for packet in _demuxed(container, stream, path):
            if packet is None or packet.size == 0 or packet.is_discard:
                continue  # flush packets and edit-list-discarded packets show nothing
            if packet.pts is None:
                complete = False
                continue
            reordered = reordered or (newest is not None and packet.pts < newest)
            newest = packet.pts if newest is None else max(newest, packet.pts)
            pts.append(packet.pts)
            flags.append(bool(packet.is_keyframe))
            end = max(end, packet.pts + (packet.duration or 0))
    decode_pts, decode_key = np.asarray(pts, dtype=np.int64), np.asarray(flags, dtype=bool)
    return PacketScan(
        np.sort(decode_pts),
        np.sort(decode_pts[decode_key]),
        end,
        complete,
        reordered,
        decode_pts,
        decode_key,
    )


def _unneeded_mask(scan: PacketScan, wanted: np.ndarray) -> np.ndarray:
    """(P,) bool in decode order: the packets no wanted frame (`wanted`: over `scan.pts`) needs.

    A frame needs the packets of its GOP (keyframe to keyframe, in decode order) up to its own:
    references come earlier in decode order. A GOP with leading pictures (shown before its
    keyframe: an open GOP) may refer to the whole GOP before it, which is then needed whole.
    Packets before the first keyframe are always needed. None is marked when pts repeat (ambiguous).
    """
    dts_pts, keys = scan.decode_pts, scan.decode_key
    n = len(dts_pts)
    starts = np.flatnonzero(keys)
    if n == 0 or len(starts) == 0 or len(np.unique(dts_pts)) != n or len(wanted) != n:
        return np.zeros(n, bool)
    position = np.where(np.isin(dts_pts, scan.pts[wanted]), np.arange(n), -1)
    last_wanted = np.maximum.reduceat(position, starts)  # -1 or < start: none wanted
    leading = np.minimum.reduceat(dts_pts, starts) < dts_pts[starts]
    bounds = np.append(starts, n)
    need_end = np.where(last_wanted >= starts, last_wanted + 1, starts)
    whole_next = False  # the GOP after this one is needed and has leading pictures
    for g in range(len(starts) - 1, -1, -1):
        if whole_next:
            need_end[g] = bounds[g + 1]
        whole_next = bool(leading[g]) and need_end[g] > starts[g]
    gop = np.cumsum(keys) - 1
    return (gop >= 0) & (np.arange(n) >= need_end[np.maximum(gop, 0)])


def _matches(scan: PacketScan, head: list[int]) -> bool:
    """Whether the scan lists, in order, the first frames decoded from the start (`head`)."""
    return scan.complete and [int(p) for p in scan.pts[: len(head)]] == head


def _cuts(scan: PacketScan, wanted: np.ndarray, parts: int, min_ticks: int) -> list[int]:
    """Keyframe pts that cut the video into up to `parts` segments of about equal decoding work
    (the packets wanted frames need; `wanted` over `scan.pts`), each at least `min_ticks` long.

    A cut must be clean: every packet before it in decode order is shown before the keyframe and
    every packet after it at or after, so no frame of one segment refers to the other.
    """
    pts, n = scan.decode_pts, len(scan.decode_pts)
    if n < 2 or len(np.unique(pts)) != n or len(wanted) != n:
        return []
    clean = scan.decode_key.copy()
    clean[0] = False
    clean[1:] &= np.maximum.accumulate(pts)[:-1] < pts[1:]
    clean &= np.minimum.accumulate(pts[::-1])[::-1] >= pts
    work = np.cumsum(~_unneeded_mask(scan, wanted))  # needed packets up to each position
    cuts: list[int] = []
    for part in range(1, parts):
        last = cuts[-1] if cuts else int(scan.pts[0])
        fits = (pts >= last + min_ticks) & (pts <= scan.end_pts - min_ticks)
        where = np.flatnonzero(clean & fits)
        if len(where) == 0:
            break
        goal = work[-1] * part / parts
        cut = int(pts[where[np.argmin(np.abs(work[where - 1] - goal))]])
        if cut not in cuts:
            cuts.append(cut)
    return cuts


def _split(
    ranges: tuple[tuple[float, float], ...], cuts_s: list[float]
) -> list[tuple[tuple[float, float], ...]]:
    """`ranges` cut at the times `cuts_s` (s, increasing): one tuple of ranges per segment that has
    any."""
    bounds = [0.0, *cuts_s, math.inf]
    pieces = []
    for lo, hi in zip(bounds, bounds[1:]):
        piece = tuple((max(a, lo), min(b, hi)) for a, b in ranges if max(a, lo) < min(b, hi))
        if piece:
            pieces.append(piece)
    return pieces


def _head_enough(scan: PacketScan, head: list[int]) -> bool:
    """Whether `head` holds enough frames decoded from the start to trust a scan it matches."""
    return len(head) >= min(_HEAD_FRAMES, len(scan.pts))


def _rel_s(probed: _Probe, pts: int) -> float:
    """Seconds after the first frame (integer true division: as exact as the Fraction, faster)."""
    tb = probed.time_base
    return (pts - probed.first_pts) * tb.numerator / tb.denominator


def _wanted(plan: _Plan, probed: _Probe, scan: PacketScan) -> np.ndarray:
    """(P,) bool over `scan.pts`: frames the plan wants, and the last (so that a pass ends at the
    end of the file and counts its frames)."""
    ends = np.append(scan.pts[1:], scan.end_pts)
    rel = [_rel_s(probed, int(p)) for p in scan.pts], [_rel_s(probed, int(p)) for p in ends]
    wanted = np.fromiter(
        (plan.wants(t0, t1) for t0, t1 in zip(*rel)),
        dtype=bool,
        count=len(scan.pts),
    )
    wanted[-1:] = True
    return wanted


# ---------------------------------------------------------------------------------------------
# Sampling plan


@dataclass(frozen=True)
class _Plan:
    """Which times to sample: the grid k / fps, or every frame (fps None), within `ranges`.

    `ranges` are sorted, disjoint [start, end) stretches in seconds; one pass decodes them all,
    seeking over the gaps between them where seeking pays.
    """

    fps: float | None
    ranges: tuple[tuple[float, float], ...] = ((0.0, math.inf),)

    @property
    def end_s(self) -> float:
        return self.ranges[-1][1]

    @property
    def every_frame(self) -> bool:
        """Whether every frame of the video is wanted (then no packet can be skipped)."""
        return self.fps is None and self.ranges == ((0.0, math.inf),)

    def wants(self, t0: float, t1: float) -> bool:
        """Whether the frame displayed over [t0, t1) is the one shown at a target time."""
        if self.fps is None:
            return any(
                t0 < end - _EPS_S and (t0 >= start - _EPS_S or t1 > start + _EPS_S)
                for start, end in self.ranges
            )
        return self.next_target(t0) < t1 - _EPS_S

    def next_target(self, t: float) -> float:
        """The first target at or after `t` (a frame starting within _EPS_S after it counts);
        inf after the last range."""
        for start, end in self.ranges:
            target = max(t, start)
            if self.fps is not None:
                target = math.ceil((target - _EPS_S) * self.fps) / self.fps
            if target < end - _EPS_S:
                return target
        return math.inf


def _plan(
    fps: float | None, avg_fps: float, ranges: tuple[tuple[float, float], ...]
) -> _Plan:
    """The plan for the requested rate; at or above the native rate every frame is emitted once."""
    every = fps is None or (avg_fps > 0 and fps >= avg_fps)
    return _Plan(None if every else fps, ranges)


# ---------------------------------------------------------------------------------------------
# Output size and pixel conversion


def _output_size(
    info: VideoInfo,
    size: tuple[int, int] | Callable[[int, int], tuple[int, int]] | None,
    short_side: int | None,
) -> tuple[int, int]:
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


def _upright(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """Turn an (H, W, 3) frame `rotation` degrees clockwise (a view; stacking copies it)."""
    return np.rot90(pixels, k=-rotation // 90) if rotation else pixels


def _to_rgb(
    frame: av.VideoFrame,
    decode_size: tuple[int, int],
    rotation: int,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """Convert one decoded frame: resized in FFmpeg's scaler (area filter), then upright.

    Pass one `reformatter` for all the frames of a pass: it keeps FFmpeg's scaler between frames
    (`VideoFrame.reformat` builds a new one each call, which cost 2.7-3.6 ms a frame at 640x360 against
    0.4 ms reused, with identical pixels).
    """
    width, height = decode_size
    reformatter = reformatter or VideoReformatter()
    rgb = reformatter.reformat(frame, width, height, format="rgb24", interpolation="AREA")
    return _upright(rgb.to_ndarray(), rotation)


def _chunked(items: Iterable[_Item], chunk_size: int) -> Iterator[Frames]:
    """Group (pixels, time_s, index) items into `Frames` of at most `chunk_size`."""
    batch: list[_Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == chunk_size:
            yield _frames(batch)
            batch = []
    if batch:
        yield _frames(batch)


def _frames(batch: list[_Item]) -> Frames:
    """One `Frames` from a list of (pixels, time_s, index)."""
    pixels, times, indices = zip(*batch, strict=True)
    return Frames(
        np.stack(pixels),  # (N, H, W, 3), contiguous
        np.asarray(times, dtype=np.float64),
        np.asarray(indices, dtype=np.int64),
    )


# ---------------------------------------------------------------------------------------------
# The PyAV pass


@dataclass(frozen=True)
class _Seek:
    """A planned seek to a keyframe from the scan (seeking to a keyframe's own pts lands on it even
    where the index is in decode time, as in MP4 with B-frames; an arbitrary time would not)."""

    target: int  # pts of the next target: the first frame decoded must not be later
    key: int  # index into PacketScan.keyframe_pts
    tries: int = 0  # earlier keyframes tried after an overshoot


class _PyAVPass:
    """One pass over a file with PyAV: decode forward, seek only when the next target is far.

    Indices are exact counts while decoding from the start. After a seek they are ranks in the
    packet scan, which is trusted only while every frame decoded from the start (at least the
    first `_HEAD_FRAMES`) sits at its own scan entry; otherwise the pass never seeks.
    """

    backend = "pyav"

    def __init__(
        self,
        path: Path,
        probed: _Probe,
        plan: _Plan,
        decode_size: tuple[int, int],
        skip_unneeded: bool = True,
        frame_threads: bool = True,
        scan: PacketScan | None = None,
        head: list[int] | None = None,
    ):
        self.path, self.probed, self.plan, self.decode_size = path, probed, plan, decode_size
        self.counter = _Counter()
        self.head: list[int] = []  # pts of the first frames decoded from the start
        self.scan: PacketScan | None = None
        self.trusted = False  # set when the scan is made, cleared by any contradiction
        self.may_seek = True
        self.may_skip = skip_unneeded and not plan.every_frame  # see `_start_skipping`
        self.skip = _Skip()
        self.restart = False
        self.done_pts: int | None = None  # newest frame handled: skip it when met again
        self.last: tuple[int, int] | None = None  # (index, end pts) of that frame
        self.at_eof = False
        self.reformatter = VideoReformatter()  # FFmpeg's scaler, kept from frame to frame
        self.warned_index = False
        # Pictures no sampled frame needs go back to the decoder at once (`_released`), until
        # frames come out of pts order: then `_timed` may give them other times.
        self.release = not plan.every_frame
        # Off once frames may have been lost (see `_restart_needed`), and for the segments of a
        # cut video, each decoded beside the others (slice threads cost no CPU to spare).
        self.frame_threads = frame_threads
        self.seeked = False
        # `scan`, a packet scan made already, is checked against this pass's first frames, or
        # with `head` (a segment of `FrameSampler.chunks_unordered`) against those frames decoded
        # before: the pass then skips packets from the start and seeks to its first target.
        self.prechecked = head is not None
        self.unchecked_scan = scan if head is None else None
        if head is not None:
            self.scan, self.head, self.trusted = scan, list(head), True

    def run(self) -> Iterator[_Item]:
        """Each sampled frame, upright, with its time and native index."""
        while True:
            # A restart decodes everything again: count undecodable packets afresh.
            self.restart, self.counter = False, _Counter()
            yield from self._decode_file()
            if not self.restart:
                return

    def _decode_file(self) -> Iterator[_Item]:
        """Open the file and decode segment after segment until the end, or a restart."""
        with _open(self.path) as container:
            stream = container.streams[self.probed.stream_index]
            # Slice + frame threads: this is the hot loop.
            stream.thread_type = "AUTO" if self.frame_threads else "SLICE"
            if self.prechecked:
                self._start_skipping()  # the head frames it would wait for were checked before
            seek = self._first_seek()
            while True:
                seek = yield from self._segment(container, stream, seek)
                if seek is None:
                    return

    def _first_seek(self) -> _Seek | None:
        """A prechecked pass starts at its first target's keyframe (None: from the start)."""
        if not self.prechecked:
            return None
        seek = self._seek_to(self.plan.next_target(0.0))
        return seek if seek is not None and seek.key > 0 else None

    def _segment(
        self,
        container: av.container.InputContainer,
        stream: av.video.VideoStream,
        seek: _Seek | None,
    ) -> Generator[_Item, None, _Seek | None]:
        """Decode from the start (seek None) or after a seek; return the next seek, or None."""
        if seek is not None and not self._seek(container, stream, seek):
            return None
        step = self.probed.step
        decoded = _decoded(container, stream, self.path, self.counter, self.skip)
        frames = _with_end(_timed(_released(decoded, self._may_want), step), step)
        position = -1
        for position, (frame, pts, end) in enumerate(frames):
            if self._restart_needed():
                return None
            if position == 0 and seek is not None and pts > seek.target:
                return self._retry(seek, f"landed at pts {pts}")
            if self.skip.broken:
                self._stop_skipping("the packets are not those of the scan")
                return None
            index = self._index(pts, position, from_start=seek is None)
            if self.restart:
                return None
            if self.done_pts is not None and pts <= self.done_pts:
                continue  # handled before a seek or restart
            end = self._end(pts, end)
            yield from self._handle(frame, pts, end, index)
            if self.restart:
                return None
            if seek is None and position + 1 == _HEAD_FRAMES:
                self._start_skipping()
            if self._range_done(end):
                return None
            next_seek = self._next_seek(end)
            if next_seek is not None:
                return next_seek
        if self._restart_needed(at_eof=seek is None and not self.seeked):
            return None
        if position < 0 and seek is not None:
            return self._retry(seek, "no frame came after it")
        self.at_eof = True
        return None

    def _restart_needed(self, at_eof: bool = False) -> bool:
        """Arrange a restart when a packet failed, a drain before skipped packets came up short,
        or (`at_eof`) fewer frames came than packets.

        While packets are skipped that may be the skipping's doing: decode everything again.
        Otherwise see `_lost_to_threads`.
        """
        counter = self.counter
        failed = bool(counter.corrupt_packets or counter.short_drains)
        failed = failed or (at_eof and counter.frames_lost())
        if failed and self.skip.active:
            self._stop_skipping("a packet failed to decode, or frames are missing, while skipping")
            return True
        return failed and self._lost_to_threads()

    def _lost_to_threads(self) -> bool:
        """Arrange a restart without frame threads: frames may have been lost to them.

        With frame threads, FFmpeg drops the good frames still in flight when a packet fails (a
        damaged file lost all of its frames that way), and at the cut of a truncated file it drops
        them without any error; decoding a frame at a time (slice threads only) loses none. So:
        restart that way after the first undecodable packet, or at the end of a pass from the start
        that got fewer frames than packets. Frames handed out so far are kept (`done_pts`).
        """
        if not self.frame_threads:
            return False
        log.debug("%s: frames may be lost to frame threads; decoding again without them", self.path)
        self.frame_threads, self.restart = False, True
        return True

    def _seek(
        self, container: av.container.InputContainer, stream: av.video.VideoStream, seek: _Seek
    ) -> bool:
        """Seek to the planned keyframe; on failure arrange a restart instead."""
        assert self.scan is not None  # seeks are planned from the scan
        pts = int(self.scan.keyframe_pts[seek.key])
        log.debug("%s: seeking to %.3f s", self.path, self._rel(pts))
        self.seeked = True
        try:
            container.seek(pts, stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            self._missed(f"seek to pts {pts} failed ({exc})")
            return False
        return True

    def _retry(self, seek: _Seek, why: str) -> _Seek | None:
        """A seek overshot (imprecise demuxers: MPEG-TS): try the keyframe before, then restart."""
        if seek.key > 0 and seek.tries < _SEEK_RETRIES:
            log.debug("%s: seek %s; trying the keyframe before", self.path, why)
            return _Seek(seek.target, seek.key - 1, seek.tries + 1)
        self._missed(f"seek {why}")
        return None

    def _missed(self, why: str) -> None:
        """Seeking does not work on this file: decode again from the start, never seek again."""
        log.debug("%s: %s; decoding from the start instead", self.path, why)
        self.may_seek, self.restart = False, True

    def _handle(
        self, frame: av.VideoFrame | _Released, pts: int, end: int, index: int
    ) -> Iterator[_Item]:
        """Hand out `frame` if the plan wants it; remember it as handled either way.

        A wanted frame whose picture was released (`_may_want` judged it by times that `_timed`
        then changed) arranges a restart that releases nothing."""
        t0, t1 = self._rel(pts), self._rel(end)
        wanted = self.plan.wants(t0, t1)
        if wanted and isinstance(frame, _Released):
            log.debug("%s: frame at pts %d was released early; decoding again", self.path, pts)
            self.release, self.restart = False, True
            return
        self.done_pts, self.last = pts, (index, end)
        if wanted:
            rotation = self.probed.info.rotation_deg
            yield _to_rgb(frame, self.decode_size, rotation, self.reformatter), t0, index

    def _may_want(self, pts: int | None, next_pts: int | None) -> bool:
        """Whether the frame at `pts`, followed by one at `next_pts`, may be handed out: its
        picture is kept. Judged by the decoder's pts while they rise; `_handle` checks it."""
        if not self.release:
            return True
        if pts is None or next_pts is None or next_pts <= pts:
            self.release = False  # out of pts order: keep every picture from here on
            return True
        return self.plan.wants(self._rel(pts), self._rel(next_pts))

    def _rel(self, pts: int) -> float:
        """Seconds after the first frame."""
        return _rel_s(self.probed, pts)

    def _index(self, pts: int, position: int, from_start: bool) -> int:
        """Native index of the frame at `pts`: a count from the start, else its scan rank."""
        if from_start and self.skip.order is None:
            if position == len(self.head) < _HEAD_FRAMES:  # once, also across restarts
                self.head.append(pts)
            if self.scan is not None and self.trusted:
                self.trusted = position < len(self.scan.pts) and int(self.scan.pts[position]) == pts
            return position
        scan = self.scan
        assert scan is not None  # seek segments exist only with a trusted scan
        index = scan.rank(pts)
        known = index < len(scan.pts) and scan.pts[index] == pts
        if not known and self.skip.active:
            self._stop_skipping(f"frame at pts {pts} is not in the packet scan")
        elif not known and not self.warned_index:
            self.warned_index = True
            log.warning(
                "%s: frame at pts %d is not in the packet scan; frame indices after a "
                "seek may be off",
                self.path,
                pts,
            )
        return index

    def _end(self, pts: int, end: int) -> int:
        """The frame's display end: while packets are skipped, the next decoded frame may not be
        the next frame shown; the scan knows which is."""
        if self.skip.order is None or self.scan is None:
            return end
        successor = self.scan.successor(pts)
        return end if successor is None else min(end, successor)

    def _start_skipping(self) -> None:
        """Once the first frames match the packet scan, skip the packets no sampled frame needs,
        where that is at least `_SKIP_MIN_FRACTION` of them (each skipped run drains the decoder)."""
        if not self.may_skip or self.skip.order is not None:
            return
        self._ensure_scan()
        if self.scan is None or not self._scan_usable():
            return
        unneeded = _unneeded_mask(self.scan, _wanted(self.plan, self.probed, self.scan))
        count = int(unneeded.sum())
        if count < _SKIP_MIN_FRACTION * len(self.scan.pts):
            return
        log.debug(
            "%s: %d of %d packets are needed by no sampled frame; not decoding them",
            self.path, count, len(self.scan.pts),
        )
        self.skip.start(self.scan, unneeded)

    def _stop_skipping(self, why: str) -> None:
        """The scan contradicts a decoded frame: decode again from the start, skipping nothing."""
        log.debug("%s: %s; decoding every packet again", self.path, why)
        self.skip, self.may_skip, self.restart = _Skip(), False, True

    def _range_done(self, end: int) -> bool:
        """Whether the range is over and the frames after it can be counted from the scan."""
        if self._rel(end) < self.plan.end_s - _EPS_S:
            return False
        self._ensure_scan()
        return self._scan_usable()  # otherwise decode on (nothing more is emitted) to count

    def _next_seek(self, end: int) -> _Seek | None:
        """A seek when the next target is several GOPs past `end`, else None."""
        now = self._rel(end)
        target = self.plan.next_target(now)
        if not self.may_seek or target - now < _SEEK_MIN_S or target >= self.plan.end_s:
            return None
        self._ensure_scan()
        if self.scan is None or not self._scan_usable():
            return None
        if (target - now) / self.probed.time_base < _SEEK_MIN_GOPS * self.scan.gop_ticks():
            return None
        return self._seek_to(target)

    def _seek_to(self, target: float) -> _Seek | None:
        """A seek to the keyframe at or before `target` (s), if seeking may be tried."""
        if not (self.may_seek and math.isfinite(target) and self._scan_usable()):
            return None
        assert self.scan is not None
        target_pts = self.probed.first_pts + math.floor((target + _EPS_S) / self.probed.time_base)
        key = int(np.searchsorted(self.scan.keyframe_pts, target_pts, side="right")) - 1
        return _Seek(target_pts, key) if key >= 0 else None

    def _ensure_scan(self) -> None:
        """Make the packet scan on first need and check it against the frames decoded so far."""
        if self.scan is None:
            made = self.unchecked_scan
            self.scan = made if made is not None else scan_packets(self.path)
            self.trusted = _matches(self.scan, self.head)

    def _scan_usable(self) -> bool:
        """A trusted scan, already checked against enough frames decoded from the start."""
        return self.scan is not None and self.trusted and _head_enough(self.scan, self.head)

    def summary(self) -> DecodeSummary:
        """Counts for the finished pass; frames after an early stop come from the trusted scan."""
        if self.last is None:
            raise VideoError(f"{self.path}: no frame could be decoded; {_FIX_HINT}")
        index, end = self.last
        if not self.at_eof and self.scan is not None:
            index, end = len(self.scan.pts) - 1, max(end, self.scan.end_pts)
        return _summary(
            index + 1,
            self._rel(end),
            self.probed.info.avg_fps,
            self.counter.corrupt_packets,
            self.backend,
        )


def _summary(
    num_frames: int, duration_s: float, avg_fps: float, corrupt: int, backend: str
) -> DecodeSummary:
    """A `DecodeSummary`, with native_fps = frames / duration (the average rate if no duration)."""
    fps = num_frames / duration_s if duration_s > 0 else avg_fps
    return DecodeSummary(num_frames, duration_s, fps, corrupt, backend)


# ---------------------------------------------------------------------------------------------
# The decord pass


def _pyav_head(
    path: Path, probed: _Probe, decode_size: tuple[int, int] | None = None
) -> tuple[list[int], np.ndarray | None]:
    """The pts of the first `_HEAD_FRAMES` frames and (given `decode_size`) the first frame
    upright, decoded by PyAV."""
    with _open(path) as container:
        stream = container.streams[probed.stream_index]
        timed = _timed(_decoded(container, stream, path, _Counter()), probed.step)
        head = list(itertools.islice(timed, _HEAD_FRAMES))
        first = None
        if decode_size is not None and head:
            first = _to_rgb(head[0][0], decode_size, probed.info.rotation_deg)
    return [pts for _, pts in head], first


class _DecordPass:
    """decord, used only after it agreed with PyAV on this file (see `_decord_problem`)."""

    backend = "decord"

    def __init__(
        self, path: Path, reader: Any, times: np.ndarray, end_s: float, plan: _Plan, chunk_size: int
    ):
        self.path, self.reader, self.plan, self.chunk_size = path, reader, plan, chunk_size
        self.starts = times[:, 0] - times[0, 0]  # (n,) s after the first frame
        self.ends = np.append(self.starts[1:], end_s)  # (n,) display ends
        self.avg_fps = 0.0

    def run(self) -> Iterator[_Item]:
        """Each sampled frame (decord rotates by itself; checked against PyAV's frame 0)."""
        picks = [
            i for i in range(len(self.starts)) if self.plan.wants(self.starts[i], self.ends[i])
        ]
        for first in range(0, len(picks), self.chunk_size):
            batch = picks[first : first + self.chunk_size]
            pixels = self.reader.get_batch(batch).asnumpy()  # (N, H, W, 3) uint8
            for row, index in enumerate(batch):
                yield pixels[row], float(self.starts[index]), index

    def summary(self) -> DecodeSummary:
        """Counts from decord's own index (validated against the packet scan)."""
        duration = float(self.ends[-1])
        return _summary(len(self.starts), duration, self.avg_fps, 0, self.backend)


def _open_decord(path: Path, size: tuple[int, int]) -> tuple[Any, str | None]:
    """A decord VideoReader at the output size (imported here: optional), or why there is none."""
    try:
        import decord
    except ImportError as exc:
        return None, f"decord is not installed ({exc})"
    try:  # decord raises plain DECORDError/RuntimeError for everything
        return decord.VideoReader(str(path), ctx=decord.cpu(0), width=size[0], height=size[1]), None
    except Exception as exc:  # noqa: BLE001
        return None, f"decord cannot read it ({_first_line(exc)})"


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (decord's run to pages of C++ context)."""
    lines = str(exc).strip().splitlines()
    # decord nests C++ log prefixes: "[12:00:00] file.cc:292: [12:00:00] file.cc:218: Check failed"
    first = re.sub(r"^(?:\[[\d:]+\]\s*\S+:\d+:\s*)+", "", lines[0]) if lines else ""
    return first[:200] or type(exc).__name__


def _decord_problem(
    reader: Any, probed: _Probe, scan: PacketScan, head: list[int], first: np.ndarray | None
) -> tuple[np.ndarray | None, str | None]:
    """decord's (n, 2) frame times if it can be trusted on this file, else the reason it cannot."""
    if probed.info.codec == "mpeg4" and scan.reordered:
        return (
            None,
            "MPEG-4 Part 2 with B-frames: decord returns wrong frames (dmlc/decord#195, #365)",
        )
    if first is None or not _matches(scan, head):
        return (
            None,
            "its packets do not map one-to-one to frames, so decord's index cannot be checked",
        )
    try:
        n = len(reader)
        if n != len(scan.pts):  # reading past the real end can hang (dmlc/decord#373)
            return None, f"decord counts {n} frames, the file has {len(scan.pts)}"
        times = np.asarray(reader.get_frame_timestamp(np.arange(n)), dtype=np.float64)  # (n, 2)
        frame0 = reader[0].asnumpy()
    except Exception as exc:  # noqa: BLE001 (decord's errors are untyped)
        return None, f"decord failed reading its index ({_first_line(exc)})"
    return _decord_mismatch(times, frame0, probed, scan, first)


def _decord_mismatch(
    times: np.ndarray, frame0: np.ndarray, probed: _Probe, scan: PacketScan, first: np.ndarray
) -> tuple[np.ndarray | None, str | None]:
    """Compare decord's frame times and frame 0 with PyAV's."""
    expected = (scan.pts - scan.pts[0]).astype(np.float64) * float(probed.time_base)  # (n,)
    gaps = np.diff(expected)
    tolerance = (
        0.5 * gaps[gaps > 0].min() if (gaps > 0).any() else 0.5 / max(probed.info.avg_fps, 1)
    )
    error = np.abs((times[:, 0] - times[0, 0]) - expected).max()
    if not np.isfinite(error) or error > tolerance:
        return None, f"decord's frame times are off by up to {error:.3g} s (broken timestamps)"
    if frame0.shape != first.shape:
        return None, f"decord's frames are {frame0.shape}, expected {first.shape} (rotation)"
    diff = float(np.abs(frame0.astype(np.int16) - first.astype(np.int16)).mean())
    if diff > _DECORD_MAX_MEAN_DIFF:
        return None, f"decord's first frame differs from PyAV's (mean difference {diff:.1f})"
    return times, None


# ---------------------------------------------------------------------------------------------
# The public sampler


class FrameSampler:
    """Frames of one video sampled at `fps` (None: every frame), upright, at one output size.

    With PyAV, packets that no sampled frame is or refers to are not decoded (`skip_unneeded`;
    the frames are the same either way): whole GOPs between sparse samples, and each GOP's frames
    after its last sample. Where every frame is a keyframe (MJPEG, intra-only H.264) only the
    sampled frames are decoded.
    """

    info: VideoInfo

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float | None,
        size: tuple[int, int] | Callable[[int, int], tuple[int, int]] | None = None,
        short_side: int | None = None,
        decoder: str = "pyav",
        chunk_size: int = 32,
        start_s: float | None = None,
        end_s: float | None = None,
        skip_unneeded: bool = True,
        ranges: Sequence[tuple[float, float]] | None = None,
    ) -> None:
        _check_args(fps, decoder, chunk_size)
        spans = _ranges(start_s, end_s, ranges)
        self.path = Path(path)
        self._probed = _probe(self.path)
        self.info = self._probed.info
        self.size = _output_size(self.info, size, short_side)  # (width, height), display
        self.decoder, self.chunk_size, self.skip_unneeded = decoder, chunk_size, skip_unneeded
        self._plan = _plan(fps, self.info.avg_fps, spans)
        self._summary: DecodeSummary | None = None

    def chunks(self) -> Iterator[Frames]:
        """Sampled frames in presentation order, at most `chunk_size` per `Frames`."""
        self._summary = None
        yield from _chunked(self._items(), self.chunk_size)

    def chunks_unordered(self, workers: int) -> Iterator[Frames]:
        """`chunks()`, with up to `workers` stretches of the video decoded at once (PyAV).

        With one worker this is `chunks()`. Otherwise the video is cut at keyframes into segments
        of about equal decoding work. Each chunk holds frames of one segment in presentation
        order, but the chunks of different segments interleave: order them by `indices`. The
        frames, times, indices and `summary()` are those of `chunks()`, and where the video is not
        cut (decord, a short video, no clean keyframe, a packet scan that does not match the
        frames) one decoder does the work. One difference: after a packet that fails to decode,
        segments number the frames by their place in the file, not by the count of frames that
        decoded (and `summary().num_frames` counts the file's frames).
        """
        self._summary = None
        cut = workers > 1 and self.decoder == "pyav"
        passes, scan = self._segment_passes(workers) if cut else ([], None)
        if not passes:
            yield from _chunked(self._items(scan), self.chunk_size)
            return
        runs = [_chunked(self._pyav_run(one), self.chunk_size) for one in passes]
        yield from background(runs, depth=len(runs)) if len(runs) > 1 else runs[0]
        summaries = [one.summary() for one in passes]
        corrupt = sum(one.corrupt_packets for one in summaries)
        self._finish(replace(summaries[-1], corrupt_packets=corrupt), by_file=len(passes) > 1)

    def summary(self) -> DecodeSummary:
        """Frame count, duration and backend of the last pass (after `chunks()` is exhausted)."""
        if self._summary is None:
            raise RuntimeError(
                f"{self.path}: summary() is known only once chunks() has been iterated to the end"
            )
        return self._summary

    def _decode_size(self) -> tuple[int, int]:
        """(width, height) to ask of the decoder: the output size in stored orientation."""
        width, height = self.size
        return (height, width) if self.info.rotation_deg in (90, 270) else (width, height)

    def _items(self, scan: PacketScan | None = None) -> Iterator[_Item]:
        """Run the chosen backend; decord hands over to PyAV if it cannot be trusted or fails.
        `scan`: this file's packet scan if one was made already."""
        done, emitted = -1, 0
        source = self._decord() if self.decoder == "decord" else None
        if source is not None:
            try:
                for item in source.run():
                    done, emitted = item[2], emitted + 1
                    yield item
                self._finish(source.summary())
                return
            except Exception as exc:  # noqa: BLE001 (decord's errors are untyped)
                log.warning(
                    "%s: decord failed after %d sampled frames (%s); continuing with PyAV",
                    self.path,
                    emitted,
                    _first_line(exc),
                )
        pyav = _PyAVPass(
            self.path, self._probed, self._plan, self._decode_size(), self.skip_unneeded,
            scan=scan,
        )
        yield from (item for item in self._pyav_run(pyav) if item[2] > done)
        self._finish(pyav.summary())

    def _pyav_run(self, pyav: _PyAVPass) -> Iterator[_Item]:
        try:
            yield from pyav.run()
        except av.error.FFmpegError as exc:  # undecodable packets are skipped; this is worse
            raise VideoError(f"{self.path}: decoding failed ({exc}); {_FIX_HINT}") from exc

    def _finish(self, summary: DecodeSummary, by_file: bool = False) -> None:
        """Keep the finished pass's summary; warn about a cut or damaged file (`by_file`: the
        frames were numbered by the packet scan, as segments are)."""
        self._summary = summary
        self._warn_if_cut_short()
        if summary.corrupt_packets:
            log.warning(
                "%s: skipped %d undecodable video packet(s) (the file is damaged): frames are "
                "missing there, and frame numbers %s",
                self.path,
                summary.corrupt_packets,
                "follow the file's packets" if by_file else "count the frames that decoded",
            )

    def _segment_passes(self, workers: int) -> tuple[list[_PyAVPass], PacketScan]:
        """One pass per segment of the video cut at keyframes, all given one packet scan checked
        against the first frames; and that scan. No passes where the video is not cut (the one
        decoder then decodes the first frames once and checks the scan itself) or where the scan
        does not match them."""
        scan = scan_packets(self.path)
        wanted = _wanted(self._plan, self._probed, scan)
        min_ticks = max(1, math.ceil(_SEGMENT_MIN_S / self._probed.time_base))
        cuts_s = [_rel_s(self._probed, pts) for pts in _cuts(scan, wanted, workers, min_ticks)]
        segments = _split(self._plan.ranges, cuts_s)
        if len(segments) < 2:
            return [], scan
        head, _ = _pyav_head(self.path, self._probed)
        if not (_matches(scan, head) and _head_enough(scan, head)):
            log.debug("%s: the packet scan does not match the frames; one decoder", self.path)
            return [], scan
        log.debug("%s: decoding %d segments at once", self.path, len(segments))
        return [
            _PyAVPass(
                self.path,
                self._probed,
                _Plan(self._plan.fps, ranges),
                self._decode_size(),
                self.skip_unneeded,
                frame_threads=False,
                scan=scan,
                head=head,
            )
            for ranges in segments
        ], scan

    def _warn_if_cut_short(self) -> None:
        """Warn when the frames end well before the header's duration (a truncated download)."""
        header, summary = self.info.duration_s, self._summary
        if not header or summary is None or self.info.avg_fps <= 0:
            return
        slack = max(_SHORT_FRAMES / self.info.avg_fps, _SHORT_FRACTION * header)
        if header - summary.duration_s > slack:
            log.warning(
                "%s: the video ends at %.2f s but the file's header says %.2f s: the file may be "
                "truncated; the frames before the cut are used",
                self.path,
                summary.duration_s,
                header,
            )

    def _decord(self) -> _DecordPass | None:
        """A validated decord pass, or None (logged) when PyAV must do the work."""
        reader, problem = _open_decord(self.path, self.size)
        if reader is not None:
            head, first = _pyav_head(self.path, self._probed, self._decode_size())
            scan = scan_packets(self.path)
            times, problem = _decord_problem(reader, self._probed, scan, head, first)
        if problem is not None:
            log.warning("%s: not using decord: %s; decoding with PyAV instead", self.path, problem)
            return None
        # decord may give the last frame no duration; the container's packet duration is the truth.
        tb = self._probed.time_base
        end_s = max(float((scan.end_pts - scan.pts[0]) * tb), float(times[-1, 1] - times[0, 0]))
        source = _DecordPass(self.path, reader, times, end_s, self._plan, self.chunk_size)
        source.avg_fps = self.info.avg_fps
        return source


def _check_args(fps: float | None, decoder: str, chunk_size: int) -> None:
    """Reject bad sampler arguments with the offending value in the message."""
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise UsageError(f"fps must be a positive number or None, got {fps!r}")
    if decoder not in DECODERS:
        raise UsageError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise UsageError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def _ranges(
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
