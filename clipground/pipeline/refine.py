"""The second pass: embed frames densely near the first pass's boundaries and re-solve there."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from clipground import search
from clipground.errors import VideoError
from clipground.model import Encoder
from clipground.numeric import unit
from clipground.options import GroundOptions
from clipground.pipeline.embed import (
    SamplerFactory,
    decode_workers,
    embed_chunks,
    frame_sampler,
)
from clipground.pipeline.windows import (
    lengths_in_samples,
    max_len_s,
    ordered_alternatives,
    score_unit,
    shortest_window_s,
    to_moment,
)
from clipground.types import Frames, Grounding, Moment, VideoEmbedding
from clipground.video import FrameSampler
from clipground.workers import Overdue, background

REFINE_AUTO_MIN_S = 60.0  # videos at least this long are refined unless --no-refine
REFINE_MARGIN_STEPS = (
    2  # coarse steps around each boundary searched densely (1 missed 1 in 12 on the benchmark)
)


def wants_refinement(embedded: VideoEmbedding, options: GroundOptions) -> bool:
    """Refine when asked, or by default on long videos; never when it could not add frames."""
    summary = embedded.summary
    finer = (options.refine_fps or summary.native_fps) > options.fps * 1.01
    if options.refine is False or not finer:
        return False
    return options.refine is True or summary.duration_s >= REFINE_AUTO_MIN_S


SENTENCE_ALTERNATIVES = 3  # coarse windows refined per ordered sentence; the best refined one wins


def refine_grounding(
    coarse: Grounding,
    embedded: VideoEmbedding,
    query_embeddings: np.ndarray,
    encoder: Encoder,
    options: GroundOptions,
    sampler: SamplerFactory = FrameSampler,
    embed: SpanEmbedder | None = None,
) -> Grounding:
    """Embed frames densely within two coarse steps of each window's boundaries and re-solve there.

    Candidates are refined on the query's curve. With ordered sentences, each sentence's best few
    coarse windows are refined on its own sentence's curve and the best refined one is kept; the
    answer is again their union. `embed` gives the spans' frames (None: `embed_spans`, which
    decodes and embeds them; a server passes one that remembers them).
    """
    margin = REFINE_MARGIN_STEPS / options.fps
    alternatives = _sentence_alternatives(coarse, embedded, query_embeddings, options)
    windows = [*coarse.candidates, *(m for group in alternatives for m in group)]
    spans = _merge_spans([(b - margin, b + margin) for m in windows for b in (m.start_s, m.end_s)])
    fine = (embed or embed_spans)(embedded.video, spans, encoder, options, sampler)
    merged = _merge_samples(embedded, fine)
    refine = _refiner(merged, embedded.summary.duration_s, margin, options)
    frames_embedded = coarse.frames_embedded + fine.count
    if coarse.sentences:
        duration_s = embedded.summary.duration_s
        parts = refine_in_order(
            alternatives, query_embeddings, refine, duration_s, shortest_window_s(options)
        )
        if parts is None:
            return replace(coarse, frames_embedded=frames_embedded)
        union = Moment(
            parts[0].start_frame,
            parts[-1].end_frame,
            parts[0].start_s,
            parts[-1].end_s,
            float(np.mean([p.score for p in parts])),
        )
        return replace(
            coarse,
            best=union,
            candidates=(union,),
            sentences=tuple(parts),
            frames_embedded=frames_embedded,
        )
    query = unit(query_embeddings.mean(axis=0))
    moments = sorted(
        (refine(m, query) or m for m in coarse.candidates), key=lambda m: -m.score
    )  # stable
    return replace(
        coarse, best=moments[0], candidates=tuple(moments), frames_embedded=frames_embedded
    )


def _sentence_alternatives(
    coarse: Grounding,
    embedded: VideoEmbedding,
    query_embeddings: np.ndarray,
    options: GroundOptions,
) -> list[list[Moment]]:
    """Each ordered sentence's coarse window first, then its next best (none without sentences)."""
    if not coarse.sentences:
        return []
    min_len, max_len = lengths_in_samples(embedded, options)
    found = ordered_alternatives(
        embedded.embeddings,
        query_embeddings,
        min_len,
        max_len,
        options,
        count=SENTENCE_ALTERNATIVES,
    )
    factor = score_unit(embedded, options.objective)
    return [[to_moment(embedded, w, factor) for w in group] for group in found]


Refine = Callable[..., Moment | None]  # (moment, query vector, from_s=0, to_s=duration)


