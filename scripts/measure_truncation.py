"""How far the declared duration of a video exceeds its decoded one: on intact files (what the
tolerance of `video.cut_short` must hold) and on copies cut to a fraction of their bytes (what it
must catch). Prints one line per file and a summary of the intact files' largest gaps.

    python scripts/measure_truncation.py [--videos ../shared/realvideos] [--keep 0.1 0.5 0.9]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import av

from clipground.errors import VideoError
from clipground.types import DecodeSummary
from clipground.video import FrameSampler, cut_short
from clipground.video.truncation import slack_s

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "realvideos"


def summary_of(path: Path) -> DecodeSummary:
    """The decode summary of a whole-file pass at 2 frames/s (as `match` makes it)."""
    sampler = FrameSampler(path, fps=2.0, short_side=32)
    for _ in sampler.chunks():
        pass
    return sampler.summary()


def container_s(path: Path) -> float | None:
    """The container's own duration (all streams), whatever the video stream declares."""
    with av.open(str(path)) as container:
        return container.duration / av.time_base if container.duration else None


def row(name: str, s: DecodeSummary) -> str:
    """One printed line: declared and decoded durations, the gap, the tolerance, the verdict."""
    declared = s.declared_duration_s
    if not declared:
        return f"{name:34s} declared    -   decoded {s.duration_s:7.3f}  (nothing to compare)"
    gap = declared - s.duration_s
    return (
        f"{name:34s} declared {declared:7.3f} decoded {s.duration_s:7.3f} "
        f"gap {gap:+7.3f} s {gap * s.native_fps:+7.2f} frames {100 * gap / declared:+6.2f}% "
        f"slack {slack_s(declared, s.native_fps):.3f} s  {'WARNS' if cut_short(s) else 'quiet'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, default=REAL_VIDEOS)
    parser.add_argument("--keep", type=float, nargs="*", default=[0.1, 0.5, 0.9])
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the warnings themselves are what is measured
    files = sorted(p for p in args.videos.iterdir() if p.suffix != ".md")
    gaps, container_gaps = [], []  # on intact files: (seconds, frames, fraction of declared)
    print("intact:")
    for path in files:
        s = summary_of(path)
        whole = container_s(path)
        print(f"{row(path.name, s)}  container's {f'{whole:.3f}' if whole else '-'}")
        for found, declared in ((gaps, s.declared_duration_s), (container_gaps, whole)):
            if declared:
                short = declared - s.duration_s
                found.append((short, short * s.native_fps, short / declared))
    with tempfile.TemporaryDirectory() as tmp:
        for keep in args.keep:
            print(f"cut to {keep:.0%} of the bytes:")
            for path in files:
                cut = Path(tmp) / path.name
                data = path.read_bytes()
                cut.write_bytes(data[: int(len(data) * keep)])
                try:
                    print(row(path.name, summary_of(cut)))
                except VideoError as exc:
                    print(f"{path.name:34s} error: {str(exc).split(';')[0]}")
    for what, found in (("as declared", gaps), ("by the container's duration", container_gaps)):
        seconds, frames, fraction = (max(column) for column in zip(*found))
        print(
            f"largest gap on intact files, {what}: {seconds:.3f} s, {frames:.2f} frames, "
            f"{100 * fraction:.2f}%"
        )


if __name__ == "__main__":
    main()
