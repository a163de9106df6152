"""The command line: a thin Typer layer over the library, one module per command group.

Errors become exit codes in one place (`_common.command`); data goes to stdout, the rest to stderr.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from clipground import __version__
from clipground.cli import align, batch, cache, index, match, serve
from clipground.cli import eval as eval_cmd
from clipground.cli._common import EXIT_INTERRUPTED

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
    except (
        typer.TyperException
    ) as exc:  # bad option value, unknown option or command, missing argument
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


app.command()(match.match)
app.command(name="eval")(eval_cmd.eval_command)
app.command()(align.align)
app.command()(batch.embed)
app.command(name="batch")(batch.batch)
app.command()(batch.search)
app.command()(serve.serve)
app.add_typer(cache.cache_app, name="cache")
app.add_typer(index.index_app, name="index")
