"""What the server answers, as the CLI answers it: the same library calls, the same records.

`search` goes through the library's vector index where one matches (`index.index_candidates`, as
`clipground search` shortlists), `batch.LibrarySearch` and `output.hit_record`; `match` through
`pipeline.ground_embedded` and `output.grounding_record` as `clipground match`; `align` through
`pipeline.align_embedded` and `output.alignment_records` as `clipground align`. The embeddings come
from the `EmbeddingStore` (memory, then the cache, then the decoder); `match`'s second pass takes
its frames from the `RefineMemo` where it holds them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clipground import search as core
from clipground.batch import LibrarySearch
from clipground.errors import ClipgroundError, UsageError, VectorIndexError
from clipground.index import LoadedIndexes, index_candidates
from clipground.options import AlignOptions, GroundOptions
from clipground.output import alignment_records, grounding_record, hit_record
from clipground.pipeline import (
    SpanEmbedder,
    align_embedded,
    encode_query,
    ground_embedded,
    span_embeddings,
    spans_from_cues,
)
from clipground.serve.library import Library, Video
from clipground.serve.memo import RefineMemo, memo_key
from clipground.serve.store import EmbeddingStore
from clipground.text import parse_transcript
from clipground.types import ItemError, VideoEmbedding

log = logging.getLogger(__name__)

MAX_TOP_K = 1000  # more windows than anyone reads; a bigger top_k is refused


@dataclass(frozen=True)
class SearchAnswer:
    """The `search` records, best first, and what went wrong on the way (as the CLI warns)."""

    records: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    failed: int = 0  # videos that could not be embedded (the CLI then exits 1)


@dataclass(frozen=True)
class Curve:
    """The similarity curves a page draws under the player (those `--plot` draws)."""

    times_s: list[float]
    similarity: list[float]  # with the mean of the query's sentences
    sentences: list[list[float]]  # one curve per sentence of a span; empty for one sentence
    duration_s: float


class Service:
    """The library, the store of embeddings (with the warm encoder), the server's options and the
    memo of the second pass's frames (`RefineMemo(0)`: none)."""

    def __init__(
        self,
        library: Library,
        store: EmbeddingStore,
        options: GroundOptions,
        memo: RefineMemo | None = None,
    ) -> None:
        self.library, self.store, self.options = library, store, options
        self.memo = memo if memo is not None else RefineMemo(0)
        self.indexes = LoadedIndexes()  # stage 1 without reading the index for each question
        self.encoder = store.encoder

    def search(
        self,
        sentences: Sequence[str],
        options: GroundOptions,
        videos: list[Video] | None = None,
        exact: bool = False,
    ) -> SearchAnswer:
        """The best windows across `videos` (embedded now if need be), or across every video
        embedded so far, shortlisted by the library's index where one matches (unless `exact`);
        refined as `clipground search` refines them."""
        check_top_k(options.top_k)
        query = encode_query(self.encoder, sentences)
        ranking = LibrarySearch(sentences, query, options, options.top_k)
        if exact:
            chosen, warnings = self.library.videos() if videos is None else videos, []
        else:
            chosen, warnings = self._shortlisted(videos, query, options)
        found, failures = self._embedded(chosen, wait=videos is not None)
        warnings += failures
        for embedded in found:
            try:
                ranking.add(embedded)
            except ClipgroundError as exc:  # e.g. shorter than min_len: it cannot match
                warnings.append(str(exc))
        by_path = {v.path: v for v in chosen}
        with self.memo.answering():
            hits = ranking.hits(self.encoder, lambda e: self._refine_memo(by_path[e.video]))
        records = [
            hit_record(rank, hit, sentences, options, self.encoder.identity)
            for rank, hit in enumerate(hits, 1)
        ]
        return SearchAnswer(records, warnings, len(failures))

    def match(
        self, video: Video, sentences: Sequence[str], options: GroundOptions
    ) -> dict[str, Any]:
        """The `match` record of `video` (embedded first if it is not yet)."""
        check_top_k(options.top_k)
        embedded = self.store.get(video)
        query = encode_query(self.encoder, sentences)
        with self.memo.answering():
            found = ground_embedded(
                embedded, sentences, query, self.encoder, options, embed=self._refine_memo(video)
            )
        return grounding_record(found)

    def align(
        self,
        video: Video,
        transcript: str,
        source: str,
        spans: str | None,
        options: AlignOptions,
    ) -> list[dict[str, Any]]:
        """The `align` records of a transcript's text (`source` names it in errors)."""
        chosen = spans_from_cues(parse_transcript(transcript, source), spans)
        if not chosen:
            raise UsageError("nothing to align: the transcript has no sentences")
        query = span_embeddings(self.encoder, chosen)
        embedded = self.store.get(video)
        with self.memo.answering():
            return alignment_records(align_embedded(embedded, chosen, query, options))

    def curve(self, video: Video, sentences: Sequence[str]) -> Curve:
        """The query's similarity over the video's samples (and each sentence's, for a span)."""
        embedded = self.store.get(video)
        query = encode_query(self.encoder, sentences)
        frames = embedded.embeddings
        per_sentence = [core.similarity(frames, row) for row in query] if len(query) > 1 else []
        return Curve(
            times_s=_floats(embedded.times_s),
            similarity=_floats(core.similarity(frames, query.mean(axis=0))),
            sentences=[_floats(c) for c in per_sentence],
            duration_s=round(embedded.summary.duration_s, 6),
        )

    def _refine_memo(self, video: Video) -> SpanEmbedder | None:
        """The second pass's frames from the memo (None: decoded and embedded each time)."""
        if not self.memo.enabled:
            return None
        key = memo_key(video.path, video.real, self.encoder, self.options, self.store.cache)
        return None if key is None else self.memo.embedder(key, video.id, video.path)

    def _shortlisted(
        self, videos: list[Video] | None, query: np.ndarray, options: GroundOptions
    ) -> tuple[list[Video], list[str]]:
        """The videos to search (`videos`, else all): where the cache holds an index for this
        model and rate, its shortlist and the videos it lacks, as `clipground search` picks them;
        and the warning when that index cannot be used (then every video is searched)."""
        videos = self.library.videos() if videos is None else videos
        if self.store.cache is None or not videos:
            return videos, []
        by_path = {v.path: v for v in videos}
        try:
            found = index_candidates(
                list(by_path),
                self.store.cache,
                self.encoder,
                options,
                query,
                options.top_k,
                loaded=self.indexes,
            )
        except (VectorIndexError, UsageError) as exc:
            hint = " (rebuild it with `clipground index build`)" * isinstance(exc, VectorIndexError)
            log.warning("%s; searching every video%s", exc, hint)
            return videos, [f"{exc}; searching every video{hint}"]
        if found is None:
            return videos, []
        log.info(
            "index: %d of %d indexed videos shortlisted; %d not indexed searched too",
            found.shortlisted,
            found.indexed,
            len(found.videos) - found.shortlisted,
        )
        return [by_path[p] for p in found.videos], []

    def _embedded(self, videos: list[Video], wait: bool) -> tuple[list[VideoEmbedding], list[str]]:
        """`videos` embedded (`wait`: embedding them now, with why some could not be), or those
        of them embedded so far."""
        if not wait:
            return self.store.ready(videos), []
        found, failures = [], []
        for video in videos:
            try:
                found.append(self.store.get(video))
            except ClipgroundError as exc:
                failures.append(ItemError.from_exception(exc).message)
        return found, failures


def check_top_k(top_k: int) -> None:
    """Refuse a top_k past MAX_TOP_K (the options refuse one below 1)."""
    if top_k > MAX_TOP_K:
        raise UsageError(f"--top-k must be 1..{MAX_TOP_K} here, got {top_k}")


def _floats(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]
