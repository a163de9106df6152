"""One PyAV pass over a file: decode forward, seek over long gaps, leave unneeded packets
undecoded, and fall back to safer ways of decoding when the file contradicts what was assumed.

The pass's state is its `PassMode`: each of its fields names the states it can be in. Every
fallback is one-way and, except for holding pictures on out-of-order pts, starts the pass again
from the file's start (`_Restart`); frames handed out before are not handed out twice.

Indices are exact counts while decoding from the start. After a seek they are ranks in the
packet scan, which is trusted only while every frame decoded from the start (at least the first
`HEAD_FRAMES`) sits at its own scan entry; otherwise the pass never seeks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from typing import NoReturn

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from clipground.errors import VideoError
from clipground.types import DecodeSummary
from clipground.video.convert import Item, decode_summary, to_rgb
from clipground.video.decoding import Counter, PacketSkipper, decoded
from clipground.video.head import HEAD_FRAMES, head_enough, matches
from clipground.video.opening import FIX_HINT
from clipground.video.packets import PacketScan, unneeded_mask
from clipground.video.plan import EPS_S, Plan, wanted
from clipground.video.probe import rel_s
from clipground.video.source import Source
from clipground.video.timing import DecodedFrame, Released, released, timed, with_end

log = logging.getLogger(__name__)


class Scope(Enum):
    """What the pass covers."""

    WHOLE_FILE = "whole file"  # from the start; checks the packet scan against its first frames
    SEGMENT = "segment"  # a stretch of a cut video: scan checked before; starts at its first target


class Threads(Enum):
    """How FFmpeg spreads the decoding over threads."""

    FRAME = "frame"  # slice and frame threads: fastest, but a damaged packet can drop good frames
    SLICE = "slice"  # slice threads only: a frame at a time; loses nothing, costs no spare CPU


class Seeking(Enum):
    """Whether the pass seeks over gaps between targets (when a trusted scan says where to)."""

    ON = "on"
    OFF = "off"  # a seek missed its keyframe on this file: never again


class Skipping(Enum):
    """Whether the pass leaves packets that no sampled frame needs undecoded."""

    OFF = "off"  # decode every packet: not asked for, every frame wanted, or the scan was wrong
    WAITING = "waiting"  # until the first frames have confirmed the packet scan
    ON = "on"  # packets no sampled frame needs are not decoded


class Pictures(Enum):
    """Whether decoded pictures no sampled frame needs go back to the decoder before handling."""

    RELEASE = "release"  # at once, judged by the decoder's pts
    HOLD = "hold"  # kept until handled: pts came out of order, or every frame is wanted


@dataclass(frozen=True)
class PassMode:
    """The state of a pass: which of the ways of decoding it is using now."""

    scope: Scope
    threads: Threads
    seeking: Seeking
    skipping: Skipping
    pictures: Pictures

    @classmethod
    def initial(cls, source: Source, plan: Plan, scope: Scope) -> PassMode:
        """The fastest mode the request allows; segments decode beside each other on slice
        threads (frame threads would only compete for the same cores)."""
        partial = not plan.every_frame
        return cls(
            scope=scope,
            threads=Threads.SLICE if scope is Scope.SEGMENT else Threads.FRAME,
            seeking=Seeking.ON,
            skipping=Skipping.WAITING if source.skip_unneeded and partial else Skipping.OFF,
            pictures=(
                Pictures.RELEASE if source.tuning.release_pictures and partial else Pictures.HOLD
            ),
        )


class _Restart(Exception):
    """The pass must decode again from the file's start, in the mode it has just switched to."""


@dataclass(frozen=True)
class _Seek:
    """A planned seek to a keyframe from the scan (seeking to a keyframe's own pts lands on it even
    where the index is in decode time, as in MP4 with B-frames; an arbitrary time would not)."""

    target: int  # pts of the next target: the first frame decoded must not be later
    key: int  # index into PacketScan.keyframe_pts
    tries: int = 0  # earlier keyframes tried after an overshoot


