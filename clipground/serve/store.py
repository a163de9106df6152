"""Embedded videos kept in memory, each embedded once (through the cache) by whoever asks first, and
the progress of that work as the jobs board shows it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from clipground.errors import ClipgroundError
from clipground.pipeline import embed_cached
from clipground.types import ItemError, VideoEmbedding

if TYPE_CHECKING:
    from clipground.cache import EmbeddingCache
    from clipground.model import Encoder
    from clipground.options import GroundOptions
    from clipground.serve.library import Video

State = Literal["queued", "embedding", "done", "failed"]


class Closing(Exception):
    """Raised inside an embedding in progress when the store closes (not an error of the video)."""


@dataclass(frozen=True)
class Job:
    """Where the embedding of one video stands."""

    video: str  # its id
    state: State
    frames_done: int = 0
    frames_total: int | None = None  # None until the video's length is known
    error: ItemError | None = None


class EmbeddingStore:
    """`get(video)`: its embedding, from memory, else from the cache, else decoded and embedded.

    One lock per video: two requests for one video embed it once. A video that failed fails again
    with the same error, without another attempt, until the server restarts.
    """

    def __init__(
        self, encoder: Encoder, options: GroundOptions, cache: EmbeddingCache | None
    ) -> None:
        self.encoder, self.options, self.cache = encoder, options, cache
        self._embedded: dict[str, VideoEmbedding] = {}  # by video id
        self._failed: dict[str, ClipgroundError] = {}
        self._jobs: dict[str, Job] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._closing = threading.Event()

    def queue(self, videos: list[Video]) -> None:
        """Show `videos` as queued (those not embedded or failed yet)."""
        with self._guard:
            for v in videos:
                self._jobs.setdefault(v.id, Job(v.id, "queued"))

    def get(self, video: Video) -> VideoEmbedding:
        """`video` embedded, named as `video.path` spells it."""
        with self._video_lock(video.id):
            embedded = self._embedded.get(video.id) or self._embed(video)
        return _named(embedded, video)

    def ready(self, videos: list[Video]) -> list[VideoEmbedding]:
        """Those of `videos` embedded so far, each named as its `Video` spells it."""
        with self._guard:
            found = [(v, self._embedded.get(v.id)) for v in videos]
        return [_named(e, v) for v, e in found if e is not None]

    def peek(self, video: Video) -> VideoEmbedding | None:
        """`video`'s embedding if it is in memory (never embeds)."""
        with self._guard:
            embedded = self._embedded.get(video.id)
        return _named(embedded, video) if embedded is not None else None

    def jobs(self) -> list[Job]:
        """Every video's job, in the order they were queued or asked for."""
        with self._guard:
            return list(self._jobs.values())

    def close(self) -> None:
        """Stop the embeddings in progress at their next chunk (the server is shutting down)."""
        self._closing.set()

    def _embed(self, video: Video) -> VideoEmbedding:
        if video.id in self._failed:
            raise self._failed[video.id]
        self._set(Job(video.id, "embedding"))
        try:
            embedded, _ = embed_cached(
                video.path, self.encoder, self.options, self.cache, self._progress(video.id)
            )
        except Closing:
            self._set(Job(video.id, "queued"))
            raise
        except Exception as exc:
            if isinstance(exc, ClipgroundError):  # a bad video stays bad; a bug may not repeat
                self._failed[video.id] = exc
            self._set(Job(video.id, "failed", error=ItemError.from_exception(exc)))
            raise
        frames = len(embedded.indices)
        with self._guard:
            self._embedded[video.id] = embedded
            self._jobs[video.id] = Job(video.id, "done", frames, frames)
        return embedded

    def _progress(self, video_id: str) -> Callable[[int, int | None], None]:
        def update(done: int, total: int | None) -> None:
            if self._closing.is_set():
                raise Closing(video_id)
            self._set(Job(video_id, "embedding", done, max(total, done) if total else None))

        return update

    def _set(self, job: Job) -> None:
        with self._guard:
            self._jobs[job.video] = job

    def _video_lock(self, video_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(video_id, threading.Lock())


def _named(embedded: VideoEmbedding, video: Video) -> VideoEmbedding:
    return embedded if embedded.video == video.path else replace(embedded, video=video.path)
