"""What the server answers, as the CLI answers it: the same library calls, the same records.

`search` goes through `batch.LibrarySearch` and `output.hit_record` as `clipground search` does;
`match` through `pipeline.ground_embedded` and `output.grounding_record` as `clipground match`;
`align` through `pipeline.align_embedded` and `output.alignment_records` as `clipground align`. The
embeddings come from the `EmbeddingStore` (memory, then the cache, then the decoder).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clipground import search as core
from clipground.batch import LibrarySearch
from clipground.errors import ClipgroundError, UsageError
from clipground.options import AlignOptions, GroundOptions
from clipground.output import alignment_records, grounding_record, hit_record
from clipground.pipeline import (
    align_embedded,
    encode_query,
    ground_embedded,
    span_embeddings,
    spans_from_cues,
)
from clipground.serve.library import Library, Video
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
    """The library, the store of embeddings (with the warm encoder) and the server's options."""

    def __init__(self, library: Library, store: EmbeddingStore, options: GroundOptions) -> None:
        self.library, self.store, self.options = library, store, options
        self.encoder = store.encoder

    def search(
        self, sentences: Sequence[str], options: GroundOptions, videos: list[Video] | None = None
    ) -> SearchAnswer:
        """The best windows across `videos` (embedded now if need be), or across every video
        embedded so far; refined as `clipground search` refines them."""
        check_top_k(options.top_k)
        query = encode_query(self.encoder, sentences)
        ranking = LibrarySearch(sentences, query, options, options.top_k)
        found, failures = self._embedded(videos)
        warnings = list(failures)
        for embedded in found:
            try:
                ranking.add(embedded)
            except ClipgroundError as exc:  # e.g. shorter than min_len: it cannot match
                warnings.append(str(exc))
        records = [
            hit_record(rank, hit, sentences, options, self.encoder.identity)
            for rank, hit in enumerate(ranking.hits(self.encoder), 1)
        ]
        return SearchAnswer(records, warnings, len(failures))

    def match(
        self, video: Video, sentences: Sequence[str], options: GroundOptions
    ) -> dict[str, Any]:
        """The `match` record of `video` (embedded first if it is not yet)."""
        check_top_k(options.top_k)
        embedded = self.store.get(video)
        query = encode_query(self.encoder, sentences)
        return grounding_record(ground_embedded(embedded, sentences, query, self.encoder, options))

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

    def _embedded(self, videos: list[Video] | None) -> tuple[list[VideoEmbedding], list[str]]:
        """`videos` embedded (and why some could not be), or every video embedded so far."""
        if videos is None:
            return self.store.ready(self.library.videos()), []
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
