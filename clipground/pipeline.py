"""The one place that wires video -> model -> search into a `Grounding`."""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from clipground import search
from clipground.errors import UsageError, VideoError
from clipground.numeric import unit
from clipground.model import Encoder
from clipground.types import Frames, Grounding, Moment, VideoEmbedding
from clipground.text import as_sentences, chunk_text, clean_query
from clipground.video import DECODERS, FrameSampler
from clipground.workers import Overdue, background, mapped

log = logging.getLogger(__name__)

SPAN_MODES = ("mean", "ordered")
MAX_DECODE_WORKERS = 32  # --decode-workers above this is a usage error
AUTO_DECODE_WORKERS = 8  # the most segments decoded at once by default (two chunks each wait)
MAX_MODEL_STREAMS = 16  # --model-streams above this is a usage error
Progress = Callable[[int, "int | None"], None]  # (frames embedded so far, expected total or None)


@dataclass(frozen=True)
class GroundOptions:
    """How to sample, score and search; lengths in seconds, rates in frames per second."""

    fps: float = 2.0  # sampling rate before embedding
    min_len_s: float | None = None  # shortest window; None = one sample
    max_len_s: float | None = None  # the max-length cap; None = max_fraction of the video
    max_fraction: float = 0.5  # cap when max_len_s is None, as a fraction of the video's duration
    objective: str = "balanced"  # see search.OBJECTIVES
    method: str = "auto"  # "auto" (search.choose_method) or one of search.METHODS
    span_mode: str = "ordered"  # how a multi-sentence span is scored; see SPAN_MODES
    top_k: int = 5  # candidates reported
    nms_iou: float = 0.3  # temporal IoU above which a lower candidate is suppressed
    decoder: str = "pyav"  # see video.DECODERS
    batch_size: int = 32  # frames per model forward pass
    refine: bool | None = None  # second, dense pass near the boundaries; None = for long videos
    refine_fps: float | None = None  # rate of that pass; None = every native frame
    refine_timeout_s: float | None = None  # longest that pass may take (batch, search); None = no limit
    decode_workers: int | None = None  # stretches decoded at once; None: decode_workers()
    model_streams: int | None = None  # chunks embedded at once; None: model_streams()

    def __post_init__(self) -> None:
        _positive("--fps", self.fps)
        for flag, value in (("--min-len", self.min_len_s), ("--max-len", self.max_len_s)):
            if value is not None:
                _positive(flag, value)
        if self.min_len_s and self.max_len_s and self.min_len_s > self.max_len_s:
            raise UsageError(f"--min-len {self.min_len_s} is above --max-len {self.max_len_s}")
        _choice("--objective", self.objective, search.OBJECTIVES)
        _choice("--method", self.method, ("auto", *search.METHODS))
        _choice("--span-mode", self.span_mode, SPAN_MODES)
        _choice("--decoder", self.decoder, DECODERS)
        if self.top_k < 1 or self.batch_size < 1:
            raise UsageError(f"--top-k ({self.top_k}) and --batch-size ({self.batch_size}) must be >= 1")
        if not (math.isfinite(self.max_fraction) and 0 < self.max_fraction <= 1):
            raise UsageError(f"--max-fraction must be within (0, 1], got {self.max_fraction}")
        if self.refine_fps is not None:
            _positive("--refine-fps", self.refine_fps)
        if self.refine_timeout_s is not None:
            _positive("--timeout", self.refine_timeout_s)
        if not 0.0 <= self.nms_iou <= 1.0:
            raise UsageError(f"--nms-iou must be within 0..1, got {self.nms_iou}")
        if self.decode_workers is not None and not (
            isinstance(self.decode_workers, int) and 1 <= self.decode_workers <= MAX_DECODE_WORKERS
        ):
            raise UsageError(
                f"--decode-workers must be 1..{MAX_DECODE_WORKERS}, got {self.decode_workers}"
            )
        if self.model_streams is not None and not (
            isinstance(self.model_streams, int) and 1 <= self.model_streams <= MAX_MODEL_STREAMS
        ):
            raise UsageError(
                f"--model-streams must be 1..{MAX_MODEL_STREAMS}, got {self.model_streams}"
            )


