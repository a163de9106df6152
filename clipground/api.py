"""Requests as the CLI and batch jobs state them, resolved into library calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipground import pipeline
from clipground.model import Encoder, ModelSpec, load_encoder
from clipground.pipeline import GroundOptions, Progress, encode_query, ground_embedded
from clipground.text import query_sentences
from clipground.types import Grounding, VideoEmbedding

if TYPE_CHECKING:
    from clipground.cache import EmbeddingCache
    from clipground.evaluate import Annotation, Outcome


@dataclass(frozen=True)
class MatchRequest:
    """One video and one query, given as sentences or as a transcript span."""

    video: str
    text: str | tuple[str, ...] = ()  # one sentence, or the query's sentences in order
    transcript: str | None = None  # a transcript file instead of `text`
    span: str | None = None  # "I:J" sentences of the transcript; None = all of it
    options: GroundOptions = field(default_factory=GroundOptions)
    model: ModelSpec = field(default_factory=ModelSpec)

    def sentences(self) -> list[str]:
        """The query's sentences, validated."""
        return query_sentences(self.text, self.transcript, self.span)


@dataclass(frozen=True)
class Prepared:
    """A request's query and video, embedded: everything the search and a plot need."""

    sentences: tuple[str, ...]
    query_embeddings: np.ndarray  # (K, D) one row per sentence
    embedded: VideoEmbedding
    encoder: Encoder


def prepare(
    request: MatchRequest,
    encoder: Encoder | None = None,
    progress: Progress | None = None,
    cache: EmbeddingCache | None = None,
) -> Prepared:
    """Validate the request, load the model unless given one, embed the query and the video.

    With a `cache`, the video's embedding is read from it when present and stored in it when not.
    """
    from clipground.video import probe

    sentences = request.sentences()
    probe(request.video)  # a bad video fails before the (slow) model load
    encoder = encoder or load_encoder(request.model)
    query_embeddings = encode_query(encoder, sentences)  # text errors before the (slow) video work
    if cache is None:
        embedded = pipeline.embed_video(request.video, encoder, request.options, progress)
    else:
        from clipground.pipeline import embed_cached

        embedded, _ = embed_cached(request.video, encoder, request.options, cache, progress)
    return Prepared(tuple(sentences), query_embeddings, embedded, encoder)


def match(
    request: MatchRequest,
    encoder: Encoder | None = None,
    progress: Progress | None = None,
    cache: EmbeddingCache | None = None,
) -> Grounding:
    """Ground the request's query in its video (see `prepare`)."""
    p = prepare(request, encoder, progress, cache)
    return ground_embedded(p.embedded, p.sentences, p.query_embeddings, p.encoder, request.options)


def run_eval(
    annotations: list["Annotation"],
    videos_dir: Path,
    options: GroundOptions,
    model: ModelSpec,
    details: bool = False,
    encoder: Encoder | None = None,
) -> dict[str, object]:
    """Ground every annotation (each video embedded once) and report the metrics."""
    from clipground import evaluate
    from clipground.pipeline import ground_queries

    encoder = encoder or load_encoder(model)

    def ground_video(
        path: Path, items: list["Annotation"]
    ) -> list[tuple[tuple[float, float], ...]]:
        found = ground_queries(path, [a.query for a in items], encoder, options)
        return [tuple((m.start_s, m.end_s) for m in g.candidates) for g in found]

    outcomes = evaluate.evaluate(annotations, Path(videos_dir), ground_video)
    result: dict[str, object] = {
        "model": encoder.identity,
        "objective": options.objective,
        "span_mode": options.span_mode,
        "fps": options.fps,
        **evaluate.report(outcomes),
    }
    if details:
        result["details"] = [_detail(o) for o in outcomes]
    return result


def _detail(outcome: Outcome) -> dict[str, object]:
    a = outcome.annotation
    ious = outcome.ious()
    return {
        "id": a.id,
        "video": a.video,
        "query": list(a.query),
        "kind": a.kind,
        "gt": [a.start_s, a.end_s],
        "pred": list(outcome.windows_s[0]) if outcome.windows_s else None,
        "iou": round(ious[0], 4) if ious else 0.0,
        "error": outcome.error,
    }


__all__ = ["GroundOptions", "MatchRequest", "ModelSpec", "Prepared", "match", "prepare", "run_eval"]
