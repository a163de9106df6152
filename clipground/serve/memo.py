"""The second pass's frames, remembered per video: a warm server refines a question about a video it
has refined before without decoding or embedding those frames again.

The second pass (`pipeline.refine_grounding`) embeds the native frames near a question's windows.
`RefineMemo.embedder` hands it a `SpanEmbedder` that answers from the video's table of native frames
embedded so far:

1. once every native frame of the video is in the table (the fill, below), the frames of the spans
   are picked from it by the sampler's own rule (`Plan.wants`): nothing is decoded or embedded;
2. the frames of spans asked for before (the same question again, or one with the same windows)
   are taken from the table;
3. otherwise the spans are decoded as the CLI decodes them, and only the frames the table lacks
   are embedded (a nearby question shares some).

After the first refined question about a video, its other native frames are embedded by one
background thread (`prefill`; PyAV's frames only), so that later questions about that video,
different ones included, are answered from memory. The fill lets questions being answered go first
(it waits up to `patience_s` before each chunk of frames, so that it ends under a steady load too).
Tables are kept least recently used first within `limit_bytes`; a video whose whole table would
take more than half of that is not filled. A table is keyed by what changes its frames: the video's
content, the model and its input size, and the decoder (`memo_key`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipground.cache import setting_parts
from clipground.errors import ClipgroundError
from clipground.pipeline import FineFrames, SpanEmbedder, decode_workers, embed_spans
from clipground.pipeline.embed import SamplerFactory, embed_chunks, frame_sampler
from clipground.types import Frames
from clipground.video.plan import checked_ranges, sampling_plan
from clipground.workers import background

if TYPE_CHECKING:
    from clipground.cache import EmbeddingCache
    from clipground.model import Encoder
    from clipground.options import GroundOptions
    from clipground.video import FrameSampler

log = logging.getLogger(__name__)

DEFAULT_LIMIT_MB = 512  # a 10-min video at 25 frames/s and D = 512 takes about 31 MB
ANSWERED_PER_VIDEO = 64  # span sets remembered per video (the frames they picked)
QUEUED_FILLS = 4  # videos waiting for a fill; the oldest request's video gives way
MATCH_S = 1e-6  # slack when frames are looked up by time; `Plan.wants` then decides exactly
PATIENCE_S = 1.0  # longest the fill waits for questions to be answered before its next chunk

Spans = list[tuple[float, float]]
FillState = str  # "none", "queued", "filling", "done", "too big", "inexact", "failed"


class _Stopped(Exception):
    """The memo is closing: a fill in progress stops."""


@dataclass(frozen=True)
class MemoVideo:
    """What the memo holds of one video."""

    video: str  # the video's id
    frames: int  # native frames embedded
    complete: bool  # every native frame: any question is refined from memory
    fill: FillState
    bytes: int


@dataclass(frozen=True)
class MemoStats:
    """What the memo holds, most recently used video last."""

    limit_bytes: int
    bytes: int
    videos: list[MemoVideo]


@dataclass(eq=False)
class _Table:
    """One video's native frames embedded so far, sorted by index (arrays replaced, never
    changed in place, so a reader's snapshot stays whole)."""

    label: str  # the video's id
    video: str  # its path, to decode
    lock: threading.Lock = field(default_factory=threading.Lock)
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,) sorted
    times_s: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))  # (N,)
    embeddings: np.ndarray | None = None  # (N, D) float32
    ends_s: np.ndarray | None = None  # (N,) when each frame stops being shown: all frames known
    avg_fps: float = 0.0  # the probe's rate, as `sampling_plan` takes it
    answered: OrderedDict[tuple, np.ndarray] = field(default_factory=OrderedDict)
    fill: FillState = "none"

    @property
    def nbytes(self) -> int:
        arrays = [self.indices, self.times_s, self.embeddings, self.ends_s]
        arrays += list(self.answered.values())
        return sum(a.nbytes for a in arrays if a is not None)

    def lookup(self, indices: np.ndarray) -> np.ndarray:
        """(M,) positions of `indices` in the table, -1 where it lacks them."""
        if len(self.indices) == 0:
            return np.full(len(indices), -1, np.int64)
        at = np.minimum(np.searchsorted(self.indices, indices), len(self.indices) - 1)
        return np.where(self.indices[at] == indices, at, -1)

    def frames(self, positions: np.ndarray) -> FineFrames:
        assert self.embeddings is not None
        return FineFrames(
            self.embeddings[positions], self.times_s[positions], self.indices[positions]
        )

    def add(self, fine: FineFrames) -> None:
        """Merge new frames in (a frame already held keeps its row); call under `lock`."""
        if fine.count == 0:
            return
        old = self.embeddings if self.embeddings is not None else fine.embeddings[:0]
        indices = np.concatenate([self.indices, fine.indices])
        order = np.argsort(indices, kind="stable")  # held rows first among equals
        keep = order[np.concatenate(([True], np.diff(indices[order]) > 0))]
        self.indices = indices[keep]
        self.times_s = np.concatenate([self.times_s, fine.times_s])[keep]
        self.embeddings = np.concatenate([old, fine.embeddings])[keep]


