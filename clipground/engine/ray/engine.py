"""The Ray engine: embed a job's videos on a Ray cluster with Ray Data (the only module that
imports ray, and only when a job runs).

    videos -> decode (CPU tasks) -> embed (an actor pool; the model loaded once an actor)
           -> the driver: `Assembler` -> one `EmbedOutcome` per video, as each completes

Ray Data's streaming executor holds back the decoders when the model falls behind (a bounded
object store budget per stage), runs a decode task again when its worker or node dies, and
restarts a lost actor and resends its batch. Outcomes come back to the driver, where the
`Embedder` writes them to the cache, so a job that is killed resumes by running it again.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import platform
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from clipground.engine.local import FrameProgress, WorkerSetup
from clipground.engine.ray.assemble import Assembler
from clipground.engine.ray.stages import (
    VIDEO,
    DecodePlan,
    EmbedStage,
    decode_batch,
    items,
)
from clipground.errors import ModelError, UsageError
from clipground.model import InputSpec
from clipground.types import EmbedOutcome

INSTALL_HINT = "--engine ray needs Ray, which is not installed: pip install 'clipground[ray]'"
DECODE_RETRIES = 3  # a decode task whose worker or node dies runs again, this many times at most
BLOCK_BYTES = 32 << 20  # largest block a stage hands on: the decoded frames a task holds back

Importer = Callable[[str], ModuleType]


def require_ray(importer: Importer = importlib.import_module) -> ModuleType:
    """The ray module with Ray Data loaded, or a UsageError saying how to install it."""
    try:
        ray = importer("ray")
        importer("ray.data")
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class RaySetup:
    """Which Ray cluster runs a job, and how its model actors are sized."""

    address: str | None = None  # None: as ray.init() (a cluster started here, else a new one)
    workers: int = 1  # model actors (e.g. one per GPU)
    gpus_per_worker: float = 0.0  # GPUs each model actor holds; 0: the model runs on CPU
    init_options: Mapping[str, Any] = field(default_factory=dict)  # more ray.init() arguments

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {self.workers}")
        if not (math.isfinite(self.gpus_per_worker) and self.gpus_per_worker >= 0):
            raise UsageError(f"--gpus-per-worker must be 0 or more, got {self.gpus_per_worker}")


class RayEngine:
    """Embeds videos on a Ray cluster: joined (or started) for the job, left after it. Where this
    process is connected to Ray already (a program that called ray.init()), that cluster is used
    and left running."""

    def __init__(
        self,
        setup: WorkerSetup,
        input_spec: InputSpec,
        cluster: RaySetup | None = None,
        on_frames: FrameProgress | None = None,
        importer: Importer = importlib.import_module,
    ) -> None:
        self.setup, self.input_spec = setup, input_spec
        self.cluster = cluster or RaySetup()
        self.on_frames, self.importer = on_frames, importer

    def run(self, videos: Iterable[str]) -> Iterator[EmbedOutcome]:
        """Embed `videos`, yielding each one's outcome as it completes (in no particular order)."""
        videos = [str(v) for v in videos]
        if not videos:
            return
        ray = require_ray(self.importer)
        assembler = Assembler(
            videos, self.setup.options.fps, self.setup.model.identity, self.on_frames
        )
        with quiet_ray(self.setup.log_level), connected(ray, self.cluster):
            batches = self._dataset(ray, videos).iter_batches(batch_size=None, batch_format="numpy")
            for batch in job_failures(iter(batches)):
                for item in items(batch):
                    outcome = assembler.add(item)
                    if outcome is not None:
                        yield outcome
        yield from assembler.lost()

    def _dataset(self, ray: ModuleType, videos: list[str]) -> Any:
        """videos -> decode tasks -> model actors, as a Ray Dataset (not yet running)."""
        options = self.setup.options
        plan = DecodePlan(
            options.fps,
            self.input_spec,
            options.decoder,
            options.batch_size,
            self.setup.log_level,
            platform.node(),
        )
        data = ray.data
        with warnings.catch_warnings():  # Ray 2.60 deprecates retry limits given this way
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            dataset = self._stages(data, videos, plan)
        context = dataset.context
        context.max_errored_blocks = -1  # a video whose task failed for good is an error record
        context.target_max_block_size = BLOCK_BYTES
        context.enable_progress_bars = False  # the job's own bar counts videos and frames
        context.print_on_execution_start = False
        return dataset

    def _stages(self, data: ModuleType, videos: list[str], plan: DecodePlan) -> Any:
        """The two stages: decode tasks (one video each), then the pool of model actors."""
        return (
            data.from_items([{VIDEO: v} for v in videos], override_num_blocks=len(videos))
            .map_batches(
                decode_batch,
                fn_kwargs={"plan": plan},
                batch_size=1,
                num_cpus=1,
                max_retries=DECODE_RETRIES,  # also keeps decoding out of the actors (no fusion)
            )
            .map_batches(
                EmbedStage,
                fn_constructor_kwargs={"setup": self.setup, "workers": self.cluster.workers},
                batch_size=1,  # one chunk: `options.batch_size` frames
                compute=data.ActorPoolStrategy(size=self.cluster.workers),
                num_cpus=1,
                num_gpus=self.cluster.gpus_per_worker or None,
            )  # Ray Data restarts a lost actor, and resends its batches, without limit
        )


def job_failures(batches: Iterator[Any]) -> Iterator[Any]:
    """`batches`, with a failure of the job as a whole (the model actors cannot start, the
    cluster goes away) raised as one line; a failure of a video's task is not one of them."""
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 (Ray raises many kinds; each ends the job)
            raise ModelError(f"the Ray job stopped: {one_line(exc)}") from None
        yield batch


@contextlib.contextmanager
def connected(ray: ModuleType, cluster: RaySetup) -> Iterator[None]:
    """Connected to the cluster meanwhile: one this process already uses, else `cluster.address`
    (joined, or a local instance started and stopped again)."""
    if ray.is_initialized():
        yield
        return
    options = {
        "include_dashboard": False,
        "log_to_driver": False,  # the decoders' log records come back with their videos
        "configure_logging": False,
        **cluster.init_options,
    }
    try:
        ray.init(address=cluster.address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at --address {cluster.address}" if cluster.address else "here"
        raise UsageError(f"cannot start or join a Ray cluster {where}: {one_line(exc)}") from None
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def quiet_ray(level: int) -> Iterator[None]:
    """Ray's own log lines kept off stderr meanwhile (its session's log files keep them), unless
    clipground's level is DEBUG (--verbose)."""
    if level <= logging.DEBUG:
        yield
        return
    consoles = [
        handler
        for name in ("ray", "ray.data")
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
    ]
    levels = [handler.level for handler in consoles]
    for handler in consoles:
        handler.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for handler, old in zip(consoles, levels):
            handler.setLevel(old)


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (Ray's carry tracebacks), with its type."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]
