"""The embedding stage's sizing: how many stretches of a video are decoded at once."""

from __future__ import annotations

import pytest

from clipground.errors import UsageError
from clipground.options import MAX_DECODE_WORKERS
from clipground.pipeline import GroundOptions, decode_workers


def test_decode_workers_default_and_bounds() -> None:
    assert decode_workers(GroundOptions(decode_workers=3), cpu_count=lambda: 16) == 3
    assert decode_workers(GroundOptions(), cpu_count=lambda: 16) == 8  # one per core, up to 8
    # a batch worker's share of the cores
    assert decode_workers(GroundOptions(), sharing=4, cpu_count=lambda: 16) == 4
    assert decode_workers(GroundOptions(), sharing=32, cpu_count=lambda: 16) == 1
    assert decode_workers(GroundOptions(), cpu_count=lambda: None) == 1
    for bad in (0, -1, MAX_DECODE_WORKERS + 1):
        with pytest.raises(UsageError, match="--decode-workers"):
            GroundOptions(decode_workers=bad)
