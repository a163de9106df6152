"""Commands over many videos: `embed`, `batch`, `search`.

Options -> clipground.batch -> one JSON line per record on stdout; exit code 1 means some items
failed (the others still completed).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    Export,
    FailFast,
    Fps,
    Glob,
    GpusPerWorker,
    MaxFraction,
    MaxLen,
    Method,
    MinLen,
    Model,
    ModelStreams,
    NmsIou,
    Objective,
    Padding,
    Paths,
    Precision,
    Pretrained,
    Quiet,
    Reencode,
    Refine,
    RefineFps,
    Server,
    SpanMode,
    Texts,
    Timeout,
    Verbose,
    Workers,
    model_spec,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

Exact = Annotated[
    bool,
    typer.Option(
        "--exact",
        help="Search every video even where a vector index (`clipground index`) could shortlist.",
    ),
]

# ---------------------------------------------------------------------------------------------
# Shared setup


# ---------------------------------------------------------------------------------------------
# Commands


def embed(
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
    fail_fast: FailFast = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Decode and embed videos into the cache: one JSON line per video (none with --quiet)."""
    failed = False
    with command(quiet, verbose):
        from clipground import batch
        from clipground.model import load_encoder
        from clipground.output import embed_record
        from clipground.pipeline import GroundOptions

        options = GroundOptions(
            fps=fps,
            decoder=decoder,
            batch_size=batch_size,
            decode_workers=decode_workers,
            model_streams=model_streams,
        )
        spec = model_spec(model, pretrained, checkpoint, device, precision)
        videos = batch.find_videos(paths, glob)
        flags = engine_flags(engine, address, gpus_per_worker)
        encoder = load_encoder(spec)
        with tracker(show_progress(quiet), len(videos)) as progress:
            embedder = make_embedder(
                encoder, spec, options, cache_dir, workers, timeout, progress, flags
            )
            for outcome in embedder.run(videos):
                progress.video_done()
                failed |= outcome.error is not None
                if not quiet:
                    echo_json(embed_record(outcome))
                if failed and fail_fast:
                    break
    if failed:
        raise typer.Exit(1)


def batch(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Video files or folders (searched recursively).", show_default=False),
    ] = None,
    text: Texts = None,
    queries: Annotated[
        str | None,
        typer.Option(help="Queries: a text file (one a line), JSON lines, or - for stdin."),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write JSON lines here instead of stdout.")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Skip pairs already in --output (error records are retried).")
    ] = False,
    glob: Glob = None,
    fps: Fps = GROUND.fps,
    min_len: MinLen = None,
    max_len: MaxLen = None,
    max_fraction: MaxFraction = GROUND.max_fraction,
    top_k: Annotated[int, typer.Option(help="Candidate windows reported per pair.")] = GROUND.top_k,
    nms_iou: NmsIou = GROUND.nms_iou,
    objective: Objective = GROUND.objective,
    method: Method = GROUND.method,
    span_mode: SpanMode = GROUND.span_mode,
    model: Model = MODEL.name,
    pretrained: Pretrained = MODEL.pretrained,
    checkpoint: Checkpoint = None,
    device: Device = MODEL.device,
    precision: Precision = MODEL.precision,
    decoder: Decoder = GROUND.decoder,
    batch_size: BatchSize = GROUND.batch_size,
    decode_workers: DecodeWorkers = None,
    model_streams: ModelStreams = None,
    refine: Refine = None,
    refine_fps: RefineFps = None,
    cache_dir: CacheDir = None,
    workers: Workers = 1,
    timeout: Timeout = 600.0,
    engine: EngineName = "local",
    address: Address = None,
    gpus_per_worker: GpusPerWorker = 0.0,
    fail_fast: FailFast = False,
    export: Export = None,
    padding: Padding = 0.0,
    reencode: Reencode = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Answer every (video, query) pair: one JSON line each, written as it completes."""
    failed = False
    with command(quiet, verbose):
        from clipground import batch as jobs
        from clipground.errors import UsageError
        from clipground.model import load_encoder
        from clipground.output import answer_record
        from clipground.pipeline import GroundOptions

        options = GroundOptions(
            fps=fps,
            min_len_s=min_len,
            max_len_s=max_len,
            max_fraction=max_fraction,
            objective=objective,
            method=method,
            span_mode=span_mode,
            top_k=top_k,
            nms_iou=nms_iou,
            decoder=decoder,
            batch_size=batch_size,
            decode_workers=decode_workers,
            model_streams=model_streams,
            refine=refine,
            refine_fps=refine_fps,
            refine_timeout_s=timeout,
        )
        spec = model_spec(model, pretrained, checkpoint, device, precision)
        if bool(text) == bool(queries):
            raise UsageError(
                "give either --text (one query) or --queries FILE (many), not both or neither"
            )
        asked = jobs.read_queries(queries) if queries else [jobs.text_query(text or [])]
        videos = jobs.job_videos(paths or [], asked, glob)
        if not videos:
            raise UsageError('no videos: pass files or folders, or queries with a "video"')
        results = jobs.ResultLog(output, resume)
        todo = jobs.pending_pairs(videos, asked, results.done)
        if not todo:
            return
        flags = engine_flags(engine, address, gpus_per_worker)
        encoder = load_encoder(spec)
        encoded = {eq.query: eq for eq in jobs.encode_queries(encoder, asked)}
        with results.writer() as write, tracker(show_progress(quiet), len(todo)) as progress:
            embedder = make_embedder(
                encoder, spec, options, cache_dir, workers, timeout, progress, flags
            )
            for outcome in embedder.run(list(todo)):
                progress.video_done()
                for answer in jobs.answer_video(
                    outcome, [encoded[q] for q in todo[outcome.video]], options, encoder
                ):
                    record = answer_record(answer)
                    if export is not None and answer.error is None:
                        record = _with_clip(record, export, padding, reencode)
                    write(record)
                    failed |= answer.error is not None
                if failed and fail_fast:
                    break
    if failed:
        raise typer.Exit(1)


def _with_clip(
    record: dict[str, Any], out_dir: Path, padding: float, reencode: bool
) -> dict[str, Any]:
    """Cut the record's window into a clip; a cut that fails is a warning, the answer still stands."""
    from clipground.errors import ClipgroundError
    from clipground.export import export_moments
    from clipground.types import Moment

    fields = ("start_frame", "end_frame", "start_s", "end_s", "score")
    stem = f"{Path(record['video']).stem}_{record['id']}"
    try:
        clip = export_moments(
            record["video"],
            [Moment(**{k: record[k] for k in fields})],
            out_dir,
            padding,
            reencode,
            stem,
        )
    except ClipgroundError as exc:
        log.warning("%s: no clip: %s", record["video"], exc)
        return record
    return {**record, "clip": str(clip[0])}


