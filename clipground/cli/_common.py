"""What every command shares: stderr logging, errors mapped to exit codes (in one place),
progress on stderr, and the JSON written to stdout."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer

from clipground.errors import ClipgroundError, UsageError

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`'s `yes`


class LineFormatter(logging.Formatter):
    """`warning: message`, the way command-line tools write to stderr."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname.lower()}: {record.getMessage()}"
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


@contextlib.contextmanager
def command(quiet: bool, verbose: bool) -> Iterator[None]:
    """Set up stderr logging, and turn every error into one line and its exit code."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter())
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
        if isinstance(exc, BrokenPipeError) and stdout_closed():
            _silence_stdout()  # the reader is gone (`| head`): end quietly, as `yes | head` does
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        if verbose:
            logging.getLogger(__name__).exception("internal error")
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --verbose for details)",
            EXIT_INTERNAL,
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


def stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (a BrokenPipeError came from it, not from
    another pipe); True where that cannot be asked (no file descriptor, no `poll`)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush of what is still
    buffered does not fail again on the closed pipe."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def progress(
    show: bool, label: str
) -> contextlib.AbstractContextManager[Callable[[int, int | None], None] | None]:
    """A rich progress bar on stderr when it is a terminal, else nothing."""
    if not show:
        return contextlib.nullcontext(None)
    return _rich_progress(label)


@contextlib.contextmanager
def _rich_progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

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


def show_progress(quiet: bool) -> bool:
    """Progress bars only for a person: not with --quiet, not when stderr is a file or a pipe."""
    return not quiet and sys.stderr.isatty()


def check_format(fmt: str) -> None:
    """Refuse an unknown --format before any work."""
    from clipground.output import FORMATS

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")


def emit(result: Any, fmt: str, extra: dict[str, Any] | None = None) -> None:
    """Write a `Grounding` to stdout as --format asks, with `extra` fields (plot, clip)."""
    from clipground import output

    if fmt == "table":
        from rich.console import Console

        output.print_table(result, Console())
        for key, value in (extra or {}).items():
            typer.echo(f"{key}: {value}")
    else:
        output.write_record({**output.grounding_record(result), **(extra or {})}, fmt, sys.stdout)


def echo_json(record: dict[str, Any]) -> None:
    """One JSON object on one line of stdout, flushed (for pipelines reading as we go)."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()
