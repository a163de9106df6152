"""The background embedder: the library's videos embedded one at a time, from server start on, so
that the first question about each finds it ready; requests never wait for it to finish."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from clipground.serve.library import Video
from clipground.serve.store import EmbeddingStore

log = logging.getLogger(__name__)


class BackgroundEmbedder:
    """A daemon thread that runs `store.get` on each of `videos()` in turn (the store records
    progress and failures; a video a request embedded meanwhile is found ready)."""

    def __init__(self, store: EmbeddingStore, videos: Callable[[], list[Video]]) -> None:
        self.store, self.videos = store, videos
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clipground-embed", daemon=True)

    def start(self) -> None:
        """Queue every video, then start embedding them."""
        self.store.queue(self.videos())
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop at the next chunk of frames and wait (at most `timeout_s`) for the thread."""
        self._stop.set()
        self.store.close()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def done(self) -> bool:
        """Whether the thread has finished (every video embedded or failed, or stopped)."""
        return not self._thread.is_alive()

    def _run(self) -> None:
        for video in self.videos():
            if self._stop.is_set():
                return
            with contextlib.suppress(Exception):  # recorded on the jobs board by the store
                self.store.get(video)
        log.debug("background embedding finished")