def search(
    ctx: typer.Context,
    paths: Paths,
    text: Texts = None,
    top_k: Annotated[int, typer.Option(help="Windows reported, across all videos.")] = 10,
    glob: Glob = None,
    fps: Fps = GROUND.fps,
    min_len: MinLen = None,
    max_len: MaxLen = None,
    max_fraction: MaxFraction = GROUND.max_fraction,
    nms_iou: NmsIou = GROUND.nms_iou,
    objective: Objective = GROUND.objective,
    method: Method = GROUND.method,
    refine: Refine = None,
    refine_fps: RefineFps = None,
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
    exact: Exact = False,
    server: Server = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Rank the best windows across all the videos (embedding any that are not cached yet), then
    refine the boundaries of the hits as `match` does. Where `clipground index build` made an
    index for this model and rate, only the videos it shortlists and those it lacks are searched."""
    failed = False
    with command(quiet, verbose):
        if server:
            from clipground.cli import remote

            return remote.search(ctx, server)
        from clipground import batch as jobs
        from clipground.errors import ClipgroundError
        from clipground.model import load_encoder
        from clipground.output import hit_record
        from clipground.pipeline import GroundOptions, encode_query
        from clipground.text import clean_query

        options = GroundOptions(
            fps=fps,
            min_len_s=min_len,
            max_len_s=max_len,
            max_fraction=max_fraction,
            objective=objective,
            method=method,
            top_k=top_k,
            nms_iou=nms_iou,
            decoder=decoder,
            batch_size=batch_size,
            decode_workers=decode_workers,
            model_streams=model_streams,
            refine=refine,
            refine_fps=refine_fps,
            refine_timeout_s=timeout,
        )
        spec = model_spec(model, pretrained, checkpoint, device, precision)
        sentences = clean_query(text or [])
        videos = jobs.find_videos(paths, glob)
        flags = engine_flags(engine, address, gpus_per_worker)
        encoder = load_encoder(spec)
        query = encode_query(encoder, sentences)
        ranking = jobs.LibrarySearch(sentences, query, options, top_k)
        if not exact:  # stage 1: the index's shortlist, and the videos it does not hold
            from clipground.cli.index import shortlisted

            videos = shortlisted(videos, encoder, options, cache_dir, query, top_k)
        with tracker(show_progress(quiet), len(videos)) as progress:
            for outcome in make_embedder(
                encoder, spec, options, cache_dir, workers, timeout, progress, flags
            ).run(videos):
                progress.video_done()
                if outcome.embedded is None:
                    failed = True
                    log.warning("%s", outcome.error.message if outcome.error else outcome.video)
                    continue
                try:
                    ranking.add(outcome.embedded)
                except ClipgroundError as exc:  # e.g. shorter than --min-len: it cannot match
                    log.warning("%s", exc)
        for rank, hit in enumerate(ranking.hits(encoder), 1):
            echo_json(hit_record(rank, hit, sentences, options, encoder.identity))
    if failed:
        raise typer.Exit(1)
