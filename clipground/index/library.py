"""A library's index in memory: segment vectors in faiss, and which video each id stands for.

Each video's segments get consecutive ids (`first_id` ..), so a video's vectors are removed by
their id range and an id is mapped back to its video and samples by a sorted search. Stage 1 of
an index-backed `search` is `shortlist`: the query's nearest segments name the videos that stage 2
searches exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from clipground.index.exact import ExactRows
from clipground.index.segments import segment_bounds
from clipground.index.vectors import SegmentVectors, choose_factory, compressed, train_size

SEGMENTS_PER_HIT = 20  # stage 1 asks faiss for this many segments per window asked (top_k)...
# ...and keeps the videos of the best of them, this many per window asked: at ten million vectors
# 2 kept the scan's top-10 windows in 9 of 10 queries, 4 in 10 (docs/index-search.md)
VIDEOS_PER_HIT = 4
CANDIDATES_PER_HIT = 200  # with exact vectors: segments faiss proposes per window asked
# A video of fewer segments than this cannot be ranked by its segments' contrast: with one, the
# contrast is zero; with two, they are equal and opposite, and a moment across their boundary
# scores nothing. Stage 1 always passes such videos (at most 4 s long) to stage 2.
RANKED_FROM_SEGMENTS = 3
_ADD_CHUNK = 65_536  # vectors handed to faiss at once


@dataclass(frozen=True)
class IndexedVideo:
    """One video in the index: which cache entry its vectors came from, and their ids."""

    path: str  # absolute path of the file
    key: str  # its embedding cache key (content, model, rate...)
    checksum: str  # the cache entry's checksum: a re-embedded entry has another
    samples: int  # embedded samples (rows of the entry)
    first_id: int  # its segments have ids first_id .. first_id + segments - 1
    segments: int

    def __post_init__(self) -> None:
        if self.samples < 1 or self.segments < 1 or self.first_id < 0:
            raise ValueError(
                f"{self.path}: bad index record (samples {self.samples}, segments "
                f"{self.segments}, first id {self.first_id})"
            )

    @property
    def ids(self) -> np.ndarray:
        """The ids of its segments, (segments,) int64."""
        return np.arange(self.first_id, self.first_id + self.segments, dtype=np.int64)


@dataclass(frozen=True)
class Pooled:
    """A video's segment vectors, ready to be indexed."""

    path: str  # absolute path of the file
    key: str
    checksum: str
    samples: int
    vectors: np.ndarray  # (segments, D) segments.segment_vectors (float16 keeps a big build in RAM)