class RefineMemo:
    """Per-video tables of native frames embedded by the second pass, within `limit_bytes`
    (0: remember nothing); `prefill`: fill a video's table in the background after its first
    refined question, each chunk waiting up to `patience_s` while questions are answered."""

    def __init__(
        self,
        limit_bytes: int = DEFAULT_LIMIT_MB << 20,
        prefill: bool = True,
        patience_s: float = PATIENCE_S,
    ) -> None:
        if limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0, got {limit_bytes}")
        self.limit_bytes, self.prefill, self.patience_s = limit_bytes, prefill, patience_s
        self._tables: OrderedDict[str, _Table] = OrderedDict()  # least recently used first
        self._guard = threading.Condition()
        self._answering = 0  # questions being answered now: the fill waits for none
        self._queue: OrderedDict[str, tuple[_Table, Encoder, GroundOptions, SamplerFactory]] = (
            OrderedDict()
        )
        self._worker: threading.Thread | None = None
        self._closing = threading.Event()

    @property
    def enabled(self) -> bool:
        """Whether anything is remembered."""
        return self.limit_bytes > 0

    def embedder(self, key: str, label: str, video: str) -> SpanEmbedder:
        """The second pass's frames for the video at `video` (`label`: its id), from the table
        under `key` (`memo_key`) where it can, and into it."""

        def embed(
            path: str,
            spans: Spans,
            encoder: Encoder,
            options: GroundOptions,
            sampler: SamplerFactory,
        ) -> FineFrames:
            if not spans or not self.enabled:
                return embed_spans(path, spans, encoder, options, sampler)
            table = self._table(key, label, video)
            found = self._remembered(table, spans, options.refine_fps)
            if found is None:
                found = self._decode(table, path, spans, encoder, options, sampler)
                self._evict(keep=key)
                self._queue_fill(key, table, encoder, options, sampler)
            return found

        return embed

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """While a question is answered: the fill waits (it would take the CPU from it)."""
        with self._guard:
            self._answering += 1
        try:
            yield
        finally:
            with self._guard:
                self._answering -= 1
                self._guard.notify_all()

    def stats(self) -> MemoStats:
        """What is held now."""
        with self._guard:
            tables = list(self._tables.values())
        videos = [
            MemoVideo(t.label, len(t.indices), t.ends_s is not None, t.fill, t.nbytes)
            for t in tables
        ]
        return MemoStats(self.limit_bytes, sum(v.bytes for v in videos), videos)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the fill (at its next chunk) and wait for it at most `timeout_s`."""
        self._closing.set()
        with self._guard:
            self._guard.notify_all()
            worker = self._worker
        if worker is not None and worker.is_alive():
            worker.join(timeout_s)

    # -- answering from the table ------------------------------------------------------------

    def _table(self, key: str, label: str, video: str) -> _Table:
        with self._guard:
            table = self._tables.get(key)
            if table is None:
                table = self._tables[key] = _Table(label, video)
            self._tables.move_to_end(key)
            return table

    def _remembered(self, table: _Table, spans: Spans, rate: float | None) -> FineFrames | None:
        """The spans' frames from the table (every frame known, or these spans asked before)."""
        with table.lock:
            if table.ends_s is not None:
                return table.frames(_picked(table, spans, rate))
            indices = table.answered.get((tuple(spans), rate))
            positions = table.lookup(indices) if indices is not None else None
            if positions is None or (positions < 0).any():
                return None
            table.answered.move_to_end((tuple(spans), rate))
            return table.frames(positions)

    def _decode(
        self,
        table: _Table,
        path: str,
        spans: Spans,
        encoder: Encoder,
        options: GroundOptions,
        sampler: SamplerFactory,
    ) -> FineFrames:
        """Decode the spans as the CLI does; embed only the frames the table lacks."""
        seen: list[np.ndarray] = []

        def unknown(frames: Frames) -> Frames:
            seen.append(frames.indices)
            with table.lock:
                new = table.lookup(frames.indices) < 0
            return Frames(frames.pixels[new], frames.times_s[new], frames.indices[new])

        fresh = embed_spans(path, spans, encoder, options, sampler, select=unknown)
        indices = np.concatenate(seen) if seen else np.zeros(0, np.int64)
        with table.lock:
            table.add(fresh)
            table.answered[(tuple(spans), options.refine_fps)] = np.sort(indices)
            while len(table.answered) > ANSWERED_PER_VIDEO:
                table.answered.popitem(last=False)
            return table.frames(table.lookup(np.sort(indices)))

    def _evict(self, keep: str) -> None:
        """Drop the least recently used tables until the rest fit (`keep` last of all)."""
        with self._guard:
            total = sum(t.nbytes for t in self._tables.values())
            for key in list(self._tables):
                if total <= self.limit_bytes:
                    break
                if key != keep or len(self._tables) == 1:
                    total -= self._tables.pop(key).nbytes

    # -- the fill ----------------------------------------------------------------------------

    def _queue_fill(
        self,
        key: str,
        table: _Table,
        encoder: Encoder,
        options: GroundOptions,
        sampler: SamplerFactory,
    ) -> None:
        """Queue the fill of `table` (once), and start the worker if it is not running."""
        with self._guard:
            held = self._tables.get(key) is table  # not dropped at once for want of room
            wanted = self.prefill and held and options.decoder == "pyav"
            if not wanted or self._closing.is_set() or table.fill != "none":
                return
            table.fill = "queued"
            self._queue[key] = (table, encoder, options, sampler)
            while len(self._queue) > QUEUED_FILLS:
                _, (dropped, *_) = self._queue.popitem(last=False)
                dropped.fill = "none"  # a later question queues it again
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._fill_queued, name="clipground-refine-fill", daemon=True
                )
                self._worker.start()

    def _fill_queued(self) -> None:
        """Fill the most recently queued table, then the next, until none is left."""
        while not self._closing.is_set():
            with self._guard:
                if not self._queue:
                    return
                key, (table, encoder, options, sampler) = self._queue.popitem(last=True)
                table.fill = "filling"
            try:
                table.fill = self._fill(table, encoder, options, sampler)
            except _Stopped:
                table.fill = "none"
                return
            except ClipgroundError as exc:
                log.warning("%s: its native frames were not remembered (%s)", table.video, exc)
                table.fill = "failed"
            except Exception:  # a bug must not end the server; the questions still work
                log.exception("%s: filling the refine memo failed", table.video)
                table.fill = "failed"
            self._evict(keep=key)

    def _fill(
        self, table: _Table, encoder: Encoder, options: GroundOptions, sampler: SamplerFactory
    ) -> FillState:
        """Embed every native frame the table lacks; the table is then complete, unless the
        video's frames are not numbered as a pass over spans numbers them (damaged files)."""
        options = replace(options, refine_fps=None, refine_timeout_s=None)
        source = frame_sampler(table.video, encoder, options, None, None, sampler)
        budget = self.limit_bytes // 2
        row_bytes = 4 * int(encoder.embed_dim) + 16
        if (source.info.duration_s or 0) * source.info.avg_fps * row_bytes > budget:
            return "too big"
        seen_i, seen_t, fresh = [], [], []
        decoded = background([source.chunks_unordered(decode_workers(options))])

        def lacking() -> Iterator[Frames]:
            for frames in decoded:
                self._wait_quiet()
                seen_i.append(frames.indices)
                seen_t.append(frames.times_s)
                with table.lock:
                    new = table.lookup(frames.indices) < 0
                if new.any():
                    yield Frames(frames.pixels[new], frames.times_s[new], frames.indices[new])

        held = 0
        for frames, embeddings in embed_chunks(lacking(), encoder, options):
            fresh.append(FineFrames(embeddings, frames.times_s, frames.indices))
            held += len(frames)
            if (held + len(table.indices)) * row_bytes > budget:
                return "too big"
        return self._complete(table, source, fresh, seen_i, seen_t)

    def _complete(
        self,
        table: _Table,
        source: FrameSampler,
        fresh: list[FineFrames],
        seen_i: list[np.ndarray],
        seen_t: list[np.ndarray],
    ) -> FillState:
        summary = source.summary()
        order = np.argsort(np.concatenate(seen_i), kind="stable")
        indices = np.concatenate(seen_i)[order]
        times = np.concatenate(seen_t)[order]
        exact = (
            summary.corrupt_packets == 0
            and summary.backend == "pyav"
            and np.array_equal(indices, np.arange(summary.num_frames))
            and bool(np.all(np.diff(times) > 0))
        )
        with table.lock:
            for part in fresh:
                table.add(part)
            if not exact or not np.array_equal(table.indices, indices):
                return "inexact"
            table.ends_s = np.append(table.times_s[1:], summary.duration_s)
            table.avg_fps = source.info.avg_fps
            table.answered.clear()  # every question is now picked from the whole table
        return "done"

    def _wait_quiet(self) -> None:
        """Return once no question is being answered, or after `patience_s`; `_Stopped` when
        the memo closes."""
        with self._guard:
            self._guard.wait_for(
                lambda: not self._answering or self._closing.is_set(), self.patience_s
            )
        if self._closing.is_set():
            raise _Stopped


