"""The embedder: each video of a job from the embedding cache if it is there, else from an engine.

Cache hits come first, in order, without starting a worker; the misses go to the local engine's
worker pool, and what it embeds is written to the cache as it arrives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from clipground.cache import EmbeddingCache
from clipground.engine import DEFAULT_TIMEOUT_S, EmbedPool, FrameProgress, WorkerSetup, check_pool
from clipground.model import Encoder
from clipground.types import EmbedOutcome


@dataclass
class Embedder:
    """Embeds videos through the cache; what is missing goes to an `EmbedPool`."""

    encoder: Encoder  # the parent's model: text queries and cache keys
    setup: WorkerSetup
    cache: EmbeddingCache | None
    workers: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    on_frames: FrameProgress | None = None
    spawned: int = field(default=0, init=False)  # videos that went to a worker

    def __post_init__(self) -> None:
        check_pool(self.workers, self.timeout_s)

    def run(self, videos: Sequence[str]) -> Iterator[EmbedOutcome]:
        """Cache hits first (in order), then the rest as workers finish them."""
        keys, misses = {}, []
        for video in videos:
            started = time.perf_counter()
            key = self.cache.key(video, self.encoder, self.setup.options) if self.cache else None
            hit = self.cache.get(key, video) if self.cache else None
            if hit is not None:
                yield EmbedOutcome(video, hit, cached=True, seconds=time.perf_counter() - started)
            else:
                keys[video] = key
                misses.append(video)
        if not misses:
            return
        self.spawned += len(misses)
        pool = EmbedPool(self.setup, self.workers, self.timeout_s, self.on_frames)
        for outcome in pool.run(misses):
            if outcome.embedded is not None and self.cache is not None:
                self.cache.put(keys[outcome.video], outcome.embedded)
            yield outcome