class LibraryIndex:
    """Segment vectors of many videos under one model and rate, with each id's video."""

    def __init__(
        self,
        vectors: SegmentVectors,
        segment_samples: int,
        videos: Iterable[IndexedVideo] = (),
        next_id: int = 0,
        exact: ExactRows | None = None,
    ) -> None:
        self.vectors, self.segment_samples, self.next_id = vectors, segment_samples, next_id
        self.exact = exact  # the vectors by id, when the codes are lossy (exact.py)
        self.videos: dict[str, IndexedVideo] = {v.path: v for v in videos}
        self._reindex()

    @classmethod
    def build(
        cls,
        pooled: Sequence[Pooled],
        segment_samples: int,
        faiss: ModuleType,
        dim: int,
        factory: str | None = None,
        seed: int = 0,
    ) -> LibraryIndex:
        """A new index of `pooled` videos' `dim`-dimensional vectors (factory by size unless
        given), trained on a sample of them; with their exact vectors beside product codes."""
        total = sum(len(p.vectors) for p in pooled)
        factory = factory or choose_factory(total, dim)
        exact = ExactRows(dim) if compressed(factory) else None
        index = cls(SegmentVectors.create(factory, dim, faiss), segment_samples, exact=exact)
        index.vectors.train(training_sample(pooled, dim, train_size(factory), seed))
        index.add(pooled)
        return index

    @property
    def factory(self) -> str:
        """The faiss factory string of the vectors."""
        return self.vectors.factory

    @property
    def dim(self) -> int:
        """Dimensions of the vectors."""
        return self.vectors.dim

    def add(self, pooled: Iterable[Pooled]) -> None:
        """Index videos (one already indexed under the same path is replaced; of two with one
        path, the last)."""
        latest = {p.path: p for p in pooled}
        self.remove([path for path in latest if path in self.videos])
        batch: list[tuple[np.ndarray, np.ndarray]] = []
        waiting = 0
        for p in latest.values():
            video = IndexedVideo(p.path, p.key, p.checksum, p.samples, self.next_id, len(p.vectors))
            self.videos[p.path], self.next_id = video, self.next_id + video.segments
            batch.append((p.vectors, video.ids))
            if self.exact is not None:
                self.exact.add(video.first_id, p.vectors)
            waiting += video.segments
            if waiting >= _ADD_CHUNK:
                self._flush(batch)
                waiting = 0
        self._flush(batch)
        self._reindex()

    def _flush(self, batch: list[tuple[np.ndarray, np.ndarray]]) -> None:
        if batch:
            vectors = np.concatenate([v for v, _ in batch]).astype(np.float32)
            self.vectors.add(vectors, np.concatenate([ids for _, ids in batch]))
            batch.clear()

    def remove(self, paths: Iterable[str]) -> int:
        """Remove the vectors of these videos; returns how many vectors went."""
        gone = [self.videos.pop(p) for p in paths if p in self.videos]
        removed = self.vectors.remove(np.concatenate([v.ids for v in gone])) if gone else 0
        self._reindex()
        return removed

    def shortlist(
        self,
        query_embeddings: np.ndarray,
        top_k: int,
        among: set[str] | None = None,
        videos_per_hit: int = VIDEOS_PER_HIT,
        segments_per_hit: int = SEGMENTS_PER_HIT,
        candidates_per_hit: int = CANDIDATES_PER_HIT,
    ) -> list[str]:
        """Stage 1: the query's `segments_per_hit * top_k` best segments, and of their videos the
        `videos_per_hit * top_k` best (by their best segment), best first, then every video too
        short to rank (RANKED_FROM_SEGMENTS). Each sentence of a span asks, and so does their
        mean; with `among`, only those videos' segments may answer.
        With exact vectors (and `candidates_per_hit` > 0), faiss proposes `candidates_per_hit *
        top_k` segments and their exact vectors rank them: the codes only propose."""
        if not self.videos or (among is not None and not among):
            return []
        rows = np.asarray(query_embeddings, np.float32).reshape(-1, self.dim)  # (K, D)
        if len(rows) > 1:
            mean = rows.mean(axis=0, keepdims=True)
            rows = np.concatenate([rows, mean / max(float(np.linalg.norm(mean)), 1e-12)])
        allowed = None
        if among is not None and len(among) < len(self.videos):
            allowed = np.concatenate([self.videos[p].ids for p in among if p in self.videos])
        wanted = segments_per_hit * top_k
        if self.exact is None or candidates_per_hit <= 0:
            scores, ids = self.vectors.search(rows, wanted, allowed)
        else:
            proposed = self.vectors.search(rows, max(wanted, candidates_per_hit * top_k), allowed)
            scores, ids = rescored(rows, proposed[1], self.exact, wanted)
        best: dict[str, float] = {}
        for score, found in zip(scores.ravel(), ids.ravel()):
            located = self.locate(int(found))
            if located is not None:
                path = located[0].path
                best[path] = max(best.get(path, -math.inf), float(score))
        ranked = sorted(best, key=lambda p: (-best[p], p))[: videos_per_hit * top_k]
        kept = set(ranked)
        return ranked + [p for p in self._short
                         if p not in kept and (among is None or p in among)]

    def locate(self, vector_id: int) -> tuple[IndexedVideo, int, int] | None:
        """The video and the first and last sample (inclusive) of a vector id; None if unknown."""
        firsts, videos = self._order
        at = int(np.searchsorted(firsts, vector_id, side="right")) - 1
        if vector_id < 0 or at < 0:
            return None
        video = videos[at]
        segment = vector_id - video.first_id
        if segment >= video.segments:
            return None
        start, end = segment_bounds(segment, self.segment_samples, video.samples)
        return video, start, end

    def _reindex(self) -> None:
        """Recompute what is derived from `videos`: the id order and the too-short videos."""
        videos = sorted(self.videos.values(), key=lambda v: v.first_id)
        self._order = np.array([v.first_id for v in videos], dtype=np.int64), videos
        self._short = sorted(v.path for v in videos if v.segments < RANKED_FROM_SEGMENTS)

    def indexed(self) -> list[IndexedVideo]:
        """The indexed videos, in id order."""
        return list(self._order[1])


def rescored(
    rows: np.ndarray, ids: np.ndarray, exact: ExactRows, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each query row's proposed `ids` (-1: none) ranked by exact inner products with their
    vectors: the best `k` scores and ids per row, -1 padded."""
    scores = np.full((len(rows), k), -np.inf, np.float32)
    best = np.full((len(rows), k), -1, np.int64)
    for r, proposed in enumerate(ids):
        proposed = np.unique(proposed[proposed >= 0])
        if len(proposed) == 0:
            continue
        inner = np.asarray(exact(proposed), np.float32) @ rows[r]
        order = np.argsort(-inner, kind="stable")[:k]
        scores[r, : len(order)], best[r, : len(order)] = inner[order], proposed[order]
    return scores, best


def training_sample(pooled: Sequence[Pooled], dim: int, size: int, seed: int = 0) -> np.ndarray:
    """Up to `size` vectors drawn evenly at random from all of `pooled` (float32)."""
    counts = np.array([len(p.vectors) for p in pooled], dtype=np.int64)
    total = int(counts.sum())
    if size <= 0 or total == 0:
        return np.zeros((0, dim), np.float32)
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(total, size=min(size, total), replace=False))
    owner = np.searchsorted(np.cumsum(counts), picks, side="right")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = [pooled[o].vectors[i - starts[o]] for o, i in zip(owner, picks)]
    return np.asarray(rows, dtype=np.float32)
