"""The file a browser is given for a video: the video itself where a browser plays it, else its
preview (transcoded once, kept in the preview folder)."""

from __future__ import annotations

import mimetypes
import threading
from pathlib import Path

from clipground.preview import PreviewCache, browser_playable
from clipground.serve.library import Video


class MediaFiles:
    """`playable(video)`: (the file to stream, its media type); the playability of each file is
    remembered per (path, size, mtime)."""

    def __init__(self, previews: PreviewCache) -> None:
        self.previews = previews
        self._playable: dict[tuple[Path, int, int], bool] = {}
        self._guard = threading.Lock()

    def playable(self, video: Video) -> tuple[Path, str]:
        """The video, or its H.264/AAC MP4 preview when a browser cannot play it as it is."""
        if self._plays(video.real):
            kind = mimetypes.guess_type(video.real.name)[0] or "application/octet-stream"
            return video.real, kind
        return self.previews.preview(video.real), "video/mp4"

    def _plays(self, path: Path) -> bool:
        st = path.stat()
        key = (path, st.st_size, st.st_mtime_ns)
        with self._guard:
            known = self._playable.get(key)
        if known is None:
            known = browser_playable(path)
            with self._guard:
                self._playable[key] = known
        return known
