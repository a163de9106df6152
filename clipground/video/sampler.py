"""`FrameSampler`: the frames of one video sampled by presentation time, upright, at one output
size, in bounded chunks. The entry point of the package.

It probes the file once, plans which frames are wanted, and runs a backend: PyAV (one pass, or
several segments at once), or decord where decord agrees with PyAV on the file, handing over to
PyAV without repeating a frame where decord fails part-way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import av

from clipground.errors import UsageError, VideoError
from clipground.options import DECODERS
from clipground.types import DecodeSummary, Frames, VideoInfo
from clipground.video.convert import Item, Size, chunked, output_size, stored_size
from clipground.video.decord_backend import DecordPass, decord_pass
from clipground.video.decord_reader import first_line
from clipground.video.opening import FIX_HINT
from clipground.video.packets import PacketScan
from clipground.video.plan import EVERYTHING, checked_ranges, sampling_plan
from clipground.video.pyav_pass import PyAVPass
from clipground.video.segments import segment_passes
from clipground.video.source import DecodeTuning, Readers, Source
from clipground.video.truncation import warn_if_cut_short
from clipground.workers import background

log = logging.getLogger(__name__)


class FrameSampler:
    """Frames of one video sampled at `fps` (None: every frame), upright, at one output size.

    With PyAV, packets that no sampled frame is or refers to are not decoded (`skip_unneeded`;
    the frames are the same either way): whole GOPs between sparse samples, and each GOP's frames
    after its last sample. Where every frame is a keyframe (MJPEG, intra-only H.264) only the
    sampled frames are decoded.

    `readers` (how the file is read) and `tuning` (when seeking, skipping and cutting pay) never
    change which frames come out; None: the real readers and the default thresholds.
    """

    info: VideoInfo

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float | None,
        size: Size | None = None,
        short_side: int | None = None,
        decoder: str = "pyav",
        chunk_size: int = 32,
        start_s: float | None = None,
        end_s: float | None = None,
        skip_unneeded: bool = True,
        ranges: Sequence[tuple[float, float]] | None = None,
        readers: Readers | None = None,
        tuning: DecodeTuning | None = None,
    ) -> None:
        _check_args(fps, decoder, chunk_size)
        spans = checked_ranges(start_s, end_s, ranges)
        readers, tuning = readers or Readers(), tuning or DecodeTuning()
        self.path = Path(path)
        probed = readers.probe(self.path, readers.open)
        self.info = probed.info
        self.size = output_size(self.info, size, short_side)  # (width, height), display
        self.decoder, self.chunk_size = decoder, chunk_size
        decode_size = stored_size(self.size, self.info.rotation_deg)
        self._source = Source(self.path, probed, decode_size, readers, tuning, skip_unneeded)
        self._plan = sampling_plan(fps, self.info.avg_fps, spans)
        self._summary: DecodeSummary | None = None

    def chunks(self) -> Iterator[Frames]:
        """Sampled frames in presentation order, at most `chunk_size` per `Frames`."""
        self._summary = None
        yield from chunked(self._items(), self.chunk_size)

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
        passes, scan = segment_passes(self._source, self._plan, workers) if cut else ([], None)
        if not passes:
            yield from chunked(self._items(scan), self.chunk_size)
            return
        runs = [chunked(self._pyav_run(one), self.chunk_size) for one in passes]
        yield from background(runs, depth=len(runs)) if len(runs) > 1 else runs[0]
        summaries = [one.summary() for one in passes]
        corrupt = sum(one.corrupt_packets for one in summaries)
        self._finish(replace(summaries[-1], corrupt_packets=corrupt), by_file=len(passes) > 1)

    def summary(self) -> DecodeSummary:
        """Frame count, duration (decoded and declared) and backend of the last pass (after
        `chunks()` is exhausted)."""
        if self._summary is None:
            raise RuntimeError(
                f"{self.path}: summary() is known only once chunks() has been iterated to the end"
            )
        return self._summary

    def _items(self, scan: PacketScan | None = None) -> Iterator[Item]:
        """Run the chosen backend; decord hands over to PyAV if it cannot be trusted or fails.
        `scan`: this file's packet scan if one was made already."""
        done, emitted = -1, 0  # the last index decord handed out: PyAV goes on after it
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
                    first_line(exc),
                )
        pyav = PyAVPass(self._source, self._plan, scan)
        yield from (item for item in self._pyav_run(pyav) if item[2] > done)
        self._finish(pyav.summary())

    def _decord(self) -> DecordPass | None:
        """A validated decord pass, or None (logged) when PyAV must do the work."""
        return decord_pass(self._source, self.size, self._plan, self.chunk_size)

    def _pyav_run(self, pyav: PyAVPass) -> Iterator[Item]:
        try:
            yield from pyav.run()
        except av.error.FFmpegError as exc:  # undecodable packets are skipped; this is worse
            raise VideoError(f"{self.path}: decoding failed ({exc}); {FIX_HINT}") from exc

    def _finish(self, summary: DecodeSummary, by_file: bool = False) -> None:
        """Keep the finished pass's summary; warn about a cut or damaged file (`by_file`: the
        frames were numbered by the packet scan, as segments are).

        A cut file is warned about by a pass over the whole file only: a pass over time ranges
        (the second pass of a refined answer) comes after one that did.
        """
        self._summary = summary = replace(summary, declared_duration_s=self.info.duration_s)
        if self._plan.ranges == EVERYTHING:
            warn_if_cut_short(self.path, summary)
        if summary.corrupt_packets:
            log.warning(
                "%s: skipped %d undecodable video packet(s) (the file is damaged): frames are "
                "missing there, and frame numbers %s",
                self.path,
                summary.corrupt_packets,
                "follow the file's packets" if by_file else "count the frames that decoded",
            )


def _check_args(fps: float | None, decoder: str, chunk_size: int) -> None:
    """Reject bad sampler arguments with the offending value in the message."""
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise UsageError(f"fps must be a positive number or None, got {fps!r}")
    if decoder not in DECODERS:
        raise UsageError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise UsageError(f"chunk_size must be a positive integer, got {chunk_size!r}")
