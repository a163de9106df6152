"""`clipground cache info|clear`: inspect or empty the embedding cache (and `serve`'s previews)."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Annotated

import typer

from clipground.cli._common import command, echo_json
from clipground.cli.options import CacheDir, Quiet, Verbose
from clipground.errors import UsageError

cache_app = typer.Typer(
    no_args_is_help=True, help="Inspect or clear the embedding cache (and serve's previews)."
)


@cache_app.command("info")
def cache_info(cache_dir: CacheDir = None, quiet: Quiet = False, verbose: Verbose = False) -> None:
    """Where the cache is, how many videos (and `serve` previews) it holds and its size (one JSON
    object)."""
    with command(quiet, verbose):
        from clipground.cache import EmbeddingCache

        echo_json(asdict(EmbeddingCache(cache_dir).info()))


@cache_app.command("clear")
def cache_clear(
    older_than: Annotated[
        str | None, typer.Option(help="Only entries unused for this long: 3600, 90m, 12h, 7d, 2w.")
    ] = None,
    cache_dir: CacheDir = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Remove cached embeddings and `serve`'s previews (all, or those unused for --older-than)."""
    with command(quiet, verbose):
        from clipground.cache import EmbeddingCache

        seconds = parse_duration(older_than) if older_than is not None else None
        cache = EmbeddingCache(cache_dir)
        removed = cache.clear(seconds)
        previews = cache.clear_previews(seconds)
        echo_json({"path": str(cache.root), "removed": removed, "previews_removed": previews})


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in "3600", "90s", "30m", "12h", "7d" or "2w"."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not match:
        raise UsageError(
            f"--older-than {text!r}: use a number and a unit, e.g. 3600, 90m, 12h, 7d, 2w"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]
