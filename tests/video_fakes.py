"""Readers for `clipground.video.Readers` that behave as some files and demuxers do: PyAV
containers wrapped so that a test can count what is read, seek imprecisely, or see other pts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import av

from clipground.video import open_video


class WrappedContainer:
    """A PyAV input container that behaves as the one it wraps, except where a subclass says."""

    def __init__(self, container: av.container.InputContainer) -> None:
        self.container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self.container, name)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()


def opener(wrap: Callable[[av.container.InputContainer], Any]) -> Callable[[Path], Any]:
    """An opener for `Readers(open=...)`: `open_video`, its container passed through `wrap`."""
    return lambda path: wrap(open_video(path))


class CountingPackets(WrappedContainer):
    """Counts the video packets demuxed (into `counts`, shared by every container it opens)."""

    def __init__(self, container: av.container.InputContainer, counts: list[int]) -> None:
        super().__init__(container)
        self.counts = counts

    def demux(self, *args: Any, **kwargs: Any) -> Iterator[av.Packet]:
        for packet in self.container.demux(*args, **kwargs):
            self.counts.append(1)
            yield packet


class Overshooting(WrappedContainer):
    """A demuxer whose seeks land `overshoot_s` after where they were asked to (as MPEG-TS's
    can): `container.seek` goes that much further."""

    def __init__(self, container: av.container.InputContainer, overshoot_s: float) -> None:
        super().__init__(container)
        self.overshoot_s = overshoot_s

    def seek(self, offset: int, *, stream: av.video.VideoStream, **kwargs: Any) -> None:
        later = offset + round(self.overshoot_s / stream.time_base)
        self.container.seek(later, stream=stream, **kwargs)


class Retimed(WrappedContainer):
    """A file whose packets carry other pts (`pts`: demuxed pts -> the pts they are given), as
    MPEG-4 ASP in AVI gives a frame a neighbour's pts. Probe, scan and decoding all see them."""

    def __init__(self, container: av.container.InputContainer, pts: dict[int, int]) -> None:
        super().__init__(container)
        self.pts = pts

    def demux(self, *args: Any, **kwargs: Any) -> Iterator[av.Packet]:
        for packet in self.container.demux(*args, **kwargs):
            if packet.pts in self.pts:
                packet.pts = self.pts[packet.pts]
            yield packet


def with_frame_threads(count: int) -> Callable[[Path], av.container.InputContainer]:
    """An opener whose decoders use `count` frame threads (FFmpeg's most by default, on a machine
    of that many cores): frames then come out `count` packets late."""

    def open_with_threads(path: Path) -> av.container.InputContainer:
        container = open_video(path)
        for stream in container.streams.video:
            stream.codec_context.thread_count = count
        return container

    return open_with_threads
