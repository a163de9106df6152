"""Engines: how the videos of a job get embedded. `local` runs a pool of worker processes here.

An engine takes videos and yields an `EmbedOutcome` per video (its embedding, or why there is
none), so that one video that crashes or hangs its worker fails alone.
"""

from clipground.engine.local import (
    DEFAULT_TIMEOUT_S,
    EmbedPool,
    FrameProgress,
    WorkerSetup,
    check_pool,
    default_threads,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "EmbedPool",
    "FrameProgress",
    "WorkerSetup",
    "check_pool",
    "default_threads",
]
