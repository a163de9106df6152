"""Write a synthetic temporal-grounding benchmark in the demo domain (videos + annotations).

    python scripts/make_benchmark.py OUT_DIR [--seed 0] [--num-videos 30] [--workers 2]
    python scripts/make_benchmark.py OUT_DIR --renderer independent     # evaluation-only renderer

Writes OUT_DIR/videos/*.mp4, OUT_DIR/annotations.jsonl, OUT_DIR/charades.txt and
OUT_DIR/segments.jsonl (every segment with what it shows, for scripts/frame_accuracy.py).

`--renderer project` (the default) draws with clipground/demo/render.py, the renderer the demo
model is trained on. `--renderer independent` draws with clipground/demo/independent.py, which the
model never sees: PIL-drawn rotated polygons, per-name HSV colour ranges, dark to light backgrounds
with pixel noise, blocky noise and stripes, distractors larger or smaller than the object, frame
sizes from 288x512 portrait to 854x480, and H.264 (CRF 18-35), VP9 (.webm) or MPEG-4 part 2;
its lead-ins are textured noise.

Each video has 3-5 object segments of distinct (shape, colour), 3-15 s each, some separated by
background-only gaps of 1-4 s; frames are 640x360 (a fifth of the videos 480x360), 10 fps, H.264.
annotations.jsonl has one query per line:
    {"video": "v000.mp4", "query": [sentences], "start_s": float, "end_s": float, "kind": str}
kinds:
    single  one segment's caption (a random natural variant); ground truth = that segment;
    span    two consecutive segments with no gap between them, query = [caption1, "then ..."],
            ground truth = their union;
    leadin  out of distribution: the video opens with a long (20-40 s) background-only lead-in
            of noisy and plain padding before its content; single-sentence queries.
charades.txt has the single-sentence queries (single and leadin) in Charades-STA format:
    v000 4.00 10.00##a red circle
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from clipground.demo import independent
from clipground.demo.render import Segment, SegmentTruth, caption_variants, class_names, write_video

LEADIN_EVERY = 5  # every fifth video is a lead-in video
RENDERERS = ("project", "independent")


@dataclass(frozen=True)
class Query:
    """One benchmark query; start_s/end_s are the ground truth in presentation time."""

    video: str
    query: list[str]
    start_s: float
    end_s: float
    kind: str


def plan_video(rng: np.random.Generator, leadin: bool) -> list[Segment]:
    """Segments of one video: distinct classes, varied lengths, some gaps, maybe a lead-in."""
    n = int(rng.integers(3, 6))
    names = class_names()
    picks = rng.choice(len(names), size=n, replace=False)
    segments = _leadin(rng) if leadin else []
    if rng.uniform() < 0.5:
        segments.append(Segment(float(rng.uniform(1, 3))))
    for k, i in enumerate(picks):
        shape, colour = names[i]
        segments.append(Segment(
            round(float(rng.uniform(3, 15)), 1), shape, colour,
            moving=bool(rng.uniform() < 0.5), distractor=bool(rng.uniform() < 0.3)))
        if k < n - 1 and rng.uniform() < 0.4:
            segments.append(Segment(round(float(rng.uniform(1, 4)), 1)))
    return segments


def _leadin(rng: np.random.Generator) -> list[Segment]:
    """20-40 s of background-only padding, alternating noisy and plain backgrounds."""
    total, parts = float(rng.uniform(20, 40)), []
    while total > 0:
        d = min(total, float(rng.uniform(5, 12)))
        kind = "noise" if len(parts) % 2 == 0 else "plain"
        parts.append(Segment(round(max(d, 1.0), 1), background=kind))
        total -= d
    return parts


def independent_parts(rng: np.random.Generator, segments: list[Segment]) -> list[independent.Part]:
    """The same plan for the independent renderer: lead-in padding becomes textured noise."""
    parts = []
    for seg in segments:
        bg = None if seg.background is None else str(rng.choice(independent.TEXTURE_KINDS))
        parts.append(independent.Part(seg.duration_s, seg.shape, seg.colour, seg.moving,
                                      seg.distractor, bg))
    return parts


def video_queries(
    rng: np.random.Generator, name: str, truths: list, leadin: bool
) -> list[Query]:
    """The queries of one video: one per object segment, plus spans over gapless neighbours."""
    out = []
    for t in truths:
        if t.shape is not None and t.colour is not None:
            text = str(rng.choice(caption_variants(t.shape, t.colour)[:5]))
            out.append(Query(name, [text], t.start_s, t.end_s, "leadin" if leadin else "single"))
    if leadin:
        return out
    for a, b in itertools.pairwise(truths):
        if a.shape and a.colour and b.shape and b.colour:
            first = str(rng.choice(caption_variants(a.shape, a.colour)[:5]))
            then = caption_variants(b.shape, b.colour)[5]  # "then a red circle."
            out.append(Query(name, [first, then], a.start_s, b.end_s, "span"))
    return out


def make_video(job: tuple[Path, int, int, str]) -> tuple[list[Query], list[dict]]:
    """Plan, write and annotate video number i (deterministic in seed, i and the renderer)."""
    out_dir, seed, i, renderer = job
    rng = np.random.default_rng([seed, i])
    leadin = i % LEADIN_EVERY == LEADIN_EVERY - 1
    if renderer == "independent":
        return _make_independent(rng, out_dir, i, leadin)
    size = (480, 360) if rng.uniform() < 0.2 else (640, 360)
    name = f"v{i:03d}.mp4"
    truths = write_video(out_dir / "videos" / name, plan_video(rng, leadin), fps=10, size=size,
                         crf=int(rng.integers(26, 34)), seed=int(rng.integers(2**31)))
    rows = [_segment_row(name, t) | {"width": size[0], "height": size[1], "codec": "h264"}
            for t in truths]
    return video_queries(rng, name, truths, leadin), rows


def _make_independent(
    rng: np.random.Generator, out_dir: Path, i: int, leadin: bool
) -> tuple[list[Query], list[dict]]:
    plan = independent_parts(rng, plan_video(rng, leadin))
    size = independent.FRAME_SIZES[int(rng.integers(len(independent.FRAME_SIZES)))]
    codec, quality = independent.random_encoding(rng)
    name = f"v{i:03d}{independent.SUFFIX[codec]}"
    truths = independent.write_video(out_dir / "videos" / name, plan, fps=10, size=size,
                                     codec=codec, quality=quality, seed=int(rng.integers(2**31)))
    extra = {"width": size[0], "height": size[1], "codec": codec, "quality": quality}
    rows = [_segment_row(name, t) | extra for t in truths]
    return video_queries(rng, name, truths, leadin), rows


def _segment_row(name: str, truth: SegmentTruth | independent.PartTruth) -> dict:
    """One segments.jsonl record: the video, the segment's frames and what it shows."""
    return {"video": name} | {k: v for k, v in truth.__dict__.items() if k != "caption"}


