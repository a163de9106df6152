"""Job plumbing the commands over many videos share: the embedder they hand videos to, and the
progress of a job (videos done, frames per second, ETA) on stderr."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clipground.batch import Embedder
    from clipground.model import Encoder
    from clipground.options import GroundOptions, ModelSpec


ENGINES = ("local", "ray")


@dataclass(frozen=True)
class EngineFlags:
    """A command's --engine, --address and --gpus-per-worker."""

    name: str = "local"  # one of ENGINES
    address: str | None = None  # --engine ray: the cluster to join
    gpus_per_worker: float = 0.0  # --engine ray: GPUs a model actor holds


def engine_flags(name: str, address: str | None, gpus_per_worker: float) -> EngineFlags:
    """The flags, checked before any slow work: a known engine, Ray's options only with Ray, and
    Ray installed (else a UsageError naming the install command)."""
    from clipground.errors import UsageError

    if name not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}, got {name!r}")
    if name != "ray" and (address is not None or gpus_per_worker):
        raise UsageError("--address and --gpus-per-worker need --engine ray")
    if name == "ray":
        from clipground.engine.ray import require_ray

        require_ray()
    return EngineFlags(name, address, gpus_per_worker)


def make_embedder(
    encoder: Encoder,
    spec: ModelSpec,
    options: GroundOptions,
    cache_dir: str | None,
    workers: int,
    timeout: float,
    progress: Tracker,
    engine: EngineFlags = EngineFlags(),
) -> Embedder:
    """The job's embedder: the cache first, then `workers` processes, each with its share of
    cores (or, with --engine ray, `workers` model actors on a Ray cluster)."""
    from clipground.batch import Embedder
    from clipground.cache import EmbeddingCache
    from clipground.engine import WorkerSetup, default_threads
    from clipground.pipeline import decode_workers

    level = logging.getLogger("clipground").getEffectiveLevel()
    cache = EmbeddingCache(cache_dir)
    if engine.name == "ray":
        from clipground.engine.ray import RayEngine, RaySetup

        setup = WorkerSetup(model=spec, options=options, log_level=level)
        cluster = RaySetup(engine.address, workers, engine.gpus_per_worker)
        ray = RayEngine(setup, encoder.input, cluster, progress.frames)
        return Embedder(
            encoder, setup, cache, workers, timeout, progress.frames, ray, require_cache=True
        )
    threads = default_threads(workers)
    options = replace(options, decode_workers=decode_workers(options, sharing=workers))
    setup = WorkerSetup(model=spec, options=options, threads=threads, log_level=level)
    return Embedder(encoder, setup, cache, workers, timeout, progress.frames)


@dataclass
class Tracker:
    """The overall progress of a job: videos done, frames per second, ETA (rich, stderr)."""

    bar: Any = None
    task: Any = None
    per_video: dict[str, int] = field(default_factory=dict)

    def frames(self, video: str, done: int) -> None:
        self.per_video[video] = done
        self._refresh()

    def video_done(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)
            self._refresh()

    def _refresh(self) -> None:
        if self.bar is None:
            return
        elapsed = self.bar.tasks[self.task].elapsed or 0.0
        frames = sum(self.per_video.values())
        rate = f"{frames / elapsed:.1f} frames/s" if elapsed > 0 and frames else ""
        self.bar.update(self.task, rate=rate)


@contextlib.contextmanager
def tracker(show: bool, total: int) -> Iterator[Tracker]:
    """A `Tracker` with a bar when stderr is a terminal, else a silent one."""
    if not show:
        yield Tracker()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("videos"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield Tracker(bar, bar.add_task("videos", total=total, rate=""))
