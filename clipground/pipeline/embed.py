"""Decode a video and embed its sampled frames: the first half of every pipeline, cache included."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipground.errors import VideoError
from clipground.model import Encoder
from clipground.options import AUTO_DECODE_WORKERS, GroundOptions
from clipground.types import Frames, Progress, VideoEmbedding
from clipground.video import FrameSampler, warn_if_cut_short
from clipground.workers import background, mapped

if TYPE_CHECKING:
    from clipground.cache import EmbeddingCache


SamplerFactory = Callable[..., FrameSampler]  # FrameSampler's signature; tests pass fakes


def embed_video(
    video: str | Path,
    encoder: Encoder,
    options: GroundOptions,
    progress: Progress | None = None,
    sampler: SamplerFactory = FrameSampler,
) -> VideoEmbedding:
    """Decode `video` at `options.fps` and embed every sampled frame, chunk by chunk (a long video
    decoded as several segments at once: `decode_workers`); `sampler` makes the frame source."""
    source = frame_sampler(video, encoder, options, options.fps, sampler=sampler)
    expected = expected_samples(source, options.fps)
    parts, times, indices, done = [], [], [], 0
    chunks = background([source.chunks_unordered(decode_workers(options))])
    for frames, embeddings in embed_chunks(chunks, encoder, options):
        parts.append(embeddings)
        times.append(frames.times_s)
        indices.append(frames.indices)
        done += len(frames.indices)
        if progress:
            progress(done, expected)
    summary = source.summary()
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


def embed_cached(
    video: str | Path,
    encoder: Encoder,
    options: GroundOptions,
    cache: EmbeddingCache | None,
    progress: Progress | None = None,
) -> tuple[VideoEmbedding, bool]:
    """`embed_video` through the cache; returns the embedding and whether it was a hit. A hit
    warns about a cut file as decoding it would have."""

    key = cache.key(video, encoder, options) if cache is not None else None
    hit = cache.get(key, video) if cache is not None else None
    if hit is not None:
        warn_if_cut_short(video, hit.summary)
        return hit, True
    embedded = embed_video(video, encoder, options, progress)
    if cache is not None:
        cache.put(key, embedded)
    return embedded, False


def decode_workers(
    options: GroundOptions, sharing: int = 1, cpu_count: Callable[[], int | None] = os.cpu_count
) -> int:
    """How many stretches of a video to decode at once: `options.decode_workers`, else one per
    core (of the cores' share of one of `sharing` processes), up to 8.

    One per core also on a CPU that the model keeps busy: each segment's decoder is single-threaded
    (slice threads only), which costs less CPU than FFmpeg's frame threads (docs/benchmarks.md)."""
    if options.decode_workers is not None:
        return options.decode_workers
    return max(1, min(AUTO_DECODE_WORKERS, (cpu_count() or 1) // max(1, sharing)))


def model_streams(encoder: Encoder, options: GroundOptions) -> int:
    """How many chunks the model embeds at once: `options.model_streams`, else the encoder's
    default (`Encoder.default_streams`: two on a CPU with two cores or more, one on a GPU)."""
    requested = options.model_streams
    return requested if requested is not None else encoder.default_streams()


def embed_chunks(
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


def frame_sampler(
    video: str | Path,
    encoder: Encoder,
    options: GroundOptions,
    fps: float | None,
    ranges: Sequence[tuple[float, float]] | None = None,
    sampler: SamplerFactory = FrameSampler,
) -> FrameSampler:
    """The frames of `video` the encoder takes, sampled at `fps` (None: every frame) in `ranges`."""
    return sampler(
        video,
        fps=fps,
        size=encoder.input.decode_size,
        decoder=options.decoder,
        chunk_size=options.batch_size,
        ranges=ranges,
    )


def expected_samples(sampler: FrameSampler, fps: float) -> int | None:
    """How many samples a pass at `fps` should give (None when the duration is unknown)."""
    duration = sampler.info.duration_s
    return None if not duration else max(1, math.ceil(duration * fps))
