"""The driver's side of a Ray job: each video's embedded chunks put back together, in frame order.

Items of a video come in any order and may come twice (Ray runs a lost task again); a video is
done when its `VideoEnd` has come and as many distinct frames as it counts. A video that never
completes (its task failed past Ray's retries) is an error outcome at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from clipground.engine.local import FrameProgress
from clipground.engine.ray.stages import EmbeddedChunk, VideoEnd
from clipground.types import EmbedOutcome, ItemError, VideoEmbedding

LOST = (
    "the cluster lost it: a task that held it failed past Ray's retries "
    "(a worker or node died; see Ray's logs); run the job again to retry it"
)


@dataclass
class _Parts:
    """What has come of one video: its chunks by first frame index, and its end."""

    chunks: dict[int, EmbeddedChunk] = field(default_factory=dict)
    end: VideoEnd | None = None
    frames: int = 0

    def add(self, chunk: EmbeddedChunk) -> None:
        first = int(chunk.indices[0]) if len(chunk.indices) else -1
        if first not in self.chunks:  # a chunk sent again by a task Ray ran again
            self.chunks[first] = chunk
            self.frames += len(chunk.indices)

    def complete(self) -> bool:
        return self.end is not None and (
            self.end.error is not None or self.frames == self.end.frames
        )


class Assembler:
    """Turns the items of a Ray job into one `EmbedOutcome` per video, each as it completes."""

    def __init__(
        self,
        videos: Iterable[str],
        sample_fps: float,
        model: str,
        on_frames: FrameProgress | None = None,
    ) -> None:
        self.parts = {str(v): _Parts() for v in videos}
        self.sample_fps, self.model, self.on_frames = sample_fps, model, on_frames

    def add(self, item: EmbeddedChunk | VideoEnd) -> EmbedOutcome | None:
        """Take one item; the outcome of its video if that completes it (None otherwise)."""
        parts = self.parts.get(item.video)
        if parts is None:  # not (or no longer) awaited: a video done already, sent again
            return None
        if isinstance(item, EmbeddedChunk):
            parts.add(item)
            if self.on_frames is not None:
                self.on_frames(item.video, parts.frames)
        elif parts.end is None or item.error is not None:  # an error overrides a clean end
            parts.end = item
        if not parts.complete():
            return None
        del self.parts[item.video]
        return self._outcome(item.video, parts)

    def lost(self) -> Iterator[EmbedOutcome]:
        """An error outcome for each video that did not complete (call at the end of the job)."""
        for video in list(self.parts):
            del self.parts[video]
            yield EmbedOutcome(video, None, ItemError("Lost", f"{video}: {LOST}"))

    def _outcome(self, video: str, parts: _Parts) -> EmbedOutcome:
        end = parts.end
        assert end is not None  # complete() saw it
        for level, name, message in end.logs:  # what the decoder logged, as if logged here
            logging.getLogger(name).log(level, "%s", message)
        seconds = max(0.0, time.time() - end.started_s) if end.started_s else 0.0
        if end.error is not None or end.summary is None:
            error = end.error or ItemError("Lost", f"{video}: {LOST}")
            return EmbedOutcome(video, None, error, seconds=seconds)
        chunks = list(parts.chunks.values())
        indices = np.concatenate([c.indices for c in chunks]).astype(np.int64)
        order = np.argsort(indices, kind="stable")
        embedded = VideoEmbedding(
            video=video,
            embeddings=np.concatenate([c.embeddings for c in chunks])[order],
            times_s=np.concatenate([c.times_s for c in chunks]).astype(np.float64)[order],
            indices=indices[order],
            summary=end.summary,
            sample_fps=self.sample_fps,
            model=self.model,
        )
        return EmbedOutcome(video, embedded, seconds=seconds)
