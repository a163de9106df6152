"""Align a transcript to a video: embed, score sentences against samples, solve, map to frames."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipground import align as solver
from clipground import search
from clipground.errors import UsageError
from clipground.model import Encoder
from clipground.numeric import unit, unit_rows
from clipground.options import AlignOptions
from clipground.pipeline.embed import embed_cached
from clipground.pipeline.query import encode_query
from clipground.pipeline.windows import lengths_in_samples, to_moment
from clipground.text import Cue, clean_query, parse_span
from clipground.types import Moment, Progress, VideoEmbedding

if TYPE_CHECKING:
    from clipground.cache import EmbeddingCache


@dataclass(frozen=True)
class Span:
    """Transcript sentences first..last (inclusive), aligned as one unit."""

    first: int
    last: int
    sentences: tuple[str, ...]
    cue_start_s: float | None = None  # the subtitle timing, for comparison only
    cue_end_s: float | None = None

    @property
    def text(self) -> str:
        """The span's sentences joined by spaces."""
        return " ".join(self.sentences)


@dataclass(frozen=True)
class AlignedSpan:
    """Where one span of the transcript happens; the spans of an alignment are in order."""

    index: int  # position among the aligned spans
    span: Span
    moment: Moment  # score: mean normalised similarity over the segment


@dataclass(frozen=True)
class Alignment:
    """A transcript aligned to one video."""

    video: str
    spans: tuple[AlignedSpan, ...]
    total_score: float  # the objective the alignment maximised
    normalisation: str
    allow_gaps: bool
    model: str
    decoder: str
    native_fps: float
    num_frames: int
    duration_s: float
    sample_fps: float
    num_sampled: int
    declared_duration_s: float | None = None  # the file's own claim; None when it makes none


def spans_from_cues(cues: Sequence[Cue], spans: str | None = None) -> list[Span]:
    """One span per cue, or the groups of `spans` ("0:1,2,3:5": ordered, non-overlapping)."""
    clean_query([c.text for c in cues])
    if spans is None:
        return [_span(cues, i, i) for i in range(len(cues))]
    groups = [parse_span(part.strip(), len(cues)) for part in spans.split(",")]
    for (_, j), (i, _) in itertools.pairwise(groups):
        if i <= j:
            raise UsageError(f"--spans {spans!r}: spans must be in order and not overlap")
    return [_span(cues, i, j) for i, j in groups]


def _span(cues: Sequence[Cue], i: int, j: int) -> Span:
    part = cues[i : j + 1]
    start, end = part[0].start_s, part[-1].end_s
    return Span(i, j, tuple(" ".join(c.text.split()) for c in part), start, end)


def span_embeddings(encoder: Encoder, spans: Sequence[Span]) -> np.ndarray:
    """(K, D) one unit vector per span: the normalised mean of its sentences' embeddings."""
    rows = [unit(encode_query(encoder, span.sentences).mean(axis=0)) for span in spans]
    return np.stack(rows).astype(np.float32)


def similarity_rows(embedded: VideoEmbedding, query_embeddings: np.ndarray) -> np.ndarray:
    """(K, N) cosine similarity of each span embedding with each sampled frame.

    One matrix product (what search.similarity computes row by row, without renormalising the
    frames K times).
    """
    frames = unit_rows(embedded.embeddings.astype(np.float64))  # (N, D)
    return np.clip(
        unit_rows(np.asarray(query_embeddings, dtype=np.float64)) @ frames.T, -1.0, 1.0
    )  # (K, N)


def align_embedded(
    embedded: VideoEmbedding,
    spans: Sequence[Span],
    query_embeddings: np.ndarray,
    options: AlignOptions,
) -> Alignment:
    """Align `spans` (their embeddings `query_embeddings`, (K, D)) to an already embedded video."""
    min_len, max_len = lengths_in_samples(embedded, options.ground_options())
    sim = similarity_rows(embedded, query_embeddings)  # (K, N)
    segments = solver.align(
        sim,
        min_len=min_len,
        max_len=max_len,
        allow_gaps=options.allow_gaps,
        gap_penalty=options.gap_penalty,
        normalisation=options.normalisation,
        threshold=options.threshold,
    )
    scores = solver.normalise(sim, options.normalisation) - options.threshold
    bounds = [(s.start_sample, s.end_sample) for s in segments]
    summary = embedded.summary
    return Alignment(
        video=embedded.video,
        spans=tuple(
            AlignedSpan(
                i, span, to_moment(embedded, search.Window(s.start_sample, s.end_sample, s.score))
            )
            for i, (span, s) in enumerate(zip(spans, segments))
        ),
        total_score=solver.segmentation_value(scores, bounds, options.gap_penalty),
        normalisation=options.normalisation,
        allow_gaps=options.allow_gaps,
        model=embedded.model,
        decoder=summary.backend,
        native_fps=summary.native_fps,
        num_frames=summary.num_frames,
        duration_s=summary.duration_s,
        sample_fps=embedded.sample_fps,
        num_sampled=len(embedded.indices),
        declared_duration_s=summary.declared_duration_s,
    )


def align_video(
    video: str | Path,
    spans: Sequence[Span],
    encoder: Encoder,
    options: AlignOptions = AlignOptions(),
    progress: Progress | None = None,
    cache: EmbeddingCache | None = None,
) -> tuple[Alignment, VideoEmbedding, np.ndarray]:
    """Embed `video` (through `cache` if given) and align `spans` to it; also returns the
    embedding and the span vectors (K, D)."""
    if not spans:
        raise UsageError("nothing to align: the transcript has no sentences")
    query_embeddings = span_embeddings(encoder, spans)
    embedded, _ = embed_cached(video, encoder, options.ground_options(), cache, progress)
    return align_embedded(embedded, spans, query_embeddings, options), embedded, query_embeddings
