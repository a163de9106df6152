"""Open a video file for reading, and demux its first video stream.

Every reader in the package, and the clip exporter, opens files through `open_video`, so a file
that cannot be read fails the same way everywhere: a `VideoError` that names the file and says
what to do about it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import av

from clipground.errors import VideoError

log = logging.getLogger(__name__)

FIX_HINT = "check that the file plays in a media player; re-export or re-download it if not"

Opener = Callable[[Path], av.container.InputContainer]  # open_video, or a test's wrapper of it


def open_video(path: str | Path) -> av.container.InputContainer:
    """Open `path` for reading: a container with at least one video stream, or a `VideoError`.

    The first video stream (`container.streams.video[0]`) is the one a player would show.
    """
    path = Path(path)
    container = _open(path)
    if not container.streams.video:
        container.close()
        raise VideoError(
            f"{path}: has no video stream (audio-only or not a video); pass a file with video"
        )
    return container


def _open(path: Path) -> av.container.InputContainer:
    """`av.open`, with each way it fails turned into a `VideoError` that names the file."""
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
        raise VideoError(f"{path}: cannot be opened as a video ({exc}); {FIX_HINT}") from exc


def demuxed(
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
