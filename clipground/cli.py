"""The command line: a thin Typer layer over the library. Errors become exit codes here, once."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from clipground import __version__
from clipground.errors import ClipgroundError

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find where in a video a piece of text happens (zero-shot temporal grounding with CLIP).",
)


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


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or warnings on stderr.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks on stderr.")]


@app.command()
def match(
    video: Annotated[str, typer.Argument(help="Video file to search.", show_default=False)],
    text: Annotated[
        Optional[list[str]],
        typer.Option("--text", "-t", help="Query sentence; repeat for a span of several sentences."),
    ] = None,
    transcript: Annotated[
        Optional[Path], typer.Option(help="Transcript file (text: one sentence a line; .srt; .vtt).")
    ] = None,
    span: Annotated[
        Optional[str], typer.Option(help="Sentences I:J of --transcript (0-based, inclusive).")
    ] = None,
    fps: Annotated[float, typer.Option(help="Frames per second sampled before embedding.")] = 2.0,
    min_len: Annotated[Optional[float], typer.Option(help="Shortest window, seconds.")] = None,
    max_len: Annotated[Optional[float], typer.Option(help="Longest window (the cap), seconds.")] = None,
    top_k: Annotated[int, typer.Option(help="Candidate windows reported.")] = 5,
    nms_iou: Annotated[float, typer.Option(help="Temporal IoU that suppresses a lower candidate.")] = 0.3,
    objective: Annotated[str, typer.Option(help="Window score: contrast or mean.")] = "contrast",
    method: Annotated[str, typer.Option(help="Search: exact, multiscale or brute.")] = "exact",
    span_mode: Annotated[str, typer.Option(help="Several sentences: mean or ordered.")] = "mean",
    model: Annotated[str, typer.Option(help="open_clip model name, demo, hf-hub:ID or local-dir:PATH.")] = "ViT-B-32",
    pretrained: Annotated[
        str, typer.Option(help="open_clip pretrained tag; 'none' for random weights.")
    ] = "laion2b_s34b_b79k",
    checkpoint: Annotated[
        Optional[str], typer.Option(help="Local weights file or open_clip-style folder.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto (cuda, mps, cpu), cpu, cuda or mps.")] = "auto",
    decoder: Annotated[str, typer.Option(help="Video decoder: pyav or decord.")] = "pyav",
    batch_size: Annotated[int, typer.Option(help="Frames per model forward pass.")] = 32,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, jsonl or table.")] = "json",
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
                fps=fps, min_len_s=min_len, max_len_s=max_len, objective=objective, method=method,
                span_mode=span_mode, top_k=top_k, nms_iou=nms_iou, decoder=decoder, batch_size=batch_size,
            ),
            model=api.ModelSpec(
                name=model, pretrained=None if pretrained.lower() == "none" else pretrained,
                checkpoint=checkpoint, device=device,
            ),
        )
        _check_format(fmt)
        with _progress(_show_progress(quiet), "embedding frames") as progress:
            result = api.match(request, progress=progress)
        _emit(result, fmt)


def _check_format(fmt: str) -> None:
    from clipground.errors import UsageError
    from clipground.output import FORMATS

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")


def _emit(result: Any, fmt: str) -> None:
    from clipground import output

    if fmt == "table":
        from rich.console import Console

        output.print_table(result, Console())
    else:
        output.write_record(output.grounding_record(result), fmt, sys.stdout)
