"""Commands over many videos: `embed`, `batch`, `search`, `cache info|clear`.

A thin layer like cli.py: options -> clipground.batch -> one JSON line per record on stdout.
Errors become exit codes in `cli._command`; exit code 1 means some items failed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clipground.cli_options import (
    BatchSize, CacheDir, Checkpoint, Decoder, DecodeWorkers, Device, Export, Fps, MaxFraction, MaxLen,
    Method, MinLen, Model, ModelStreams, NmsIou, Objective, Padding, Precision, Pretrained, Quiet,
    Reencode, Refine, RefineFps, SpanMode, Texts, Verbose, model_spec,
)

if TYPE_CHECKING:
    from clipground.batch import Embedder
    from clipground.model import Encoder, ModelSpec
    from clipground.pipeline import GroundOptions

log = logging.getLogger(__name__)

cache_app = typer.Typer(no_args_is_help=True, help="Inspect or clear the embedding cache.")

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
    from clipground.batch import Embedder, WorkerSetup, default_threads
    from clipground.cache import EmbeddingCache
    from clipground.pipeline import decode_workers

    threads = default_threads(workers)
    level = logging.getLogger("clipground").getEffectiveLevel()
    options = replace(options, decode_workers=decode_workers(options, sharing=workers))
    setup = WorkerSetup(model=spec, options=options, threads=threads, log_level=level)
    return Embedder(encoder, setup, EmbeddingCache(cache_dir), workers, timeout, progress.frames)


def _command(quiet: bool, verbose: bool) -> contextlib.AbstractContextManager[None]:
    """cli._command: stderr logging, and every error to one line and its exit code."""
    from clipground.cli import _command as command

    return command(quiet, verbose)


def _show_progress(quiet: bool) -> bool:
    from clipground.cli import _show_progress as show

    return show(quiet)


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


def _echo(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Commands


def embed(
    paths: Paths,
    glob: Glob = None,
    fps: Fps = 2.0,
    model: Model = "ViT-B-32",
    pretrained: Pretrained = "laion2b_s34b_b79k",
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    precision: Precision = "auto",
    decoder: Decoder = "pyav",
    batch_size: BatchSize = 32,
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
    with _command(quiet, verbose):
        from clipground import batch
        from clipground.model import load_encoder
        from clipground.pipeline import GroundOptions

        options = GroundOptions(
            fps=fps, decoder=decoder, batch_size=batch_size, decode_workers=decode_workers,
            model_streams=model_streams,
        )
        spec = model_spec(model, pretrained, checkpoint, device, precision)
        videos = batch.find_videos(paths, glob)
        encoder = load_encoder(spec)
        with _tracker(_show_progress(quiet), len(videos)) as progress:
            embedder = _embedder(encoder, spec, options, cache_dir, workers, timeout, progress)
            for outcome in embedder.run(videos):
                progress.video_done()
                failed |= outcome.error is not None
                if not quiet:
                    _echo(batch.embed_record(outcome))
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
    fps: Fps = 2.0,
    min_len: MinLen = None,
    max_len: MaxLen = None,
    max_fraction: MaxFraction = 0.5,
    top_k: Annotated[int, typer.Option(help="Candidate windows reported per pair.")] = 5,
    nms_iou: NmsIou = 0.3,
    objective: Objective = "balanced",
    method: Method = "auto",
    span_mode: SpanMode = "ordered",
    model: Model = "ViT-B-32",
    pretrained: Pretrained = "laion2b_s34b_b79k",
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    precision: Precision = "auto",
    decoder: Decoder = "pyav",
    batch_size: BatchSize = 32,
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
    with _command(quiet, verbose):
        from clipground import batch as jobs
        from clipground.errors import UsageError
        from clipground.model import load_encoder
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
            decode_workers=decode_workers, model_streams=model_streams,
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
        with results.writer() as write, _tracker(_show_progress(quiet), len(todo)) as progress:
            embedder = _embedder(encoder, spec, options, cache_dir, workers, timeout, progress)
            for outcome in embedder.run(list(todo)):
                progress.video_done()
                for record in jobs.batch_records(
                    outcome, [encoded[q] for q in todo[outcome.video]], options, encoder
                ):
                    if export is not None and not jobs.is_error(record):
                        record = _with_clip(record, export, padding, reencode)
                    write(record)
                    failed |= jobs.is_error(record)
                if failed and fail_fast:
                    break
    if failed:
        raise typer.Exit(1)


def _with_clip(record: dict[str, Any], out_dir: Path, padding: float, reencode: bool) -> dict[str, Any]:
    """Cut the record's window into a clip; a cut that fails is a warning, the answer still stands."""
    from clipground.errors import ClipgroundError
    from clipground.export import export_moments
    from clipground.types import Moment

    fields = ("start_frame", "end_frame", "start_s", "end_s", "score")
    stem = f"{Path(record['video']).stem}_{record['id']}"
    try:
        clip = export_moments(record["video"], [Moment(**{k: record[k] for k in fields})], out_dir, padding, reencode, stem)
    except ClipgroundError as exc:
        log.warning("%s: no clip: %s", record["video"], exc)
        return record
    return {**record, "clip": str(clip[0])}


