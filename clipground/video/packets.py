"""The packet scan: a demux-only pass (no decoding) that says where every frame of a video is,
and from it which packets the frames a plan wants need.

The scan maps a presentation time to a frame's native index after a seek, lets a pass leave
unneeded packets undecoded, and tells where a video can be cut into independent segments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipground.video.opening import Opener, demuxed, open_video


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


Scanner = Callable[[Path, Opener], PacketScan]  # scan_packets, or a test's stand-in


def scan_packets(path: str | Path, opener: Opener = open_video) -> PacketScan:
    """Demux the first video stream of `path` without decoding and list its packets' pts."""
    path = Path(path)
    pts, flags, end, complete, reordered, newest = [], [], 0, True, False, None
    with opener(path) as container:
        stream = container.streams.video[0]
        for packet in demuxed(container, stream, path):
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


def unneeded_mask(scan: PacketScan, wanted: np.ndarray) -> np.ndarray:
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
