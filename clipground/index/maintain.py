"""Build and update an index from the embedding cache: add new videos, drop stale vectors.

A video's vectors are stale when its file is gone, its content changed (another cache key) or its
cache entry was written again (another checksum); `update_index` removes them before it adds what
is new. It trains a new index (the factory chosen by size) when there is none, when the one there
is corrupt, or when the library has grown or shrunk past what the current factory suits.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from clipground.cache import EmbeddingCache, setting_parts
from clipground.errors import UsageError, VectorIndexError
from clipground.index.library import IndexedVideo, LibraryIndex, Pooled
from clipground.index.segments import segment_samples, segment_vectors
from clipground.index.store import IndexInfo, IndexStore
from clipground.index.vectors import choose_factory
from clipground.types import EmbedOutcome

if TYPE_CHECKING:
    from clipground.model import Encoder
    from clipground.options import GroundOptions

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], Iterable[EmbedOutcome]]  # Embedder.run, or a fake in tests


@dataclass(frozen=True)
class IndexReport:
    """What `index build` or `index update` did."""

    info: IndexInfo
    added: int  # videos whose vectors were added
    removed: int  # videos whose vectors were removed: deleted, changed or re-embedded ones
    kept: int  # videos left as they were
    failed: int  # videos that could not be embedded or cached, so are not indexed
    trained: bool  # a new index was trained (build, no or a corrupt index, or a change of size)
    seconds: float  # wall time


@dataclass(frozen=True)
class _Plan:
    current: LibraryIndex | None
    stale: list[str]  # paths whose vectors go
    kept: list[IndexedVideo]


def update_index(
    videos: Sequence[str],
    cache: EmbeddingCache,
    encoder: Encoder,
    options: GroundOptions,
    embed: Embed,
    faiss: ModuleType,
    rebuild: bool = False,
    on_outcome: Callable[[EmbedOutcome], None] | None = None,
) -> IndexReport:
    """Bring the index of `encoder` and `options.fps` up to date with `videos` (embedding those not
    cached by `embed`); with `rebuild`, index exactly `videos`, from scratch."""
    started = time.perf_counter()
    store = IndexStore(cache.root, setting_parts(encoder, options))
    size = segment_samples(options.fps)
    plan = _plan(store, cache, encoder, options, faiss, size, rebuild)
    known = {v.path for v in plan.kept}
    todo = list({os.path.abspath(v): v for v in videos if os.path.abspath(v) not in known}.values())
    pooled, failed = _pool_outcomes(embed(todo), cache, encoder, options, size, on_outcome)
    index, trained, dropped = _updated(plan, pooled, cache, size, faiss)
    info = store.save(index)
    return IndexReport(
        info=info,
        added=len(pooled),
        removed=len(plan.stale) + dropped,
        kept=len(plan.kept) - dropped,
        failed=failed,
        trained=trained,
        seconds=time.perf_counter() - started,
    )


def _plan(
    store: IndexStore,
    cache: EmbeddingCache,
    encoder: Encoder,
    options: GroundOptions,
    faiss: ModuleType,
    size: int,
    rebuild: bool,
) -> _Plan:
    """The index there (unless rebuilding, or it is unsound), and which of its videos are stale."""
    current = None
    if not rebuild and store.exists():
        try:
            current = store.load(faiss)
        except VectorIndexError as exc:
            log.warning("%s; building a new one", exc)
    if current is None or current.segment_samples != size:
        return _Plan(None, [], [])
    stale = stale_videos(current, cache, encoder, options)
    gone = set(stale)
    return _Plan(current, stale, [v for v in current.indexed() if v.path not in gone])


def stale_videos(
    index: LibraryIndex, cache: EmbeddingCache, encoder: Encoder, options: GroundOptions
) -> list[str]:
    """Indexed videos whose file is gone, whose content changed, or whose entry was re-embedded."""
    return [v.path for v in index.indexed() if not _current(v, cache, encoder, options)]


def _current(
    video: IndexedVideo, cache: EmbeddingCache, encoder: Encoder, options: GroundOptions
) -> bool:
    """Whether the file is there, with the content and the cache entry it was indexed from."""
    return (
        os.path.isfile(video.path)
        and cache.key(video.path, encoder, options) == video.key
        and cache.checksum(video.key) == video.checksum
    )


def _pool_outcomes(
    outcomes: Iterable[EmbedOutcome],
    cache: EmbeddingCache,
    encoder: Encoder,
    options: GroundOptions,
    size: int,
    on_outcome: Callable[[EmbedOutcome], None] | None,
) -> tuple[list[Pooled], int]:
    """Each embedded video's segment vectors (float16), and how many videos could not be had."""
    pooled, failed = [], 0
    for outcome in outcomes:
        if on_outcome is not None:
            on_outcome(outcome)
        if outcome.embedded is None:
            failed += 1
            continue
        key = cache.key(outcome.video, encoder, options)
        checksum = cache.checksum(key) if key is not None else None
        if key is None or checksum is None:  # stage 2 reads the cache: no entry, no indexing
            log.warning("%s: not indexed: its embeddings are not in the cache", outcome.video)
            failed += 1
            continue
        embeddings = outcome.embedded.embeddings
        vectors = segment_vectors(embeddings, size).astype(np.float16)
        pooled.append(
            Pooled(os.path.abspath(outcome.video), key, checksum, len(embeddings), vectors)
        )
    return pooled, failed


def _updated(
    plan: _Plan, pooled: list[Pooled], cache: EmbeddingCache, size: int, faiss: ModuleType
) -> tuple[LibraryIndex, bool, int]:
    """The index with `plan` and `pooled` applied: in place when the factory still suits the size,
    else trained anew (the kept videos read back from the cache). Returns it, whether it was
    trained, and how many kept videos could not be read back (dropped)."""
    current = plan.current
    dim = current.dim if current is not None else (pooled[0].vectors.shape[1] if pooled else 0)
    if not dim:
        raise UsageError("nothing to index: no video under PATHS could be embedded")
    total = sum(v.segments for v in plan.kept) + sum(len(p.vectors) for p in pooled)
    if current is not None and choose_factory(total, dim) == current.factory:
        current.remove(plan.stale)
        current.add(pooled)
        return current, False, 0
    again = [p for p in (_from_cache(v, cache, size) for v in plan.kept) if p is not None]
    return (
        LibraryIndex.build(again + pooled, size, faiss, dim=dim),
        True,
        len(plan.kept) - len(again),
    )


def _from_cache(video: IndexedVideo, cache: EmbeddingCache, size: int) -> Pooled | None:
    """An indexed video's segment vectors, pooled again from its cache entry (None: gone)."""
    embedded = cache.get(video.key, video.path)
    if embedded is None:
        return None
    vectors = segment_vectors(embedded.embeddings, size).astype(np.float16)
    return Pooled(video.path, video.key, video.checksum, video.samples, vectors)
