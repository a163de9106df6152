"""`ground`: find where a query happens in a video, from the file to the refined `Grounding`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clipground.errors import VideoError
from clipground.model import Encoder
from clipground.options import GroundOptions
from clipground.pipeline.embed import SamplerFactory, embed_video
from clipground.pipeline.query import encode_query
from clipground.pipeline.refine import SpanEmbedder, refine_grounding, wants_refinement
from clipground.pipeline.windows import ground_samples
from clipground.text import as_sentences, clean_query
from clipground.types import Grounding, Progress, VideoEmbedding
from clipground.video import FrameSampler

log = logging.getLogger(__name__)


def ground(
    video: str | Path,
    query: str | Sequence[str],
    encoder: Encoder,
    options: GroundOptions = GroundOptions(),
    progress: Progress | None = None,
    sampler: SamplerFactory = FrameSampler,
) -> Grounding:
    """Find where `query` (one sentence or an ordered span of sentences) happens in `video`."""
    sentences = clean_query(query)
    query_embeddings = encode_query(encoder, sentences)
    embedded = embed_video(video, encoder, options, progress, sampler)
    return ground_embedded(embedded, sentences, query_embeddings, encoder, options, sampler)


def ground_queries(
    video: str | Path,
    queries: Sequence[str | Sequence[str]],
    encoder: Encoder,
    options: GroundOptions = GroundOptions(),
    progress: Progress | None = None,
    sampler: SamplerFactory = FrameSampler,
) -> list[Grounding]:
    """Ground several queries (each one sentence or an ordered span of them) in one video, decoding
    and embedding it once."""
    cleaned = [clean_query(q) for q in as_sentences(queries)]
    embedded = embed_video(video, encoder, options, progress, sampler)
    return [
        ground_embedded(embedded, q, encode_query(encoder, q), encoder, options, sampler)
        for q in cleaned
    ]


def ground_embedded(
    embedded: VideoEmbedding,
    sentences: str | Sequence[str],
    query_embeddings: np.ndarray,
    encoder: Encoder,
    options: GroundOptions,
    sampler: SamplerFactory = FrameSampler,
    embed: SpanEmbedder | None = None,
) -> Grounding:
    """Search an embedded video for `query_embeddings` (K, D) of `sentences`, then refine the
    boundaries where `wants_refinement` says so: the answer `ground` gives for the same video.
    `embed` gives the second pass's frames (None: decoded and embedded; see `refine_grounding`).

    If the second pass cannot decode the video (changed or gone since the first pass, as with a cached
    embedding), the first pass's answer stands, with a warning.
    """
    coarse = ground_samples(embedded, sentences, query_embeddings, options)
    if not wants_refinement(embedded, options):
        return coarse
    try:
        return refine_grounding(
            coarse, embedded, query_embeddings, encoder, options, sampler, embed
        )
    except VideoError as exc:
        log.warning(
            "%s: boundaries not refined (%s); the %g frames/s answer stands",
            embedded.video,
            exc,
            options.fps,
        )
        return coarse
