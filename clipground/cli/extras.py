"""--plot and --export, shared by the commands that offer them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clipground.errors import UsageError


def check_extras(plot: Path | None, padding: float) -> None:
    """Refuse a bad --plot or --padding before the slow part."""
    if plot is not None:
        from clipground.plot import check_target

        check_target(plot)
    if not padding >= 0:
        raise UsageError(f"--padding must be seconds >= 0, got {padding}")


def export_clips(
    video: str, moments: list[Any], out_dir: Path | None, padding: float, reencode: bool
) -> list[Path] | None:
    """Cut `moments` of `video` into clips in `out_dir` (nothing without --export)."""
    if out_dir is None:
        return None
    from clipground.export import export_moments

    return export_moments(video, moments, out_dir, padding_s=padding, reencode=reencode)
