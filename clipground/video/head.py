"""The head: the first frames decoded from the start of a file, against which a packet scan is
checked before anything relies on it.

A scan is only as good as its match with real decoding: seeking, skipping packets, cutting into
segments and checking decord all use a scan only after its first entries equal the pts of the
frames decoded from the start.
"""

from __future__ import annotations

import itertools

import numpy as np

from clipground.video.convert import to_rgb
from clipground.video.decoding import Counter, decoded
from clipground.video.packets import PacketScan
from clipground.video.source import Source
from clipground.video.timing import timed

HEAD_FRAMES = 16  # first decoded frames compared with the packet scan before it is trusted


def pyav_head(source: Source, first_frame: bool = False) -> tuple[list[int], np.ndarray | None]:
    """The pts of the first `HEAD_FRAMES` frames decoded by PyAV, and (if `first_frame`) the first
    frame converted as a pass converts it."""
    probed = source.probed
    with source.open() as container:
        stream = container.streams[probed.stream_index]
        frames = timed(decoded(container, stream, source.path, Counter()), probed.step)
        head = list(itertools.islice(frames, HEAD_FRAMES))
        first = None
        if first_frame and head:
            first = to_rgb(head[0][0], source.decode_size, probed.info.rotation_deg)
    return [pts for _, pts in head], first


def matches(scan: PacketScan, head: list[int]) -> bool:
    """Whether the scan lists, in order, the first frames decoded from the start (`head`)."""
    return scan.complete and [int(p) for p in scan.pts[: len(head)]] == head


def head_enough(scan: PacketScan, head: list[int]) -> bool:
    """Whether `head` holds enough frames decoded from the start to trust a scan it matches."""
    return len(head) >= min(HEAD_FRAMES, len(scan.pts))
