"""The answers of a job: which (video, query) pairs are still to answer, and each pair's answer.

Queries are embedded once for the whole job; each video, once embedded, answers all of its queries
in this process, with the second pass `match` makes (`pipeline.ground_embedded`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from clipground.batch.readers import Query
from clipground.batch.results import PairKey, pair_key
from clipground.errors import ClipgroundError
from clipground.model import Encoder
from clipground.options import GroundOptions
from clipground.pipeline import encode_query, ground_embedded
from clipground.types import EmbedOutcome, Grounding, ItemError, VideoEmbedding


@dataclass(frozen=True)
class EncodedQuery:
    """A query and the embeddings of its sentences."""

    query: Query
    query_embeddings: np.ndarray  # (K, D) float32, one row per sentence


@dataclass(frozen=True)
class PairAnswer:
    """The answer to one (video, query) pair: its grounding, or why there is none.

    A video that could not be embedded fails all of its pairs at once: one answer with `query` None.
    """

    video: str
    query: Query | None  # None: the whole video failed, before any query was asked
    grounding: Grounding | None = None
    error: ItemError | None = None

    def __post_init__(self) -> None:
        if (self.grounding is None) == (self.error is None):
            raise ValueError(f"{self.video}: an answer holds a grounding or an error, not both")
        if self.grounding is not None and self.query is None:
            raise ValueError(f"{self.video}: a grounding answers a query, and none is given")


def encode_queries(encoder: Encoder, queries: Sequence[Query]) -> list[EncodedQuery]:
    """Embed every query's sentences once."""
    return [EncodedQuery(q, encode_query(encoder, q.sentences)) for q in queries]


def pending_pairs(
    videos: Sequence[str], queries: Sequence[Query], done: set[PairKey]
) -> dict[str, list[Query]]:
    """For each video, the queries still to answer (videos with none are left out)."""
    todo = {}
    for video in videos:
        asked = [q for q in queries if q.applies_to(video) and pair_key(video, q) not in done]
        if asked:
            todo[video] = asked
    return todo


def answer_video(
    outcome: EmbedOutcome,
    queries: Sequence[EncodedQuery],
    options: GroundOptions,
    encoder: Encoder,
) -> Iterator[PairAnswer]:
    """One embedded video's answers, one per query, or the one error of a video that failed.

    Boundaries are refined as `match` refines them (`pipeline.ground_embedded`), with `encoder`,
    in this process.
    """
    if outcome.embedded is None:
        yield PairAnswer(outcome.video, None, error=outcome.error)
        return
    for eq in queries:
        yield _answer(outcome.video, outcome.embedded, eq, options, encoder)


def _answer(
    video: str,
    embedded: VideoEmbedding,
    eq: EncodedQuery,
    options: GroundOptions,
    encoder: Encoder,
) -> PairAnswer:
    """One pair's answer; a query this video cannot answer (e.g. too short) fails alone."""
    sentences, query_embeddings = eq.query.sentences, eq.query_embeddings
    try:
        g = ground_embedded(embedded, sentences, query_embeddings, encoder, options)
    except ClipgroundError as exc:
        return PairAnswer(video, eq.query, error=ItemError.from_exception(exc))
    return PairAnswer(video, eq.query, grounding=g)