class PyAVPass:
    """One pass over `source` with PyAV, handing out the frames `plan` wants.

    `scan`: a packet scan made already, checked against this pass's first frames before use. With
    `head` (the first frames' pts, decoded before and matching `scan`) the pass is a segment of a
    cut video: it skips packets from the start and seeks to its first target.
    """

    backend = "pyav"

    def __init__(
        self,
        source: Source,
        plan: Plan,
        scan: PacketScan | None = None,
        head: list[int] | None = None,
    ):
        self.source, self.plan = source, plan
        self.path, self.probed, self.tuning = source.path, source.probed, source.tuning
        scope = Scope.WHOLE_FILE if head is None else Scope.SEGMENT
        self.mode = PassMode.initial(source, plan, scope)
        self.counter = Counter()
        self.head: list[int] = []  # pts of the first frames decoded from the start
        self.scan: PacketScan | None = None
        self.trusted = False  # set when the scan is made, cleared by any contradiction
        self.unchecked_scan = scan if head is None else None
        if head is not None:
            self.scan, self.head, self.trusted = scan, list(head), True
        self.skipper = PacketSkipper()  # counts packets from the start even before it skips
        self.done_pts: int | None = None  # newest frame handled: skip it when met again
        self.last: tuple[int, int] | None = None  # (index, end pts) of that frame
        self.at_eof = False
        self.seeked = False
        self.warned_index = False
        self.reformatter = VideoReformatter()  # FFmpeg's scaler, kept from frame to frame

    def run(self) -> Iterator[Item]:
        """Each sampled frame, upright, with its time and native index."""
        while True:
            self.counter = Counter()  # a restart decodes everything again: count afresh
            restarted = yield from self._decode_file()
            if not restarted:
                return

    def summary(self) -> DecodeSummary:
        """Counts for the finished pass; frames after an early stop come from the trusted scan."""
        if self.last is None:
            raise VideoError(f"{self.path}: no frame could be decoded; {FIX_HINT}")
        index, end = self.last
        if not self.at_eof and self.scan is not None:
            index, end = len(self.scan.pts) - 1, max(end, self.scan.end_pts)
        return decode_summary(
            index + 1,
            self._rel(end),
            self.probed.info.avg_fps,
            self.counter.corrupt_packets,
            self.backend,
        )

    # -- decoding ---------------------------------------------------------------------------

    def _decode_file(self) -> Generator[Item, None, bool]:
        """Open the file and decode stretch after stretch to the end; True: start again."""
        with self.source.open() as container:
            stream = container.streams[self.probed.stream_index]
            # Slice + frame threads: this is the hot loop.
            stream.thread_type = "AUTO" if self.mode.threads is Threads.FRAME else "SLICE"
            if self.mode.scope is Scope.SEGMENT:
                self._start_skipping()  # the head frames it would wait for were checked before
            seek = self._first_seek()  # None: from the file's start
            try:
                while True:
                    seek = yield from self._stretch(container, stream, seek)
                    if seek is None:  # the plan or the file is done
                        return False
            except _Restart:
                return True

    def _first_seek(self) -> _Seek | None:
        """A segment starts at its first target's keyframe (None: from the start)."""
        if self.mode.scope is not Scope.SEGMENT:
            return None
        seek = self._seek_to(self.plan.next_target(0.0))
        return seek if seek is not None and seek.key > 0 else None

    def _stretch(
        self,
        container: av.container.InputContainer,
        stream: av.video.VideoStream,
        seek: _Seek | None,
    ) -> Generator[Item, None, _Seek | None]:
        """Decode from the start (seek None) or after a seek; return the next seek, or None when
        the pass is done."""
        if seek is not None:
            self._seek(container, stream, seek)
        position = -1
        for position, (frame, pts, end) in enumerate(self._frames(container, stream)):
            self._check_losses()
            if position == 0 and seek is not None and pts > seek.target:
                return self._retry(seek, f"landed at pts {pts}")
            if self.skipper.broken:
                self._stop_skipping("the packets are not those of the scan")
            index = self._index(pts, position, from_start=seek is None)
            if self.done_pts is not None and pts <= self.done_pts:
                continue  # handled before a seek or restart
            end = self._end(pts, end)
            item = self._handle(frame, pts, end, index)
            if item is not None:
                yield item
            if seek is None and position + 1 == HEAD_FRAMES:
                self._start_skipping()
            if self._range_done(end):
                return None
            next_seek = self._next_seek(end)
            if next_seek is not None:
                return next_seek
        self._check_losses(at_eof=seek is None and not self.seeked)
        if position < 0 and seek is not None:
            return self._retry(seek, "no frame came after it")
        self.at_eof = True
        return None

    def _frames(
        self, container: av.container.InputContainer, stream: av.video.VideoStream
    ) -> Iterator[tuple[DecodedFrame, int, int]]:
        """(frame, pts, end pts) in presentation order, unwanted pictures released early."""
        step = self.probed.step
        frames = decoded(container, stream, self.path, self.counter, self.skipper)
        return with_end(timed(released(frames, self._may_want), step), step)

    def _handle(self, frame: DecodedFrame, pts: int, end: int, index: int) -> Item | None:
        """`frame` converted if the plan wants it; remembered as handled either way.

        A wanted frame whose picture was released (`_may_want` judged it by times that `timed`
        then changed) starts the pass again, holding every picture."""
        t0, t1 = self._rel(pts), self._rel(end)
        want = self.plan.wants(t0, t1)
        if want and isinstance(frame, Released):
            log.debug("%s: frame at pts %d was released early; decoding again", self.path, pts)
            self.mode = replace(self.mode, pictures=Pictures.HOLD)
            raise _Restart
        self.done_pts, self.last = pts, (index, end)
        if not want:
            return None
        rotation = self.probed.info.rotation_deg
        return to_rgb(frame, self.source.decode_size, rotation, self.reformatter), t0, index

    def _may_want(self, pts: int | None, next_pts: int | None) -> bool:
        """Whether the frame at `pts`, followed by one at `next_pts`, may be handed out: its
        picture is kept. Judged by the decoder's pts while they rise; `_handle` checks it."""
        if self.mode.pictures is Pictures.HOLD:
            return True
        if pts is None or next_pts is None or next_pts <= pts:
            self.mode = replace(self.mode, pictures=Pictures.HOLD)  # `timed` may reorder now
            return True
        keep = self.plan.wants(self._rel(pts), self._rel(next_pts))
        self.counter.released += not keep
        return keep

    def _rel(self, pts: int) -> float:
        """Seconds after the first frame."""
        return rel_s(self.probed, pts)

    def _index(self, pts: int, position: int, from_start: bool) -> int:
        """Native index of the frame at `pts`: a count from the start, else its scan rank."""
        if from_start and self.mode.skipping is not Skipping.ON:
            if position == len(self.head) < HEAD_FRAMES:  # once, also across restarts
                self.head.append(pts)
            if self.scan is not None and self.trusted:
                self.trusted = position < len(self.scan.pts) and int(self.scan.pts[position]) == pts
            return position
        scan = self.scan
        assert scan is not None  # seeks and skipping happen only with a trusted scan
        index = scan.rank(pts)
        known = index < len(scan.pts) and scan.pts[index] == pts
        if not known and self._skipping():
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
        if self.mode.skipping is not Skipping.ON or self.scan is None:
            return end
        successor = self.scan.successor(pts)
        return end if successor is None else min(end, successor)

    def _range_done(self, end: int) -> bool:
        """Whether the range is over and the frames after it can be counted from the scan."""
        if self._rel(end) < self.plan.end_s - EPS_S:
            return False
        self._ensure_scan()
        return self._scan_usable()  # otherwise decode on (nothing more is emitted) to count

    # -- falling back -----------------------------------------------------------------------

    def _check_losses(self, at_eof: bool = False) -> None:
        """Start again when a packet failed, a drain before skipped packets came up short, or
        (`at_eof`) fewer frames came than packets.

        While packets are skipped that may be the skipping's doing: decode everything again.
        Otherwise see `_lost_to_threads`.
        """
        counter = self.counter
        failed = bool(counter.corrupt_packets or counter.short_drains)
        failed = failed or (at_eof and counter.frames_lost())
        if not failed:
            return
        if self._skipping():
            self._stop_skipping("a packet failed to decode, or frames are missing, while skipping")
        self._lost_to_threads()

    def _lost_to_threads(self) -> None:
        """Start again without frame threads: frames may have been lost to them.

        With frame threads, FFmpeg drops the good frames still in flight when a packet fails (a
        damaged file lost all of its frames that way), and at the cut of a truncated file it drops
        them without any error; decoding a frame at a time (slice threads only) loses none. So:
        restart that way after the first undecodable packet, or at the end of a pass from the start
        that got fewer frames than packets. Frames handed out so far are kept (`done_pts`).
        """
        if self.mode.threads is Threads.SLICE:
            return
        log.debug("%s: frames may be lost to frame threads; decoding again without them", self.path)
        self.mode = replace(self.mode, threads=Threads.SLICE)
        raise _Restart

    def _skipping(self) -> bool:
        """Whether packets are being skipped by a plan that still matches the packets."""
        return self.mode.skipping is Skipping.ON and not self.skipper.broken

    def _start_skipping(self) -> None:
        """Once the first frames match the packet scan, skip the packets no sampled frame needs,
        where that is enough of them to pay (each skipped run drains the decoder)."""
        if self.mode.skipping is not Skipping.WAITING:
            return
        self._ensure_scan()
        if self.scan is None or not self._scan_usable():
            return
        unneeded = unneeded_mask(self.scan, wanted(self.plan, self.probed, self.scan))
        count = int(unneeded.sum())
        if count < self.tuning.skip_min_fraction * len(self.scan.pts):
            return
        log.debug(
            "%s: %d of %d packets are needed by no sampled frame; not decoding them",
            self.path,
            count,
            len(self.scan.pts),
        )
        self.skipper.start(self.scan, unneeded)
        self.mode = replace(self.mode, skipping=Skipping.ON)

    def _stop_skipping(self, why: str) -> NoReturn:
        """The scan contradicts a decoded frame: decode again from the start, skipping nothing."""
        log.debug("%s: %s; decoding every packet again", self.path, why)
        self.skipper = PacketSkipper()
        self.mode = replace(self.mode, skipping=Skipping.OFF)
        raise _Restart

    # -- seeking ----------------------------------------------------------------------------

    def _next_seek(self, end: int) -> _Seek | None:
        """A seek when the next target is several GOPs past `end`, else None."""
        now = self._rel(end)
        target = self.plan.next_target(now)
        if self.mode.seeking is Seeking.OFF:
            return None
        if target - now < self.tuning.seek_min_s or target >= self.plan.end_s:
            return None
        self._ensure_scan()
        if self.scan is None or not self._scan_usable():
            return None
        gop_ticks = self.scan.gop_ticks()
        if (target - now) / self.probed.time_base < self.tuning.seek_min_gops * gop_ticks:
            return None
        return self._seek_to(target)

    def _seek_to(self, target: float) -> _Seek | None:
        """A seek to the keyframe at or before `target` (s), if seeking may be tried."""
        if self.mode.seeking is Seeking.OFF or not math.isfinite(target):
            return None
        if not self._scan_usable():
            return None
        assert self.scan is not None
        target_pts = self.probed.first_pts + math.floor((target + EPS_S) / self.probed.time_base)
        key = int(np.searchsorted(self.scan.keyframe_pts, target_pts, side="right")) - 1
        return _Seek(target_pts, key) if key >= 0 else None

    def _seek(
        self, container: av.container.InputContainer, stream: av.video.VideoStream, seek: _Seek
    ) -> None:
        """Seek to the planned keyframe; where that fails, start again and never seek."""
        assert self.scan is not None  # seeks are planned from the scan
        pts = int(self.scan.keyframe_pts[seek.key])
        log.debug("%s: seeking to %.3f s", self.path, self._rel(pts))
        self.seeked = True
        try:
            container.seek(pts, stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            self._missed(f"seek to pts {pts} failed ({exc})")

    def _retry(self, seek: _Seek, why: str) -> _Seek:
        """A seek overshot (imprecise demuxers: MPEG-TS): try the keyframe before, then restart."""
        if seek.key > 0 and seek.tries < self.tuning.seek_retries:
            log.debug("%s: seek %s; trying the keyframe before", self.path, why)
            return _Seek(seek.target, seek.key - 1, seek.tries + 1)
        self._missed(f"seek {why}")

    def _missed(self, why: str) -> NoReturn:
        """Seeking does not work on this file: decode again from the start, never seek again."""
        log.debug("%s: %s; decoding from the start instead", self.path, why)
        self.mode = replace(self.mode, seeking=Seeking.OFF)
        raise _Restart

    # -- the packet scan --------------------------------------------------------------------

    def _ensure_scan(self) -> None:
        """Make the packet scan on first need and check it against the frames decoded so far."""
        if self.scan is None:
            made = self.unchecked_scan
            self.scan = made if made is not None else self.source.scan()
            self.trusted = matches(self.scan, self.head)

    def _scan_usable(self) -> bool:
        """A trusted scan, already checked against enough frames decoded from the start."""
        return self.scan is not None and self.trusted and head_enough(self.scan, self.head)