def _picked(table: _Table, spans: Spans, rate: float | None) -> np.ndarray:
    """Positions of the frames a pass over `spans` at `rate` (None: every frame) hands out,
    decided by the sampler's rule on each frame's display interval (a complete table)."""
    assert table.ends_s is not None
    plan = sampling_plan(rate, table.avg_fps, checked_ranges(None, None, spans))
    near = [
        np.arange(
            np.searchsorted(table.ends_s, a - MATCH_S, side="left"),
            np.searchsorted(table.times_s, b + MATCH_S, side="right"),
        )
        for a, b in plan.ranges
    ]
    candidates = np.unique(np.concatenate(near)) if near else np.zeros(0, np.int64)
    t0, t1 = table.times_s, table.ends_s
    return np.array([i for i in candidates if plan.wants(t0[i], t1[i])], dtype=np.int64)


def memo_key(
    video: str | Path,
    real: Path,
    encoder: Encoder,
    options: GroundOptions,
    cache: EmbeddingCache | None,
) -> str | None:
    """What a video's native frames depend on: its content (its embedding cache key, which also
    holds the model, the input size and the decoder), or without a cache the file's identity;
    None when the file cannot be read (then nothing is remembered)."""
    key = cache.key(video, encoder, options) if cache is not None else None
    if key is not None:
        return key
    try:
        st = real.stat()
    except OSError:
        return None
    parts = {**setting_parts(encoder, options), "file": [str(real), st.st_size, st.st_mtime_ns]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
