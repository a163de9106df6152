"""The two stages of a Ray job, as Ray Data runs them on the cluster's workers (no ray import here).

    decode (CPU tasks, one video each): the video -> its sampled frames in chunks, then its end
    embed (a pool of actors that load the model once): a chunk of frames -> their embeddings

Every row holds one typed item (`ITEM`) beside the video it belongs to (`VIDEO`); the driver
puts each video's items back together (`assemble.Assembler`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from clipground.engine.local import WorkerSetup
from clipground.errors import VideoError
from clipground.model import InputSpec
from clipground.pipeline.embed import embed_chunks
from clipground.types import DecodeSummary, Frames, ItemError
from clipground.video import FrameSampler

VIDEO, ITEM = "video", "item"  # the columns of every row
Batch = dict[str, np.ndarray]  # a Ray Data batch in numpy format: column -> values


@dataclass(frozen=True)
class DecodePlan:
    """What a decode task needs: the sampling rate, the model's input size and the decoder."""

    fps: float  # samples per second
    input: InputSpec  # frames are decoded at its `decode_size`, as the local engine decodes them
    decoder: str  # "pyav" or "decord"
    chunk_size: int  # frames a chunk (the model's batch)
    log_level: int = logging.WARNING  # clipground log records at or above it go to the driver
    driver_node: str | None = None  # the driver's host: an error on another machine names it


@dataclass(frozen=True, repr=False)
class FrameChunk:
    """Sampled frames of one video, on their way to the model."""

    video: str
    frames: Frames

    def __repr__(self) -> str:
        return f"FrameChunk({self.video!r}, {self.frames!r})"


@dataclass(frozen=True, repr=False)
class EmbeddedChunk:
    """The embeddings of one chunk, on their way to the driver."""

    video: str
    embeddings: np.ndarray  # (N, D) float32, L2-normalised
    times_s: np.ndarray  # (N,) float64
    indices: np.ndarray  # (N,) int64, native frame indices

    def __repr__(self) -> str:
        return f"EmbeddedChunk({self.video!r}, embeddings={self.embeddings.shape})"


@dataclass(frozen=True)
class VideoEnd:
    """How a video's decoding ended: how many frames it gave and its summary, or why it failed
    (decoding, or embedding one of its chunks); with the log records its decoding wrote."""

    video: str
    frames: int  # sampled frames sent on (0 on failure)
    summary: DecodeSummary | None  # None exactly when `error` says why
    error: ItemError | None = None
    logs: tuple[tuple[int, str, str], ...] = ()  # (level, logger name, message)
    started_s: float = 0.0  # when the decoding began (time.time() on its worker)


Item = FrameChunk | EmbeddedChunk | VideoEnd  # what a row holds


# -- decode: CPU tasks ------------------------------------------------------------------------


def decode_batch(batch: Batch, plan: DecodePlan) -> Iterator[Batch]:
    """The decode stage: each video of `batch` as rows of frame chunks, then its `VideoEnd`."""
    for video in batch[VIDEO]:
        for item in decode_video(str(video), plan):
            yield rows([item])


def decode_video(
    video: str, plan: DecodePlan, sampler: Callable[..., FrameSampler] = FrameSampler
) -> Iterator[FrameChunk | VideoEnd]:
    """The chunks of `video` sampled as `plan` says, then its end; a failure is its end's error.

    One decoder a video (one core): a cluster decodes many videos at once instead, and a task
    that Ray runs again gives the same chunks in the same order."""
    started, count = time.time(), 0
    summary, error = None, None
    with captured_logs(plan.log_level) as logs:
        try:
            source = sampler(
                video,
                fps=plan.fps,
                size=plan.input.decode_size,
                decoder=plan.decoder,
                chunk_size=plan.chunk_size,
            )
            for frames in source.chunks():
                count += len(frames)
                yield FrameChunk(video, frames)
            if count == 0:
                raise VideoError(
                    f"{video}: no frame could be decoded; the file may be corrupt or empty"
                )
            summary = source.summary()
        except Exception as exc:  # noqa: BLE001 (any failure is this video's, not the job's)
            error = video_error(video, exc, plan.driver_node)
    yield VideoEnd(
        video, count if error is None else 0, summary, error, tuple(logs), started_s=started
    )


def video_error(video: str, exc: BaseException, driver_node: str | None = None) -> ItemError:
    """`exc` as this video's error, its message naming the video (as the local engine's do) and,
    away from `driver_node`, this machine (a video one machine of a cluster cannot read)."""
    error = ItemError.from_exception(exc)
    here = platform.node()
    where = f" (on {here})" if driver_node is not None and here != driver_node else ""
    if video in error.message:
        return ItemError(error.type, error.message + where)
    return ItemError(error.type, f"{video}: {error.message}{where}")


@contextlib.contextmanager
def captured_logs(level: int) -> Iterator[list[tuple[int, str, str]]]:
    """The clipground log records at or above `level` written meanwhile (decoder threads too)."""
    records: list[tuple[int, str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelno, record.name, record.getMessage()))

    logger, handler = logging.getLogger("clipground"), Keep(level)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, logger.getEffectiveLevel()))
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


# -- embed: the model's actors ----------------------------------------------------------------


class EmbedStage:
    """The model stage: an actor that loads the model once, then embeds each chunk it is handed
    (a chunk that fails becomes its video's error; a `VideoEnd` passes through)."""

    def __init__(self, setup: WorkerSetup, workers: int) -> None:
        threads = setup.threads or actor_threads(workers)  # this node's cores
        limit_threads(threads)  # before torch is imported: its thread pool starts that size
        self.encoder = setup.load(setup.model)
        limit_threads(threads)
        self.options = setup.options

    def __call__(self, batch: Batch) -> Batch:
        return rows([self.embed(item) for item in items(batch)])

    def embed(self, item: Item) -> Item:
        """The chunk's embeddings (pieces embedded at once as `embed_chunks` splits it)."""
        if not isinstance(item, FrameChunk):
            return item
        try:
            pieces = list(embed_chunks(iter([item.frames]), self.encoder, self.options))
        except Exception as exc:  # noqa: BLE001 (reported as this video's error)
            return VideoEnd(
                item.video, 0, None, video_error(item.video, exc), started_s=time.time()
            )
        return EmbeddedChunk(
            item.video,
            np.concatenate([e for _, e in pieces]),
            np.concatenate([f.times_s for f, _ in pieces]),
            np.concatenate([f.indices for f, _ in pieces]),
        )


def actor_threads(workers: int, cpu_count: Callable[[], int | None] = os.cpu_count) -> int:
    """Torch threads for a model actor: its share of its node's cores, were all `workers` there."""
    return max(1, (cpu_count() or 1) // max(1, workers))


def limit_threads(threads: int) -> None:
    """Give torch `threads` threads (Ray sets OMP_NUM_THREADS to the actor's CPU reservation)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def rows(values: Sequence[Item]) -> Batch:
    """A batch of one row per item: its video, and the item pickled (Arrow holds it as bytes;
    our own workers wrote it, for our own driver and actors to read)."""
    packed = np.empty(len(values), dtype=object)
    packed[:] = [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in values]
    return {VIDEO: np.array([item.video for item in values]), ITEM: packed}


def items(batch: Batch) -> list[Item]:
    """The items of a batch that `rows` made."""
    return [pickle.loads(data) for data in batch[ITEM]]