def _refiner(
    merged: VideoEmbedding, duration_s: float, margin: float, options: GroundOptions
) -> Refine:
    """Re-solve one window's boundaries on the merged samples' curve for a query vector; None when
    no window near them fits the length limits.

    The curve can be limited to [from_s, to_s): ordered sentences are each searched after the one
    before (see `_ordered`), so their contrast is taken against that stretch only, at both rates.
    """
    min_len_s = shortest_window_s(options)
    cap = max(min_len_s, max_len_s(options, duration_s))

    def refine(
        m: Moment, query: np.ndarray, from_s: float = 0.0, to_s: float = duration_s
    ) -> Moment | None:
        inside = np.flatnonzero((merged.times_s >= from_s - 1e-9) & (merged.times_s < to_s - 1e-9))
        if len(inside) == 0:
            return None
        first = int(inside[0])
        values = search.similarity(merged.embeddings[inside], query)
        curve = search.Curve(merged.times_s[inside], min(to_s, duration_s), values)
        w = search.refine_window(
            curve, m.start_s, m.end_s, margin, options.objective, min_len_s, cap
        )
        return (
            None
            if w is None
            else to_moment(merged, search.Window(w.first + first, w.last + first, w.score))
        )

    return refine


def refine_in_order(
    alternatives: Sequence[Sequence[Moment]],
    query_embeddings: np.ndarray,
    refine: Refine,
    duration_s: float,
    min_len_s: float,
) -> list[Moment] | None:
    """Refine each sentence's coarse windows on its own curve, after the refined sentence before it
    and leaving room for those after, as `_ordered` searched them, and keep the best; None if some
    sentence has no refined window there (the coarse answer then stands)."""
    fine: list[Moment] = []
    for i, (group, row) in enumerate(zip(alternatives, query_embeddings)):
        from_s = fine[-1].end_s if fine else 0.0
        to_s = max(duration_s - (len(alternatives) - i - 1) * min_len_s, group[0].end_s)
        refined = [m for m in (refine(c, row, from_s, to_s) for c in group) if m is not None]
        if not refined:
            return None
        fine.append(max(refined, key=lambda m: m.score))  # the first of equals: the coarse answer's
    return fine


@dataclass(frozen=True)
class FineFrames:
    """The frames the second pass embedded, in any order (`_merge_samples` sorts them)."""

    embeddings: np.ndarray  # (N, D) float32, L2-normalised
    times_s: np.ndarray  # (N,) float64 presentation times, relative to the first frame
    indices: np.ndarray  # (N,) int64 native frame indices

    @property
    def count(self) -> int:
        """How many frames (what `frames_embedded` counts of the second pass)."""
        return len(self.indices)


# (video, spans, encoder, options, sampler) -> the frames of `spans` embedded: `embed_spans`'s
# signature, the second pass's injection point
SpanEmbedder = Callable[
    [str, list[tuple[float, float]], Encoder, GroundOptions, SamplerFactory], FineFrames
]
Select = Callable[[Frames], Frames]  # which of a decoded chunk's frames to embed


def _merge_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of overlapping time spans, so no stretch is decoded twice."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted((max(0.0, a), b) for a, b in spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def embed_spans(
    video: str,
    spans: list[tuple[float, float]],
    encoder: Encoder,
    options: GroundOptions,
    sampler: SamplerFactory = FrameSampler,
    select: Select | None = None,
) -> FineFrames:
    """Embed the frames of every span in one pass (one probe and packet scan, seeking between
    spans where that pays; a file that cannot seek is decoded once, not once per span). Spans far
    apart are decoded at once as segments (`decode_workers`); `_merge_samples` orders the frames.
    `select` sees each decoded chunk and keeps the frames to embed (None: all of them)."""
    parts, times, indices = [np.zeros((0, 0), np.float32)], [np.zeros(0)], [np.zeros(0, np.int64)]
    limit = options.refine_timeout_s
    deadline = None if limit is None else time.monotonic() + limit
    chunks: Iterator[Frames] = iter(())
    if spans:
        frames = frame_sampler(video, encoder, options, options.refine_fps, spans, sampler)
        chunks = frames.chunks_unordered(decode_workers(options))
        if select is not None:
            chunks = (kept for f in chunks if len(kept := select(f)))
    try:
        ahead = background([chunks], deadline=deadline)
        for frames, embeddings in embed_chunks(ahead, encoder, options):
            parts.append(embeddings)
            times.append(frames.times_s)
            indices.append(frames.indices)
            if deadline is not None and time.monotonic() > deadline:
                raise Overdue
    except Overdue:
        raise VideoError(
            f"{video}: the second pass took longer than --timeout {limit:g} s"
        ) from None
    embeddings = [p for p in parts if p.size] or [np.zeros((0, 1), np.float32)]
    return FineFrames(
        np.concatenate(embeddings), np.concatenate(times), np.concatenate(indices).astype(np.int64)
    )


def _merge_samples(embedded: VideoEmbedding, fine: FineFrames) -> VideoEmbedding:
    """Coarse and fine samples together, in time order, each native frame once."""
    if fine.count == 0:
        return embedded
    indices = np.concatenate([embedded.indices, fine.indices])
    order = np.argsort(indices, kind="stable")
    keep = order[np.concatenate(([True], np.diff(indices[order]) > 0))]
    return replace(
        embedded,
        embeddings=np.concatenate([embedded.embeddings, fine.embeddings])[keep],
        times_s=np.concatenate([embedded.times_s, fine.times_s])[keep],
        indices=indices[keep],
    )
