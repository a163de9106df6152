"""The command line: a thin Typer layer over the library. Errors become exit codes here, once."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from clipground import __version__
from clipground.cli_options import (
    DEFAULT_MODEL, DEFAULT_PRETRAINED, BatchSize, CacheDir, Checkpoint, Decoder, DecodeWorkers,
    Device, Export, Fps, MaxFraction, MaxLen, Method, MinLen, Model, ModelStreams, NmsIou, NoCache,
    Objective, Padding, Plot, Precision, Pretrained, Quiet, Reencode, Refine, RefineFps, SpanMode,
    Texts, Verbose, model_spec,
)
from clipground.errors import ClipgroundError

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find where in a video a piece of text happens (zero-shot temporal grounding with CLIP).",
)


def run() -> None:
    """The console-script entry point: Typer's own usage errors become one `error:` line too."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("error: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except typer.TyperException as exc:  # bad option value, unknown option or command, missing argument
        message = " ".join(exc.format_message().split())
        if not message:  # no arguments at all: the help was printed, as git and docker do
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "clipground"
        typer.echo(f"error: {message} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clipground {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Find where in a video a piece of text happens."""


class _LineFormatter(logging.Formatter):
    """`warning: message`, the way command-line tools write to stderr."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname.lower()}: {record.getMessage()}"
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


@contextlib.contextmanager
def _command(quiet: bool, verbose: bool) -> Iterator[None]:
    """Set up stderr logging, and turn every error into one line and its exit code."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LineFormatter())
    if not verbose:  # libraries that log on the root logger (open_clip) repeat our errors
        handler.addFilter(lambda record: record.name.startswith("clipground"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING)
    try:
        yield
    except ClipgroundError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug of ours: one line, the traceback only with --verbose
        if verbose:
            logging.getLogger(__name__).exception("internal error")
        _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --verbose for details)", EXIT_INTERNAL)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


def _progress(show: bool, label: str) -> contextlib.AbstractContextManager[Callable[[int, int | None], None] | None]:
    """A rich progress bar on stderr when it is a terminal, else nothing."""
    if not show:
        return contextlib.nullcontext(None)
    return _rich_progress(label)


@contextlib.contextmanager
def _rich_progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None, rate="")

        def update(done: int, total: int | None) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{done / elapsed:.1f} frames/s" if elapsed > 0 else ""
            bar.update(task, completed=done, total=max(total, done) if total else None, rate=rate)

        yield update


def _show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()




@app.command()
def match(
    video: Annotated[str, typer.Argument(help="Video file to search.", show_default=False)],
    text: Texts = None,
    transcript: Annotated[
        Optional[Path], typer.Option(help="Transcript file (text: one sentence a line; .srt; .vtt).")
    ] = None,
    span: Annotated[
        Optional[str], typer.Option(help="Sentences I:J of --transcript (0-based, inclusive).")
    ] = None,
    fps: Fps = 2.0,
    min_len: MinLen = None,
    max_len: MaxLen = None,
    max_fraction: MaxFraction = 0.5,
    top_k: Annotated[int, typer.Option(help="Candidate windows reported.")] = 5,
    nms_iou: NmsIou = 0.3,
    objective: Objective = "balanced",
    method: Method = "auto",
    span_mode: SpanMode = "ordered",
    model: Model = DEFAULT_MODEL,
    pretrained: Pretrained = DEFAULT_PRETRAINED,
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    precision: Precision = "auto",
    decoder: Decoder = "pyav",
    batch_size: BatchSize = 32,
    decode_workers: DecodeWorkers = None,
    model_streams: ModelStreams = None,
    refine: Refine = None,
    refine_fps: RefineFps = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, jsonl or table.")] = "json",
    plot: Plot = None,
    export: Export = None,
    padding: Padding = 0.0,
    reencode: Reencode = False,
    no_cache: NoCache = False,
    cache_dir: CacheDir = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Find the window of VIDEO that best matches the text."""
    with _command(quiet, verbose):
        from clipground import api

        request = api.MatchRequest(
            video=video,
            text=tuple(text or ()),
            transcript=str(transcript) if transcript else None,
            span=span,
            options=api.GroundOptions(
                fps=fps, min_len_s=min_len, max_len_s=max_len, max_fraction=max_fraction, objective=objective,
                method=method, span_mode=span_mode, top_k=top_k, nms_iou=nms_iou, decoder=decoder,
                batch_size=batch_size, refine=refine, refine_fps=refine_fps,
                decode_workers=decode_workers, model_streams=model_streams,
            ),
            model=model_spec(model, pretrained, checkpoint, device, precision),
        )
        _check_format(fmt)
        with _progress(_show_progress(quiet), "embedding frames") as progress:
            from clipground.cache import EmbeddingCache

            cache = None if no_cache else EmbeddingCache(cache_dir)
            if plot is None and export is None:
                result, extra = api.match(request, progress=progress, cache=cache), {}
            else:
                from clipground.cli_align import match_with_extras

                result, extra = match_with_extras(
                    request, progress, plot, export, padding, reencode, cache
                )
        _emit(result, fmt, extra)


def _check_format(fmt: str) -> None:
    from clipground.errors import UsageError
    from clipground.output import FORMATS

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")


def _emit(result: Any, fmt: str, extra: dict[str, Any] | None = None) -> None:
    from clipground import output

    if fmt == "table":
        from rich.console import Console

        output.print_table(result, Console())
        for key, value in (extra or {}).items():
            typer.echo(f"{key}: {value}")
    else:
        output.write_record({**output.grounding_record(result), **(extra or {})}, fmt, sys.stdout)


@app.command(name="eval")
def eval_command(
    annotations: Annotated[Path, typer.Argument(help="Charades-STA lines or JSON lines.", show_default=False)],
    videos: Annotated[Path, typer.Option(help="Folder holding the annotated videos.")] = Path("."),
    details: Annotated[bool, typer.Option(help="Add every query's result to the report.")] = False,
    fps: Fps = 2.0,
    min_len: MinLen = None,
    max_len: MaxLen = None,
    max_fraction: MaxFraction = 0.5,
    objective: Objective = "balanced",
    method: Method = "auto",
    span_mode: SpanMode = "ordered",
    model: Model = DEFAULT_MODEL,
    pretrained: Pretrained = DEFAULT_PRETRAINED,
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    precision: Precision = "auto",
    decoder: Decoder = "pyav",
    refine: Refine = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Measure grounding accuracy (R@1 at IoU 0.3/0.5/0.7, R@5 at IoU 0.5, mIoU) on annotations."""
    with _command(quiet, verbose):
        from clipground import api, evaluate

        options = api.GroundOptions(
            fps=fps, min_len_s=min_len, max_len_s=max_len, max_fraction=max_fraction, objective=objective,
            method=method, span_mode=span_mode, decoder=decoder, refine=refine,
        )
        spec = model_spec(model, pretrained, checkpoint, device, precision)
        result = api.run_eval(evaluate.read_annotations(annotations), videos, options, spec, details)
        typer.echo(json.dumps(result, indent=2))


from clipground.cli_align import register as _register_align  # noqa: E402

_register_align(app)

from clipground.cli_batch import register as _register_batch  # noqa: E402

_register_batch(app)
