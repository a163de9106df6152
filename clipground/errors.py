"""The exception hierarchy; each class maps to one documented CLI exit code (see cli/_common.py)."""

from __future__ import annotations


class ClipgroundError(Exception):
    """Base of every error clipground raises on purpose; `exit_code` is what the CLI returns."""

    exit_code = 1


class UsageError(ClipgroundError, ValueError):
    """Bad arguments: empty text, a bad span, min length above max length, bad numbers."""

    exit_code = 2


class VideoError(ClipgroundError):
    """A video cannot be opened, has no video stream, or yields no decodable frames."""

    exit_code = 3


class ModelError(ClipgroundError):
    """A model or its weights cannot be found, loaded or run."""

    exit_code = 4


class CacheError(ClipgroundError):
    """The embedding cache cannot be read or written."""

    exit_code = 5


class VectorIndexError(CacheError):
    """The vector index (`clipground index`) is corrupt, of another model or rate, or cannot be
    written; `search` then scans every video instead."""


class NotServedError(VideoError):
    """A video id or path that a `clipground serve` does not serve: unknown, missing, or outside its
    PATHS (all alike, so that a request cannot learn what exists outside them)."""


class ServerError(ClipgroundError):
    """A `--server` that cannot be reached, refuses the token, or does not answer as clipground."""

    exit_code = 6
