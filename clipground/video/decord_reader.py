"""Open a decord VideoReader: the one place that imports decord, lazily (it is optional, slow to
import, and x86-64 only), turning its untyped errors into a reason to decode with PyAV instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

DecordOpener = Callable[[Path, tuple[int, int]], tuple[Any, str | None]]  # open_decord, or a fake


def open_decord(path: Path, size: tuple[int, int]) -> tuple[Any, str | None]:
    """A decord VideoReader at the output `size` (width, height), or None and why there is none."""
    try:
        import decord
    except ImportError as exc:
        return None, f"decord is not installed ({exc})"
    try:  # decord raises plain DECORDError/RuntimeError for everything
        return decord.VideoReader(str(path), ctx=decord.cpu(0), width=size[0], height=size[1]), None
    except Exception as exc:  # noqa: BLE001
        return None, f"decord cannot read it ({first_line(exc)})"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (decord's run to pages of C++ context)."""
    lines = str(exc).strip().splitlines()
    # decord nests C++ log prefixes: "[12:00:00] file.cc:292: [12:00:00] file.cc:218: Check failed"
    first = re.sub(r"^(?:\[[\d:]+\]\s*\S+:\d+:\s*)+", "", lines[0]) if lines else ""
    return first[:200] or type(exc).__name__
