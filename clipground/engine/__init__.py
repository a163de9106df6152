"""Engines: how the videos of a job get embedded. `local` runs a pool of worker processes here;
`ray` (imported on its own: `clipground.engine.ray`) runs them on a Ray cluster.

An engine takes videos and yields an `EmbedOutcome` per video (its embedding, or why there is
none), so that one video that crashes or hangs its worker fails alone.
"""

from collections.abc import Iterator, Sequence
from typing import Protocol

from clipground.engine.local import (
    DEFAULT_TIMEOUT_S,
    EmbedPool,
    FrameProgress,
    WorkerSetup,
    check_pool,
    default_threads,
)
from clipground.types import EmbedOutcome


class Engine(Protocol):
    """Embeds videos: one outcome per video, yielded as each completes."""

    def run(self, videos: Sequence[str]) -> Iterator[EmbedOutcome]: ...


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "EmbedPool",
    "Engine",
    "FrameProgress",
    "WorkerSetup",
    "check_pool",
    "default_threads",
]