def charades_line(q: Query) -> str:
    """`video_id start end##sentence`, the Charades-STA annotation format."""
    return f"{Path(q.video).stem} {q.start_s:.2f} {q.end_s:.2f}##{q.query[0]}"


def main(argv: list[str] | None = None) -> int:
    """Write the benchmark and print a one-line JSON summary."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-videos", type=int, default=30)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--renderer", choices=RENDERERS, default="project",
                   help="project: render.py (what the model trains on); independent: never trained on")
    args = p.parse_args(argv)
    (args.out_dir / "videos").mkdir(parents=True, exist_ok=True)
    jobs = [(args.out_dir, args.seed, i, args.renderer) for i in range(args.num_videos)]
    with get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(make_video, jobs, chunksize=1)
    queries = [q for qs, _ in results for q in qs]
    with open(args.out_dir / "annotations.jsonl", "w") as f:
        f.writelines(json.dumps(q.__dict__) + "\n" for q in queries)
    with open(args.out_dir / "segments.jsonl", "w") as f:
        f.writelines(json.dumps(row) + "\n" for _, rows in results for row in rows)
    lines = [charades_line(q) for q in queries if len(q.query) == 1]
    (args.out_dir / "charades.txt").write_text("\n".join(lines) + "\n")
    kinds = {k: sum(q.kind == k for q in queries) for k in ("single", "span", "leadin")}
    print(json.dumps({"out_dir": str(args.out_dir), "renderer": args.renderer,
                      "videos": args.num_videos, "queries": kinds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
