"""Write sample_data/demo.mp4 (45 s, 640x360, 10 fps, H.264) and its ground truth demo.json.

    python scripts/make_sample_video.py [--out-dir sample_data] [--seed 0]

demo.json is a list with one object per segment, in order, background-only gaps included
(shape, colour and caption null): {"shape", "colour", "caption", "start_s", "end_s", "moving",
"distractor", "background"}; end_s is exclusive and equals the next segment's start_s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clipground.demo.render import Segment, write_video

SEGMENTS: tuple[Segment, ...] = (
    Segment(4.0, background="gradient"),
    Segment(6.0, "circle", "red", background="plain"),
    Segment(5.0, "square", "blue", moving=True, distractor=True, background="gradient"),
    Segment(3.0, background="plain"),
    Segment(7.0, "triangle", "yellow", moving=True, background="plain"),
    Segment(6.0, "cross", "green", distractor=True, background="gradient"),
    Segment(3.0, background="noise"),
    Segment(6.0, "cross", "purple", moving=True, background="plain"),
    Segment(5.0, "circle", "orange", distractor=True, background="noise"),
)


def main(argv: list[str] | None = None) -> int:
    """Write the sample video and its ground truth."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_dir = Path(__file__).resolve().parents[1] / "sample_data"
    p.add_argument("--out-dir", type=Path, default=default_dir)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    truths = write_video(args.out_dir / "demo.mp4", SEGMENTS, fps=10, size=(640, 360), crf=30,
                         seed=args.seed)
    rows = [
        {"shape": t.shape, "colour": t.colour, "caption": t.caption, "start_s": t.start_s,
         "end_s": t.end_s, "moving": s.moving, "distractor": s.distractor,
         "background": s.background}
        for s, t in zip(SEGMENTS, truths)
    ]
    (args.out_dir / "demo.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(json.dumps({"video": str(args.out_dir / "demo.mp4"), "segments": len(rows),
                      "duration_s": truths[-1].end_s}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
