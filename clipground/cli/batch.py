"""Commands over many videos: `embed`, `batch`, `search`.

Options -> clipground.batch -> one JSON line per record on stdout; exit code 1 means some items
failed (the others still completed).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clipground.cli._common import command, echo_json, show_progress
from clipground.cli.options import (
    GROUND,
    MODEL,
    BatchSize,
    CacheDir,
    Checkpoint,
    Decoder,
    DecodeWorkers,
    Device,
    Export,
    Fps,
    MaxFraction,
    MaxLen,
    Method,
    MinLen,
    Model,
    ModelStreams,
    NmsIou,
    Objective,
    Padding,
    Precision,
    Pretrained,
    Quiet,
    Reencode,
    Refine,
    RefineFps,
    SpanMode,
    Texts,
    Verbose,
    model_spec,
)

if TYPE_CHECKING:
    from clipground.batch import Embedder
    from clipground.model import Encoder, ModelSpec
    from clipground.pipeline import GroundOptions

log = logging.getLogger(__name__)

Paths = Annotated[
    list[str],
    typer.Argument(help="Video files or folders (searched recursively).", show_default=False),
]
Glob = Annotated[
    str | None,
    typer.Option(help="Pick files in folders by this glob (e.g. '*.mp4') instead of by extension."),
]
Workers = Annotated[
    int, typer.Option(help="Videos decoded and embedded in parallel (worker processes).")
]
Timeout = Annotated[
    float,
    typer.Option(
        help="Seconds one video may take before its worker is killed; the refine pass (batch, "
        "search) gets as long again, then the first pass's answer stands."
    ),
]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first video that fails.")]

# ---------------------------------------------------------------------------------------------
# Shared setup


def _embedder(
    encoder: Encoder,
    spec: ModelSpec,
    options: GroundOptions,
    cache_dir: str | None,
    workers: int,
    timeout: float,
    progress: _Tracker,
) -> Embedder:
    from clipground.batch import Embedder
    from clipground.cache import EmbeddingCache
    from clipground.engine import WorkerSetup, default_threads
    from clipground.pipeline import decode_workers

    threads = default_threads(workers)
    level = logging.getLogger("clipground").getEffectiveLevel()
    options = replace(options, decode_workers=decode_workers(options, sharing=workers))
    setup = WorkerSetup(model=spec, options=options, threads=threads, log_level=level)
    return Embedder(encoder, setup, EmbeddingCache(cache_dir), workers, timeout, progress.frames)


@dataclass
class _Tracker:
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
def _tracker(show: bool, total: int) -> Iterator[_Tracker]:
    """A `_Tracker` with a bar when stderr is a terminal, else a silent one."""
    if not show:
        yield _Tracker()
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
        yield _Tracker(bar, bar.add_task("videos", total=total, rate=""))


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
        encoder = load_encoder(spec)
        with _tracker(show_progress(quiet), len(videos)) as progress:
            embedder = _embedder(encoder, spec, options, cache_dir, workers, timeout, progress)
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
        encoder = load_encoder(spec)
        encoded = {eq.query: eq for eq in jobs.encode_queries(encoder, asked)}
        with results.writer() as write, _tracker(show_progress(quiet), len(todo)) as progress:
            embedder = _embedder(encoder, spec, options, cache_dir, workers, timeout, progress)
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
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Rank the best windows across all the videos (embedding any that are not cached yet), then
    refine the boundaries of the hits as `match` does."""
    failed = False
    with command(quiet, verbose):
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
        encoder = load_encoder(spec)
        ranking = jobs.LibrarySearch(sentences, encode_query(encoder, sentences), options, top_k)
        with _tracker(show_progress(quiet), len(videos)) as progress:
            for outcome in _embedder(
                encoder, spec, options, cache_dir, workers, timeout, progress
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
