"""decord as an alternative backend, used only where it agrees with PyAV on this file.

decord returns wrong frames on some files (MPEG-4 Part 2 with B-frames, broken timestamps), so
before it is used its frame count, frame times and first frame are compared with PyAV's packet
scan and first frame; where any differs, PyAV decodes instead (with a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from clipground.types import DecodeSummary
from clipground.video.convert import Item, decode_summary
from clipground.video.decord_reader import first_line
from clipground.video.head import matches, pyav_head
from clipground.video.packets import PacketScan
from clipground.video.plan import Plan
from clipground.video.probe import Probe
from clipground.video.source import Source

log = logging.getLogger(__name__)

_MAX_MEAN_DIFF = 12.0  # decord vs PyAV frame 0, mean |diff| in 0..255 (their scalers differ)


class DecordPass:
    """decord, used only after it agreed with PyAV on this file (see `decord_pass`)."""

    backend = "decord"

    def __init__(
        self,
        path: Path,
        reader: Any,
        times: np.ndarray,
        end_s: float,
        plan: Plan,
        chunk_size: int,
        avg_fps: float,
    ):
        self.path, self.reader, self.plan, self.chunk_size = path, reader, plan, chunk_size
        self.starts = times[:, 0] - times[0, 0]  # (n,) s after the first frame
        self.ends = np.append(self.starts[1:], end_s)  # (n,) display ends
        self.avg_fps = avg_fps

    def run(self) -> Iterator[Item]:
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
        return decode_summary(len(self.starts), duration, self.avg_fps, 0, self.backend)


def decord_pass(
    source: Source, size: tuple[int, int], plan: Plan, chunk_size: int
) -> DecordPass | None:
    """A validated decord pass at the output `size`, or None (logged) when PyAV must do the work."""
    reader, problem = source.readers.decord(source.path, size)
    if reader is not None:
        head, first = pyav_head(source, first_frame=True)
        scan = source.scan()
        times, problem = _problem(reader, source.probed, scan, head, first)
    if problem is not None:
        log.warning("%s: not using decord: %s; decoding with PyAV instead", source.path, problem)
        return None
    # decord may give the last frame no duration; the container's packet duration is the truth.
    tb = source.probed.time_base
    end_s = max(float((scan.end_pts - scan.pts[0]) * tb), float(times[-1, 1] - times[0, 0]))
    avg_fps = source.probed.info.avg_fps
    return DecordPass(source.path, reader, times, end_s, plan, chunk_size, avg_fps)


def _problem(
    reader: Any, probed: Probe, scan: PacketScan, head: list[int], first: np.ndarray | None
) -> tuple[np.ndarray | None, str | None]:
    """decord's (n, 2) frame times if it can be trusted on this file, else the reason it cannot."""
    if probed.info.codec == "mpeg4" and scan.reordered:
        return (
            None,
            "MPEG-4 Part 2 with B-frames: decord returns wrong frames (dmlc/decord#195, #365)",
        )
    if first is None or not matches(scan, head):
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
        return None, f"decord failed reading its index ({first_line(exc)})"
    return _mismatch(times, frame0, probed, scan, first)


def _mismatch(
    times: np.ndarray, frame0: np.ndarray, probed: Probe, scan: PacketScan, first: np.ndarray
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
    if diff > _MAX_MEAN_DIFF:
        return None, f"decord's first frame differs from PyAV's (mean difference {diff:.1f})"
    return times, None
