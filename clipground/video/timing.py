"""Give decoded frames their presentation times (repairing pts that decoders emit out of order)
and display ends, and let pictures nobody needs go back to the decoder before that.

The times come in ticks of the stream's time base; `probe.rel_s` turns them into seconds.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import av

REORDER_DEPTH = 4  # frames held back to repair pts that decoders emit out of order


@dataclass(frozen=True)
class Released:
    """A decoded frame whose picture went back to the decoder as soon as it was seen to be
    unwanted: what `timed` and `with_end` read of it."""

    pts: int | None
    dts: int | None
    duration: int
    interlaced_frame: bool


DecodedFrame = av.VideoFrame | Released  # a frame, or what timing keeps of a released one


def released(
    frames: Iterable[av.VideoFrame], keep: Callable[[int | None, int | None], bool]
) -> Iterator[DecodedFrame]:
    """`frames`, each one that `keep(its pts, the next frame's pts)` refuses as a `Released`.

    Holding decoded pictures costs: `timed` keeps `REORDER_DEPTH` frames back, and a decoder whose
    pictures are held cycles through more buffers, so each one it writes is colder in the cache.
    """
    previous = None
    for frame in frames:
        if previous is not None:
            yield previous if keep(previous.pts, frame.pts) else release(previous)
        previous = frame
    if previous is not None:
        yield previous


def release(frame: av.VideoFrame) -> Released:
    """What timing needs of `frame`, without its picture."""
    return Released(frame.pts, frame.dts, frame.duration, frame.interlaced_frame)


def timed(frames: Iterable[DecodedFrame], step: int) -> Iterator[tuple[DecodedFrame, int]]:
    """Pair each frame with its presentation time (ticks), in presentation order.

    Decoders output frames in display order, but some (MPEG-4 ASP with packed B-frames in AVI)
    attach the pts of a neighbouring packet. Handing out the smallest pending pts over a window of
    `REORDER_DEPTH` frames repairs that and is the identity for well-formed streams. `step`: the
    ticks between frames, for a frame with neither pts nor dts.
    """
    pending: deque[DecodedFrame] = deque()
    heap: list[int] = []
    last = None
    for frame in frames:
        pts = frame.pts if frame.pts is not None else frame.dts
        pts = pts if pts is not None else (last + step if last is not None else 0)
        last = pts
        heapq.heappush(heap, pts)
        pending.append(frame)
        if len(pending) > REORDER_DEPTH:
            yield pending.popleft(), heapq.heappop(heap)
    while pending:
        yield pending.popleft(), heapq.heappop(heap)


def with_end(
    frames: Iterable[tuple[DecodedFrame, int]], step: int
) -> Iterator[tuple[DecodedFrame, int, int]]:
    """Add each frame's display end: the next frame's pts; for the last, pts + its duration."""
    previous: tuple[DecodedFrame, int] | None = None
    interval: int | None = None
    for frame, pts in frames:
        if previous is not None:
            interval = pts - previous[1]
            yield previous[0], previous[1], pts
        previous = (frame, pts)
    if previous is not None:
        yield previous[0], previous[1], previous[1] + last_duration(previous[0], interval, step)


def last_duration(frame: DecodedFrame, interval: int | None, step: int) -> int:
    """The last frame's display time (ticks): its own, else the previous interval, else `step`."""
    duration = frame.duration if frame.duration and frame.duration > 0 else (interval or step)
    # Field-coded interlaced video (AVCHD) puts one field's duration on the frame.
    if frame.interlaced_frame and interval and abs(2 * duration - interval) <= 1:
        duration = interval
    return duration
