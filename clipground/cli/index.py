"""`clipground index build|update|info`: the vector index that `search` shortlists videos with.

`build` and `update` write error records for the videos that could not be embedded, then one
summary object; `info` writes one object per index in the cache. Without faiss they fail with
exit code 2 and the command that installs it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from clipground.cli._common import command, echo_json, show_progress
from clipground.cli.jobs import engine_flags, make_embedder, tracker
from clipground.cli.options import (
    GROUND,
    MODEL,
    Address,
    BatchSize,
    CacheDir,
    Checkpoint,
    Decoder,
    DecodeWorkers,
    Device,
    EngineName,
    Fps,
    Glob,
    GpusPerWorker,
    Model,
    ModelStreams,
    Paths,
    Precision,
    Pretrained,
    Quiet,
    Timeout,
    Verbose,
    Workers,
    model_spec,
)

if TYPE_CHECKING:
    import numpy as np

    from clipground.model import Encoder, ModelSpec
    from clipground.options import GroundOptions

log = logging.getLogger(__name__)

index_app = typer.Typer(
    no_args_is_help=True,
    help="Build, update or inspect the vector index that `search` shortlists videos with.",
)


@index_app.command("build")
def index_build(
    paths: Paths,
    glob: Glob = None,
    fps: Fps = GROUND.fps,
    model: Model = MODEL.name,
    pretrained: Pretrained = MODEL.pretrained,
    checkpoint: Checkpoint = None,
    device: Device = MODEL.device,
    precision: Precision = MODEL.precision,
    decoder: Decoder = GROUND.decoder,
    batch_size: BatchSize = GROUND.batch_size,
    decode_workers: DecodeWorkers = None,
    model_streams: ModelStreams = None,
    cache_dir: CacheDir = None,
    workers: Workers = 1,
    timeout: Timeout = 600.0,
    engine: EngineName = "local",
    address: Address = None,
    gpus_per_worker: GpusPerWorker = 0.0,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Index the videos under PATHS (embedding those not cached), replacing this model's index."""
    spec = model_spec(model, pretrained, checkpoint, device, precision)
    settings = (fps, decoder, batch_size, decode_workers, model_streams)
    how = (workers, timeout, engine, address, gpus_per_worker)
    _index(paths, glob, settings, spec, cache_dir, how, quiet, verbose, rebuild=True)


@index_app.command("update")
def index_update(
    paths: Paths,
    glob: Glob = None,
    fps: Fps = GROUND.fps,
    model: Model = MODEL.name,
    pretrained: Pretrained = MODEL.pretrained,
    checkpoint: Checkpoint = None,
    device: Device = MODEL.device,
    precision: Precision = MODEL.precision,
    decoder: Decoder = GROUND.decoder,
    batch_size: BatchSize = GROUND.batch_size,
    decode_workers: DecodeWorkers = None,
    model_streams: ModelStreams = None,
    cache_dir: CacheDir = None,
    workers: Workers = 1,
    timeout: Timeout = 600.0,
    engine: EngineName = "local",
    address: Address = None,
    gpus_per_worker: GpusPerWorker = 0.0,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Add the videos under PATHS the index lacks; drop deleted, changed or re-embedded ones."""
    spec = model_spec(model, pretrained, checkpoint, device, precision)
    settings = (fps, decoder, batch_size, decode_workers, model_streams)
    how = (workers, timeout, engine, address, gpus_per_worker)
    _index(paths, glob, settings, spec, cache_dir, how, quiet, verbose, rebuild=False)


@index_app.command("info")
def index_info(cache_dir: CacheDir = None, quiet: Quiet = False, verbose: Verbose = False) -> None:
    """Check every index in the cache whole: one JSON object each (an error record if unsound)."""
    failed = False
    with command(quiet, verbose):
        from clipground.cache import EmbeddingCache
        from clipground.errors import VectorIndexError
        from clipground.index import require_faiss, stores

        faiss = require_faiss()
        for store in stores(EmbeddingCache(cache_dir).root):
            try:
                echo_json(asdict(store.info(faiss)))
            except VectorIndexError as exc:
                failed = True
                echo_json({"path": str(store.folder), "error": _error(exc)})
    if failed:
        raise typer.Exit(1)


def _index(
    paths: list[str],
    glob: str | None,
    settings: tuple[float, str, int, int | None, int | None],
    spec: ModelSpec,
    cache_dir: str | None,
    how: tuple[int, float, str, str | None, float],
    quiet: bool,
    verbose: bool,
    rebuild: bool,
) -> None:
    """Build or update the index of `spec` and `settings` over PATHS, embedding as `how` says
    (workers, timeout, engine, address, GPUs a worker); exit 1 if a video failed."""
    failed = False
    with command(quiet, verbose):
        from clipground import batch
        from clipground.index import require_faiss, update_index
        from clipground.model import load_encoder
        from clipground.options import GroundOptions
        from clipground.output import error_record, index_record

        fps, decoder, batch_size, decode_workers, model_streams = settings
        options = GroundOptions(
            fps=fps,
            decoder=decoder,
            batch_size=batch_size,
            decode_workers=decode_workers,
            model_streams=model_streams,
        )
        faiss = require_faiss()  # before the slow part
        workers, timeout, engine, address, gpus_per_worker = how
        flags = engine_flags(engine, address, gpus_per_worker)
        videos = batch.find_videos(paths, glob)
        encoder = load_encoder(spec)
        with tracker(show_progress(quiet), len(videos)) as progress:
            embedder = make_embedder(
                encoder, spec, options, cache_dir, workers, timeout, progress, flags
            )

            def seen(outcome: batch.EmbedOutcome) -> None:
                progress.video_done()
                if outcome.error is not None:
                    echo_json(error_record(outcome.video, outcome.error))

            assert embedder.cache is not None  # make_embedder always gives it the cache
            report = update_index(
                videos, embedder.cache, encoder, options, embedder.run, faiss, rebuild, seen
            )
        echo_json(index_record(report))
        failed = report.failed > 0
    if failed:
        raise typer.Exit(1)


def shortlisted(
    videos: Sequence[str],
    encoder: Encoder,
    options: GroundOptions,
    cache_dir: str | None,
    query_embeddings: np.ndarray,
    top_k: int,
) -> list[str]:
    """The videos `search` scans: stage 1's shortlist and the videos not indexed, where an index
    of this model and rate is there; else (none, unsound, or no faiss: one warning) every video."""
    from clipground.cache import EmbeddingCache
    from clipground.errors import UsageError, VectorIndexError
    from clipground.index import index_candidates

    try:
        found = index_candidates(
            videos, EmbeddingCache(cache_dir), encoder, options, query_embeddings, top_k
        )
    except (VectorIndexError, UsageError) as exc:
        hint = " (rebuild it with `clipground index build`)" * isinstance(exc, VectorIndexError)
        log.warning("%s; searching every video%s", exc, hint)
        return list(videos)
    if found is None:
        return list(videos)
    log.info(
        "index: %d of %d indexed videos shortlisted; %d not indexed searched too",
        found.shortlisted,
        found.indexed,
        len(found.videos) - found.shortlisted,
    )
    return list(found.videos)


def _error(exc: Exception) -> dict[str, str]:
    return {"type": type(exc).__name__, "message": " ".join(str(exc).split())}