def search(
    paths: Paths,
    text: Texts = None,
    top_k: Annotated[int, typer.Option(help="Windows reported, across all videos.")] = 10,
    glob: Glob = None,
    fps: Fps = 2.0,
    min_len: MinLen = None,
    max_len: MaxLen = None,
    max_fraction: MaxFraction = 0.5,
    nms_iou: NmsIou = 0.3,
    objective: Objective = "balanced",
    method: Method = "auto",
    refine: Refine = None,
    refine_fps: RefineFps = None,
    model: Model = "ViT-B-32",
    pretrained: Pretrained = "laion2b_s34b_b79k",
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    precision: Precision = "auto",
    decoder: Decoder = "pyav",
    batch_size: BatchSize = 32,
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
    with _command(quiet, verbose):
        from clipground import batch as jobs
        from clipground.errors import ClipgroundError
        from clipground.model import load_encoder
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
            decode_workers=decode_workers, model_streams=model_streams,
            refine=refine,
            refine_fps=refine_fps,
            refine_timeout_s=timeout,
        )
        spec = model_spec(model, pretrained, checkpoint, device, precision)
        sentences = clean_query(text or [])
        videos = jobs.find_videos(paths, glob)
        encoder = load_encoder(spec)
        ranking = jobs.LibrarySearch(sentences, encode_query(encoder, sentences), options, top_k)
        with _tracker(_show_progress(quiet), len(videos)) as progress:
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
            _echo(jobs.hit_record(rank, hit, sentences, options, encoder.identity))
    if failed:
        raise typer.Exit(1)


@cache_app.command("info")
def cache_info(cache_dir: CacheDir = None, quiet: Quiet = False, verbose: Verbose = False) -> None:
    """Where the cache is, how many videos it holds and its size (one JSON object)."""
    with _command(quiet, verbose):
        from clipground.cache import EmbeddingCache

        _echo(asdict(EmbeddingCache(cache_dir).info()))


@cache_app.command("clear")
def cache_clear(
    older_than: Annotated[
        str | None, typer.Option(help="Only entries unused for this long: 3600, 90m, 12h, 7d, 2w.")
    ] = None,
    cache_dir: CacheDir = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Remove cached embeddings (all, or those unused for --older-than)."""
    with _command(quiet, verbose):
        from clipground.cache import EmbeddingCache

        seconds = parse_duration(older_than) if older_than is not None else None
        cache = EmbeddingCache(cache_dir)
        _echo({"path": str(cache.root), "removed": cache.clear(seconds)})


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in "3600", "90s", "30m", "12h", "7d" or "2w"."""
    from clipground.errors import UsageError

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not match:
        raise UsageError(
            f"--older-than {text!r}: use a number and a unit, e.g. 3600, 90m, 12h, 7d, 2w"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command()(embed)
    app.command(name="batch")(batch)
    app.command()(search)
    app.add_typer(cache_app, name="cache")
