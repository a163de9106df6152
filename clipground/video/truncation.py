"""Whether a video's frames end well before the duration its file declares (a truncated download
or an interrupted recording), and the one-line warning that says so.

The frames before the cut are good and are used; the warning and `declared_duration_s` only say
that the rest is missing. A fresh decode and a cached embedding are judged by the same
`DecodeSummary`, so they warn alike.
"""

from __future__ import annotations

import logging
from pathlib import Path

from clipground.types import DecodeSummary

log = logging.getLogger(__name__)

# Each margin is at least twice the largest gap between declared and decoded durations on intact
# files (docs/troubleshooting.md#a-truncated-file has the figures and the command).
SHORT_FRAMES = 2  # frame intervals: the last frame's display time is often a guess
SHORT_S = 0.1  # seconds: audio outlasting the video where only the container's duration is known
SHORT_FRACTION = 0.01  # of the declared duration: durations that muxers estimate


def slack_s(declared_s: float, fps: float) -> float:
    """How far the decoded duration may fall short of `declared_s` on an intact file."""
    frames_s = SHORT_FRAMES / fps if fps > 0 else 0.0
    return max(frames_s, SHORT_S, SHORT_FRACTION * declared_s)


def cut_short(summary: DecodeSummary) -> bool:
    """Whether the decoded frames end well before the duration the file declares."""
    declared = summary.declared_duration_s
    if not declared:  # not declared (live recordings, MediaRecorder WebM): nothing to compare
        return False
    return declared - summary.duration_s > slack_s(declared, summary.native_fps)


def warn_if_cut_short(video: str | Path, summary: DecodeSummary) -> None:
    """Log one warning line naming `video` when `cut_short(summary)`."""
    if cut_short(summary):
        log.warning(
            "%s: the video ends at %.2f s but the file's header says %.2f s: the file may be "
            "truncated; the frames before the cut are used",
            video,
            summary.duration_s,
            summary.declared_duration_s,
        )
