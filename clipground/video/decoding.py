"""Decode a stream's packets into frames, skipping undecodable packets and (on request) those no
sampled frame needs, and count what happened so a pass can tell when frames went missing.

A damaged packet must not end a video: it is counted and passed over. The counts let the PyAV
pass notice frames that the decoder dropped without reporting an error (frame threads do that).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from clipground.video.opening import demuxed
from clipground.video.packets import PacketScan

log = logging.getLogger(__name__)


class Counter:
    """What the generators of one pass saw: packets sent, frames back, packets that failed."""

    def __init__(self) -> None:
        self.corrupt_packets = 0  # packets that failed to decode (skipped)
        self.packets = 0  # packets sent that should each show a frame (not empty or discarded)
        self.frames = 0  # frames the decoder gave back
        self.interlaced = 0  # ...of which interlaced
        self.short_drains = 0  # drains before a skipped run that gave back too few frames
        self.released = 0  # pictures given back to the decoder before they were handled

    def frames_lost(self) -> bool:
        """Fewer frames than packets over the whole pass (see `frames_lost`)."""
        return frames_lost(self.packets, self.frames, self.interlaced)

    def mark(self) -> tuple[int, int, int]:
        """The counts now, to compare with later (`lost_since`)."""
        return self.packets, self.frames, self.interlaced

    def lost_since(self, mark: tuple[int, int, int]) -> bool:
        """Fewer frames than packets since `mark`, with nothing left in the decoder (just drained)."""
        packets, frames, interlaced = (now - then for now, then in zip(self.mark(), mark))
        return frames_lost(packets, frames, interlaced)


def frames_lost(packets: int, frames: int, interlaced: int) -> bool:
    """Fewer frames than packets: 1 packet a frame, or exactly 2 for field-coded video."""
    fields = interlaced == frames and 2 * frames == packets
    return frames < packets and not fields


class PacketSkipper:
    """Which packets a pass does not decode: none until `start`, and none once `broken`.

    Every packet is checked against the scan's decode order as it is demuxed, so a skipped packet
    is always the one the plan meant; a packet out of that order sets `broken`.
    """

    def __init__(self) -> None:
        self.order: np.ndarray | None = None  # (P,) the scan's pts in decode order
        self.unneeded: np.ndarray | None = None  # (P,) bool: do not decode
        self.keys: np.ndarray | None = None  # (P,) bool: keyframes
        self.cursor = 0  # position in `order` of the next packet (counted before `start` too)
        self.broken = False

    def start(self, scan: PacketScan, unneeded: np.ndarray) -> None:
        """Skip the packets `unneeded` marks: (P,) bool in the scan's decode order."""
        self.order, self.keys, self.unneeded = scan.decode_pts, scan.decode_key, unneeded

    def skips(self, packet: av.Packet) -> bool:
        """Whether `packet` is not to be decoded (flush, empty and discarded ones never are)."""
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


def decoded(
    container: av.container.InputContainer,
    stream: av.video.VideoStream,
    path: Path,
    counter: Counter,
    skipper: PacketSkipper | None = None,
) -> Iterator[av.VideoFrame]:
    """Decoded frames in output order; undecodable packets are counted and skipped.

    Packets `skipper` names are not decoded. Before the first of a run of them the decoder is
    drained and reset, so decoding resumes at the next needed packet (a keyframe) as after a seek.
    A drain that gives back fewer frames than the run sent counts in `counter.short_drains`: frame
    threads can drop frames after a damaged packet without reporting an error.
    """
    drained = True  # a fresh or just-seeked decoder holds nothing
    mark = counter.mark()
    if skipper is not None:
        skipper.cursor = 0  # from the start; after a seek the skipper finds its place at the key
    for packet in demuxed(container, stream, path):
        if packet is not None and skipper is not None and skipper.skips(packet):
            if not drained:
                frames = decode_packet(stream, None, path, counter)
                stream.codec_context.flush_buffers()
                counter.short_drains += int(counter.lost_since(mark))
                drained, mark = True, counter.mark()
                yield from frames
            continue
        drained = False
        if packet is not None and packet.size and not packet.is_discard:
            counter.packets += 1
        yield from decode_packet(stream, packet, path, counter)


def decode_packet(
    stream: av.video.VideoStream, packet: av.Packet | None, path: Path, counter: Counter
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
