"""The first pass: search an embedded video's samples and map the windows to frames and seconds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clipground import search
from clipground.errors import UsageError, VideoError
from clipground.numeric import unit
from clipground.options import GroundOptions
from clipground.text import as_sentences
from clipground.types import Grounding, Moment, VideoEmbedding


def ground_samples(
    embedded: VideoEmbedding,
    sentences: str | Sequence[str],
    query_embeddings: np.ndarray,
    options: GroundOptions,
) -> Grounding:
    """Search an embedded video's samples alone for `query_embeddings` (K, D) of `sentences`.

    This is the first pass only: no frame is decoded again, so on long videos the boundaries are
    those of the sample grid. `ground_embedded` adds the second pass, as `ground` does.
    """
    sentences = as_sentences(sentences)
    if np.ndim(query_embeddings) != 2 or len(query_embeddings) != len(sentences):
        raise UsageError(
            f"query embeddings of shape {np.shape(query_embeddings)} for {len(sentences)} sentence(s): "
            "embed the same sentences with encode_query"
        )
    min_len, max_len = lengths_in_samples(embedded, options)
    if options.span_mode == "ordered" and len(sentences) > 1:
        windows, parts = _ordered(embedded.embeddings, query_embeddings, min_len, max_len, options)
    else:
        scores = search.similarity(embedded.embeddings, unit(query_embeddings.mean(axis=0)))
        windows, parts = _windows(scores, min_len, max_len, options), []
    factor = score_unit(embedded, options.objective)
    moments = [to_moment(embedded, w, factor) for w in windows]
    return Grounding(
        video=embedded.video,
        query=tuple(sentences),
        best=moments[0],
        candidates=tuple(moments),
        sentences=tuple(to_moment(embedded, w, factor) for w in parts),
        objective=options.objective,
        span_mode=options.span_mode,
        model=embedded.model,
        decoder=embedded.summary.backend,
        native_fps=embedded.summary.native_fps,
        num_frames=embedded.summary.num_frames,
        duration_s=embedded.summary.duration_s,
        sample_fps=embedded.sample_fps,
        num_sampled=len(embedded.indices),
        frames_embedded=len(embedded.indices),
        declared_duration_s=embedded.summary.declared_duration_s,
    )


def _windows(
    scores: np.ndarray, min_len: int, max_len: int | None, options: GroundOptions
) -> list[search.Window]:
    """Top-k by temporal NMS (which also drops windows mostly inside, or around, a better one)."""
    return search.best_windows(
        scores,
        min_len=min_len,
        max_len=max_len,
        objective=options.objective,
        top_k=options.top_k,
        nms_iou=options.nms_iou,
        method=_method(options, len(scores), min_len, max_len),
    )


def _method(options: GroundOptions, n: int, min_len: int, max_len: int | None) -> str:
    """The search method: as asked, or where "auto" measured multiscale both exact and much faster."""
    if options.method != "auto":
        return options.method
    return search.choose_method(n, min_len=min_len, max_len=max_len, objective=options.objective)


def max_len_s(options: GroundOptions, duration_s: float) -> float:
    """The max-length cap in seconds: --max-len, else --max-fraction of the video.

    Without a cap, `contrast` can prefer "everything but the dullest stretch" over the moment itself
    when the rest of the video is loosely related to the text (docs/benchmarks.md).
    """
    return options.max_len_s if options.max_len_s else options.max_fraction * duration_s


def lengths_in_samples(embedded: VideoEmbedding, options: GroundOptions) -> tuple[int, int | None]:
    """Convert --min-len/--max-len to sample counts at the video's effective sampling rate."""
    n, duration, rate = len(embedded.indices), embedded.summary.duration_s, sample_rate(embedded)
    if options.min_len_s and options.min_len_s > duration:
        raise VideoError(
            f"{embedded.video} is {duration:.2f} s long, shorter than --min-len {options.min_len_s:g} s: "
            "lower --min-len"
        )
    min_len = max(1, round(options.min_len_s * rate)) if options.min_len_s else 1
    min_len = min(min_len, n)
    max_len = max(min_len, round(max_len_s(options, duration) * rate))
    return min_len, max_len