def _positive(flag: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{flag} must be a positive number, got {value}")


def _choice(flag: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise UsageError(f"{flag} {value!r} is not one of {', '.join(allowed)}")


def embed_video(
    video: str | Path,
    encoder: Encoder,
    options: GroundOptions,
    progress: Progress | None = None,
) -> VideoEmbedding:
    """Decode `video` at `options.fps` and embed every sampled frame, chunk by chunk (a long video
    decoded as several segments at once: `decode_workers`)."""
    sampler = _sampler(video, encoder, options, options.fps)
    expected = _expected_samples(sampler, options.fps)
    parts, times, indices, done = [], [], [], 0
    chunks = background([sampler.chunks_unordered(decode_workers(options))])
    for frames, embeddings in _embedded(chunks, encoder, options):
        parts.append(embeddings)
        times.append(frames.times_s)
        indices.append(frames.indices)
        done += len(frames.indices)
        if progress:
            progress(done, expected)
    summary = sampler.summary()
    if done == 0:
        raise VideoError(f"{video}: no frame could be decoded; the file may be corrupt or empty")
    native = np.concatenate(indices).astype(np.int64)
    order = np.argsort(native, kind="stable")  # the chunks of segments decoded at once interleave
    return VideoEmbedding(
        video=str(video),
        embeddings=np.concatenate(parts)[order],
        times_s=np.concatenate(times).astype(np.float64)[order],
        indices=native[order],
        summary=summary,
        sample_fps=options.fps,
        model=encoder.identity,
    )


def decode_workers(options: GroundOptions, sharing: int = 1) -> int:
    """How many stretches of a video to decode at once: `options.decode_workers`, else one per
    core (of the cores' share of one of `sharing` processes), up to 8.

    One per core also on a CPU that the model keeps busy: each segment's decoder is single-threaded
    (slice threads only), which costs less CPU than FFmpeg's frame threads (see README, Speed)."""
    if options.decode_workers is not None:
        return options.decode_workers
    return max(1, min(AUTO_DECODE_WORKERS, (os.cpu_count() or 1) // max(1, sharing)))


def model_streams(encoder: Encoder, options: GroundOptions) -> int:
    """How many chunks the model embeds at once: `options.model_streams`, else the encoder's
    default (`Encoder.default_streams`: two on a CPU with two cores or more, one on a GPU)."""
    requested = options.model_streams
    return requested if requested is not None else encoder.default_streams()


def _embedded(
    chunks: Iterator[Frames], encoder: Encoder, options: GroundOptions
) -> Iterator[tuple[Frames, np.ndarray]]:
    """(frames, their embeddings) in the order they are embedded: one chunk at a time, or split
    into pieces that `model_streams` threads embed at once (each with its share of torch's threads:
    one OpenMP team across all the cores stalls whenever a decoder takes one of them)."""
    streams = model_streams(encoder, options)
    if streams > 1:  # each chunk split evenly among the streams (a short one too)
        chunks = (p for frames in chunks for p in frames.split(math.ceil(len(frames) / streams)))
    with encoder.streams(streams) as setup:
        yield from mapped(lambda f: encoder.encode_frames(f.pixels), chunks, streams, setup)


def _sampler(
    video: str | Path,
    encoder: Encoder,
    options: GroundOptions,
    fps: float | None,
    ranges: Sequence[tuple[float, float]] | None = None,
) -> FrameSampler:
    return FrameSampler(
        video, fps=fps, size=encoder.input.decode_size, decoder=options.decoder,
        chunk_size=options.batch_size, ranges=ranges,
    )


def _expected_samples(sampler: FrameSampler, fps: float) -> int | None:
    duration = sampler.info.duration_s
    return None if not duration else max(1, math.ceil(duration * fps))


def encode_query(encoder: Encoder, sentences: str | Sequence[str]) -> np.ndarray:
    """Embed each sentence (K, D; a string is one sentence); a sentence longer than the context is
    chunked and averaged."""
    rows = []
    for sentence in as_sentences(sentences):
        chunks = chunk_text(sentence, encoder.context_length, encoder.count_tokens)
        if len(chunks) > 1:
            log.warning(
                "query text of %d words is longer than the model's %d-token context: "
                "split into %d chunks whose embeddings are averaged",
                len(sentence.split()), encoder.context_length, len(chunks),
            )
        rows.append(unit(encoder.encode_texts(chunks).mean(axis=0)))
    return np.stack(rows).astype(np.float32)


def ground(
    video: str | Path,
    query: str | Sequence[str],
    encoder: Encoder,
    options: GroundOptions = GroundOptions(),
    progress: Progress | None = None,
) -> Grounding:
    """Find where `query` (one sentence or an ordered span of sentences) happens in `video`."""
    sentences = clean_query(query)
    text = encode_query(encoder, sentences)
    embedded = embed_video(video, encoder, options, progress)
    return ground_and_refine(embedded, sentences, text, encoder, options)


def ground_queries(
    video: str | Path,
    queries: Sequence[str | Sequence[str]],
    encoder: Encoder,
    options: GroundOptions = GroundOptions(),
    progress: Progress | None = None,
) -> list[Grounding]:
    """Ground several queries (each one sentence or an ordered span of them) in one video, decoding
    and embedding it once."""
    cleaned = [clean_query(q) for q in as_sentences(queries)]
    embedded = embed_video(video, encoder, options, progress)
    return [ground_and_refine(embedded, q, encode_query(encoder, q), encoder, options) for q in cleaned]


def ground_and_refine(
    embedded: VideoEmbedding,
    sentences: str | Sequence[str],
    text: np.ndarray,
    encoder: Encoder,
    options: GroundOptions,
) -> Grounding:
    """Search an embedded video, then refine the boundaries where `wants_refinement` says so.

    If the second pass cannot decode the video (changed or gone since the first pass, as with a cached
    embedding), the first pass's answer stands, with a warning.
    """
    coarse = ground_embedded(embedded, sentences, text, options)
    if not wants_refinement(embedded, options):
        return coarse
    try:
        return refine_grounding(coarse, embedded, text, encoder, options)
    except VideoError as exc:
        log.warning("%s: boundaries not refined (%s); the %g frames/s answer stands", embedded.video,
                    exc, options.fps)
        return coarse


def ground_embedded(
    embedded: VideoEmbedding, sentences: str | Sequence[str], text: np.ndarray, options: GroundOptions
) -> Grounding:
    """Search an already embedded video for the query embeddings `text` (K, D) of `sentences`."""
    sentences = as_sentences(sentences)
    if np.ndim(text) != 2 or len(text) != len(sentences):
        raise UsageError(
            f"query embeddings of shape {np.shape(text)} for {len(sentences)} sentence(s): "
            "embed the same sentences with encode_query"
        )
    min_len, max_len = _lengths_in_samples(embedded, options)
    if options.span_mode == "ordered" and len(sentences) > 1:
        windows, parts = _ordered(embedded.embeddings, text, min_len, max_len, options)
    else:
        scores = search.similarity(embedded.embeddings, unit(text.mean(axis=0)))
        windows, parts = _windows(scores, min_len, max_len, options), []
    score_unit = _score_unit(embedded, options.objective)
    moments = [_moment(embedded, w, score_unit) for w in windows]
    return Grounding(
        video=embedded.video,
        query=tuple(sentences),
        best=moments[0],
        candidates=tuple(moments),
        sentences=tuple(_moment(embedded, w, score_unit) for w in parts),
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
    when the rest of the video is loosely related to the text (see the README's benchmark).
    """
    return options.max_len_s if options.max_len_s else options.max_fraction * duration_s


def _lengths_in_samples(embedded: VideoEmbedding, options: GroundOptions) -> tuple[int, int | None]:
    """Convert --min-len/--max-len to sample counts at the video's effective sampling rate."""
    n, duration, rate = len(embedded.indices), embedded.summary.duration_s, _sample_rate(embedded)
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
    frames: np.ndarray, text: np.ndarray, min_len: int, max_len: int | None, options: GroundOptions
) -> tuple[list[search.Window], list[search.Window]]:
    """Locate each sentence after the previous one; the span is the union of their windows."""
    found = _ordered_alternatives(frames, text, min_len, max_len, options, count=1)
    parts = [group[0] for group in found]
    union = search.Window(parts[0].start, parts[-1].end, float(np.mean([p.score for p in parts])))
    return [union], parts


def _ordered_alternatives(
    frames: np.ndarray,
    text: np.ndarray,
    min_len: int,
    max_len: int | None,
    options: GroundOptions,
    count: int,
) -> list[list[search.Window]]:
    """For each sentence, its best `count` windows (by NMS) after the previous sentence's best one
    and leaving room for the sentences still to place; the first of each list is the answer."""
    n, k = len(frames), len(text)
    if n < k * min_len:
        raise VideoError(f"too few samples ({n}) to place {k} sentences of at least {min_len} samples each")
    found, start = [], 0
    for i, row in enumerate(text):
        room = n - (k - i - 1) * min_len  # leave space for the sentences still to place
        scores = search.similarity(frames[start:room], row)
        windows = search.best_windows(
            scores, min_len=min_len, max_len=max_len, objective=options.objective, top_k=count,
            nms_iou=options.nms_iou, method=_method(options, len(scores), min_len, max_len),
        )
        found.append([search.Window(w.start + start, w.end + start, w.score) for w in windows])
        start = found[-1][0].end + 1
    return found


def _moment(embedded: VideoEmbedding, window: search.Window, score_unit: float = 1.0) -> Moment:
    """Map a window over samples to native frames and presentation seconds; its score times `score_unit`
    (see `_score_unit`)."""
    idx, times, summary = embedded.indices, embedded.times_s, embedded.summary
    last = window.end + 1 < len(idx)
    end_frame = int(idx[window.end + 1]) - 1 if last else summary.num_frames - 1
    end_s = float(times[window.end + 1]) if last else summary.duration_s
    return Moment(
        start_frame=int(idx[window.start]),
        end_frame=max(end_frame, int(idx[window.end])),
        start_s=float(times[window.start]),
        end_s=max(end_s, float(times[window.end])),
        score=float(window.score) * score_unit,
    )


def _score_unit(embedded: VideoEmbedding, objective: str) -> float:
    """What puts the search's scores over samples in the units of the refine pass's time-weighted
    ones: (seconds per sample) ** (1 - BALANCE) for `balanced`, whose size factor the refine pass
    takes in seconds (see `refine.window_scores`); 1 for the others. Coarse and refined candidates
    are ranked together, and `search` ranks videos sampled at different rates."""
    if objective != "balanced":
        return 1.0
    return (1.0 / _sample_rate(embedded)) ** (1.0 - search.BALANCE)


def _sample_rate(embedded: VideoEmbedding) -> float:
    """The embedding's effective samples per second (its sampling rate where the duration is
    unknown): what --min-len/--max-len and scores over samples are converted with."""
    n, duration = len(embedded.indices), embedded.summary.duration_s
    return n / duration if duration > 0 else embedded.sample_fps


REFINE_AUTO_MIN_S = 60.0  # videos at least this long are refined unless --no-refine
REFINE_MARGIN_STEPS = 2  # coarse steps around each boundary searched densely (1 missed 1 in 12 on the benchmark)


def wants_refinement(embedded: VideoEmbedding, options: GroundOptions) -> bool:
    """Refine when asked, or by default on long videos; never when it could not add frames."""
    summary = embedded.summary
    finer = (options.refine_fps or summary.native_fps) > options.fps * 1.01
    if options.refine is False or not finer:
        return False
    return options.refine is True or summary.duration_s >= REFINE_AUTO_MIN_S


SENTENCE_ALTERNATIVES = 3  # coarse windows refined per ordered sentence; the best refined one wins


def refine_grounding(
    coarse: Grounding, embedded: VideoEmbedding, text: np.ndarray, encoder: Encoder, options: GroundOptions
) -> Grounding:
    """Embed frames densely within two coarse steps of each window's boundaries and re-solve there.

    Candidates are refined on the query's curve. With ordered sentences, each sentence's best few
    coarse windows are refined on its own sentence's curve and the best refined one is kept; the
    answer is again their union.
    """
    margin = REFINE_MARGIN_STEPS / options.fps
    alternatives = _sentence_alternatives(coarse, embedded, text, options)
    windows = [*coarse.candidates, *(m for group in alternatives for m in group)]
    spans = _merge_spans([(b - margin, b + margin) for m in windows for b in (m.start_s, m.end_s)])
    fine = _embed_spans(embedded.video, spans, encoder, options)
    merged = _merge_samples(embedded, fine)
    refine = _refiner(merged, embedded.summary.duration_s, margin, options)
    frames_embedded = coarse.frames_embedded + fine.count
    if coarse.sentences:
        duration_s = embedded.summary.duration_s
        parts = _refine_in_order(alternatives, text, refine, duration_s, _min_len_s(options))
        if parts is None:
            return replace(coarse, frames_embedded=frames_embedded)
        union = Moment(parts[0].start_frame, parts[-1].end_frame, parts[0].start_s, parts[-1].end_s,
                       float(np.mean([p.score for p in parts])))
        return replace(coarse, best=union, candidates=(union,), sentences=tuple(parts),
                       frames_embedded=frames_embedded)
    query = unit(text.mean(axis=0))
    moments = sorted((refine(m, query) or m for m in coarse.candidates), key=lambda m: -m.score)  # stable
    return replace(coarse, best=moments[0], candidates=tuple(moments), frames_embedded=frames_embedded)


def _sentence_alternatives(
    coarse: Grounding, embedded: VideoEmbedding, text: np.ndarray, options: GroundOptions
) -> list[list[Moment]]:
    """Each ordered sentence's coarse window first, then its next best (none without sentences)."""
    if not coarse.sentences:
        return []
    min_len, max_len = _lengths_in_samples(embedded, options)
    found = _ordered_alternatives(
        embedded.embeddings, text, min_len, max_len, options, count=SENTENCE_ALTERNATIVES
    )
    score_unit = _score_unit(embedded, options.objective)
    return [[_moment(embedded, w, score_unit) for w in group] for group in found]


Refine = Callable[..., Moment | None]  # (moment, query vector, from_s=0, to_s=duration)


def _min_len_s(options: GroundOptions) -> float:
    """The coarse pass's shortest window in seconds: --min-len, else one sample."""
    return options.min_len_s or 1.0 / options.fps


def _refiner(merged: VideoEmbedding, duration_s: float, margin: float, options: GroundOptions) -> Refine:
    """Re-solve one window's boundaries on the merged samples' curve for a query vector; None when
    no window near them fits the length limits.

    The curve can be limited to [from_s, to_s): ordered sentences are each searched after the one
    before (see `_ordered`), so their contrast is taken against that stretch only, at both rates.
    """
    from clipground.refine import Curve, refine_window

    min_len_s = _min_len_s(options)
    cap = max(min_len_s, max_len_s(options, duration_s))

    def refine(
        m: Moment, query: np.ndarray, from_s: float = 0.0, to_s: float = duration_s
    ) -> Moment | None:
        inside = np.flatnonzero((merged.times_s >= from_s - 1e-9) & (merged.times_s < to_s - 1e-9))
        if len(inside) == 0:
            return None
        first = int(inside[0])
        values = search.similarity(merged.embeddings[inside], query)
        curve = Curve(merged.times_s[inside], min(to_s, duration_s), values)
        w = refine_window(curve, m.start_s, m.end_s, margin, options.objective, min_len_s, cap)
        return None if w is None else _moment(merged, search.Window(w.first + first, w.last + first, w.score))

    return refine


def _refine_in_order(
    alternatives: Sequence[Sequence[Moment]],
    text: np.ndarray,
    refine: Refine,
    duration_s: float,
    min_len_s: float,
) -> list[Moment] | None:
    """Refine each sentence's coarse windows on its own curve, after the refined sentence before it
    and leaving room for those after, as `_ordered` searched them, and keep the best; None if some
    sentence has no refined window there (the coarse answer then stands)."""
    fine: list[Moment] = []
    for i, (group, row) in enumerate(zip(alternatives, text)):
        from_s = fine[-1].end_s if fine else 0.0
        to_s = max(duration_s - (len(alternatives) - i - 1) * min_len_s, group[0].end_s)
        refined = [m for m in (refine(c, row, from_s, to_s) for c in group) if m is not None]
        if not refined:
            return None
        fine.append(max(refined, key=lambda m: m.score))  # the first of equals: the coarse answer's
    return fine


@dataclass(frozen=True)
class _FineFrames:
    embeddings: np.ndarray
    times_s: np.ndarray
    indices: np.ndarray

    @property
    def count(self) -> int:
        return len(self.indices)


def _merge_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of overlapping time spans, so no stretch is decoded twice."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted((max(0.0, a), b) for a, b in spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _embed_spans(
    video: str, spans: list[tuple[float, float]], encoder: Encoder, options: GroundOptions
) -> _FineFrames:
    """Embed the frames of every span in one pass (one probe and packet scan, seeking between
    spans where that pays; a file that cannot seek is decoded once, not once per span). Spans far
    apart are decoded at once as segments (`decode_workers`); `_merge_samples` orders the frames."""
    parts, times, indices = [np.zeros((0, 0), np.float32)], [np.zeros(0)], [np.zeros(0, np.int64)]
    limit = options.refine_timeout_s
    deadline = None if limit is None else time.monotonic() + limit
    chunks: Iterator[Frames] = iter(())
    if spans:
        sampler = _sampler(video, encoder, options, options.refine_fps, spans)
        chunks = sampler.chunks_unordered(decode_workers(options))
    try:
        ahead = background([chunks], deadline=deadline)
        for frames, embeddings in _embedded(ahead, encoder, options):
            parts.append(embeddings)
            times.append(frames.times_s)
            indices.append(frames.indices)
            if deadline is not None and time.monotonic() > deadline:
                raise Overdue
    except Overdue:
        raise VideoError(f"{video}: the second pass took longer than --timeout {limit:g} s") from None
    embeddings = [p for p in parts if p.size] or [np.zeros((0, 1), np.float32)]
    return _FineFrames(np.concatenate(embeddings), np.concatenate(times), np.concatenate(indices).astype(np.int64))


def _merge_samples(embedded: VideoEmbedding, fine: _FineFrames) -> VideoEmbedding:
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
