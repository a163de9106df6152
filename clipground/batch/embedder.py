"""The embedder: each video of a job from the embedding cache if it is there, else from an engine.

Cache hits come first, in order, without starting a worker; the misses go to an engine (the local
engine's worker pool, or another such as Ray's), and what it embeds is written to the cache as it
arrives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from clipground.cache import EmbeddingCache
from clipground.engine import (
    DEFAULT_TIMEOUT_S,
    EmbedPool,
    Engine,
    FrameProgress,
    WorkerSetup,
    check_pool,
)
from clipground.errors import CacheError
from clipground.model import Encoder
from clipground.types import EmbedOutcome
from clipground.video import warn_if_cut_short


@dataclass
class Embedder:
    """Embeds videos through the cache; what is missing goes to `engine` (an `EmbedPool`)."""

    encoder: Encoder  # the parent's model: text queries and cache keys
    setup: WorkerSetup
    cache: EmbeddingCache | None
    workers: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    on_frames: FrameProgress | None = None
    engine: Engine | None = None  # where misses go; None: an EmbedPool of `workers` processes
    require_cache: bool = False  # an unwritable cache is an error before the engine starts (Ray)
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
                warn_if_cut_short(video, hit.summary)  # as the worker's decode would have
                yield EmbedOutcome(video, hit, cached=True, seconds=time.perf_counter() - started)
            else:
                keys[video] = key
                misses.append(video)
        if not misses:
            return
        if self.require_cache and self.cache is not None:
            self._check_cache(self.cache)
        self.spawned += len(misses)
        engine = self.engine or EmbedPool(self.setup, self.workers, self.timeout_s, self.on_frames)
        for outcome in engine.run(misses):
            if outcome.embedded is not None and self.cache is not None:
                self.cache.put(keys[outcome.video], outcome.embedded)
            yield outcome

    @staticmethod
    def _check_cache(cache: EmbeddingCache) -> None:
        """A cache that cannot be written, as one error that says why it matters."""
        try:
            cache.check_writable()
        except CacheError as exc:
            raise CacheError(
                f"{exc}: this engine's work is kept only there (a killed job resumes from it); "
                "pass a writable --cache-dir"
            ) from None