def _ordered(
    frames: np.ndarray,
    query_embeddings: np.ndarray,
    min_len: int,
    max_len: int | None,
    options: GroundOptions,
) -> tuple[list[search.Window], list[search.Window]]:
    """Locate each sentence after the previous one; the span is the union of their windows."""
    found = ordered_alternatives(frames, query_embeddings, min_len, max_len, options, count=1)
    parts = [group[0] for group in found]
    union = search.Window(
        parts[0].start_sample, parts[-1].end_sample, float(np.mean([p.score for p in parts]))
    )
    return [union], parts


def ordered_alternatives(
    frames: np.ndarray,
    query_embeddings: np.ndarray,
    min_len: int,
    max_len: int | None,
    options: GroundOptions,
    count: int,
) -> list[list[search.Window]]:
    """For each sentence, its best `count` windows (by NMS) after the previous sentence's best one
    and leaving room for the sentences still to place; the first of each list is the answer."""
    n, k = len(frames), len(query_embeddings)
    if n < k * min_len:
        raise VideoError(
            f"too few samples ({n}) to place {k} sentences of at least {min_len} samples each"
        )
    found, start = [], 0
    for i, row in enumerate(query_embeddings):
        room = n - (k - i - 1) * min_len  # leave space for the sentences still to place
        scores = search.similarity(frames[start:room], row)
        windows = search.best_windows(
            scores,
            min_len=min_len,
            max_len=max_len,
            objective=options.objective,
            top_k=count,
            nms_iou=options.nms_iou,
            method=_method(options, len(scores), min_len, max_len),
        )
        found.append(
            [search.Window(w.start_sample + start, w.end_sample + start, w.score) for w in windows]
        )
        start = found[-1][0].end_sample + 1
    return found


def to_moment(embedded: VideoEmbedding, window: search.Window, factor: float = 1.0) -> Moment:
    """Map a window over samples to native frames and presentation seconds; its score times
    `factor` (see `score_unit`)."""
    idx, times, summary = embedded.indices, embedded.times_s, embedded.summary
    last = window.end_sample + 1 < len(idx)
    end_frame = int(idx[window.end_sample + 1]) - 1 if last else summary.num_frames - 1
    end_s = float(times[window.end_sample + 1]) if last else summary.duration_s
    return Moment(
        start_frame=int(idx[window.start_sample]),
        end_frame=max(end_frame, int(idx[window.end_sample])),
        start_s=float(times[window.start_sample]),
        end_s=max(end_s, float(times[window.end_sample])),
        score=float(window.score) * factor,
    )


def score_unit(embedded: VideoEmbedding, objective: str) -> float:
    """What puts the search's scores over samples in the units of the refine pass's time-weighted
    ones: (seconds per sample) ** (1 - BALANCE) for `balanced`, whose size factor the refine pass
    takes in seconds (see `refine.window_scores`); 1 for the others. Coarse and refined candidates
    are ranked together, and `search` ranks videos sampled at different rates."""
    if objective != "balanced":
        return 1.0
    return (1.0 / sample_rate(embedded)) ** (1.0 - search.BALANCE)


def sample_rate(embedded: VideoEmbedding) -> float:
    """The embedding's effective samples per second (its sampling rate where the duration is
    unknown): what --min-len/--max-len and scores over samples are converted with."""
    n, duration = len(embedded.indices), embedded.summary.duration_s
    return n / duration if duration > 0 else embedded.sample_fps


def shortest_window_s(options: GroundOptions) -> float:
    """The coarse pass's shortest window in seconds: --min-len, else one sample."""
    return options.min_len_s or 1.0 / options.fps
