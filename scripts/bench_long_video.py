"""Accuracy on a long video: each objective's candidates on a generated 2-hour video and on short
excerpts of it, with and without noise added to the similarity curve.

    python scripts/bench_long_video.py [--seconds 7200] [--sigmas 0,0.02,0.05,0.1]
        [--excerpts 600,120] [--objectives contrast,balanced] [--work DIR] [--quick]

The video comes from bench_pipeline.make_video (320x180, 10 fps, segments of 5-40 s, every other one
an object, seed 3) and is reused from --work. The demo model embeds it once at --fps (2, as `match`).
For each caption in it, each objective's --top-k candidates, found as `match` finds them (its
default length limits and NMS), are scored by their IoU with the nearest segment of that caption.
Noise: independent N(0, sigma) on every sample's similarity, a stand-in for the frame-to-frame
jitter of real footage (each generated scene is 4 renders cycled, far steadier than camera video;
the demo model's similarities span about -0.1 to 0.7). Excerpts: stretches of the video centred on
each caption's first 5 segments, searched as short videos. Then `match`'s whole default path (two
passes) on the whole video, without noise, for each caption.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_pipeline import make_video  # noqa: E402
from clipground import search  # noqa: E402
from clipground.model import ModelSpec, load_encoder  # noqa: E402
from clipground.pipeline import (  # noqa: E402
    GroundOptions, embed_video, encode_query, ground_embedded, max_len_s,
)
from clipground.numeric import temporal_iou  # noqa: E402


def candidates(scores: np.ndarray, rate: float, options: GroundOptions) -> list[tuple[float, float]]:
    """(start_s, end_s) of `match`'s candidates on `scores` (one sample = 1 / rate seconds)."""
    duration = len(scores) / rate
    max_len = max(1, round(max_len_s(options, duration) * rate))
    return [(w.start_sample / rate, (w.end_sample + 1) / rate) for w in search.best_windows(
        scores, min_len=1, max_len=max_len, objective=options.objective, top_k=options.top_k,
        nms_iou=options.nms_iou,
    )]


def stretches(segments: list[tuple[float, float]], seconds: float | None, duration: float):
    """The whole video, or stretches of `seconds` centred on the first 5 segments."""
    if seconds is None:
        return [(0.0, duration)]
    out = []
    for start, end in segments[:5]:
        first = max(0.0, min((start + end) / 2 - seconds / 2, duration - seconds))
        out.append((first, first + seconds))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=7200)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--sigmas", default="0,0.02,0.05,0.1")
    parser.add_argument("--excerpts", default="600,120", help="seconds; searched as short videos")
    parser.add_argument("--objectives", default="contrast,balanced")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--work", type=Path, default=ROOT / "bench_out")
    parser.add_argument("--quick", action="store_true", help="a 10-minute video")
    args = parser.parse_args()
    seconds = 600 if args.quick else args.seconds
    args.work.mkdir(parents=True, exist_ok=True)
    video = args.work / f"long_{seconds}s.mp4"
    print(f"video {video} ({seconds} s): made once, then reused", file=sys.stderr)
    truth = make_video(video, seconds, (320, 180), fps=10, seed=3)
    encoder = load_encoder(ModelSpec(name="demo", device="cpu"))
    embedded = embed_video(video, encoder, GroundOptions(fps=args.fps))
    rate = len(embedded.times_s) / embedded.summary.duration_s
    captions = sorted({t["caption"] for t in truth if t["caption"]})
    segments = {c: [(t["start_s"], t["end_s"]) for t in truth if t["caption"] == c] for c in captions}
    curves = {c: search.similarity(embedded.embeddings, encode_query(encoder, c)[0]) for c in captions}
    scales = [None, *(float(s) for s in args.excerpts.split(",") if s)]
    rng = np.random.default_rng(0)
    rows = []
    for sigma in (float(s) for s in args.sigmas.split(",")):
        noisy = {c: curves[c] + rng.normal(0.0, sigma, curves[c].shape) for c in captions}
        for scale in scales:
            for objective in args.objectives.split(","):
                options = GroundOptions(fps=args.fps, objective=objective, top_k=args.top_k)
                best, every, counts = [], [], []
                for c in captions:
                    for first, last in stretches(segments[c], scale, embedded.summary.duration_s):
                        a, b = round(first * rate), round(last * rate)
                        found = candidates(noisy[c][a:b], rate, options)
                        ious = [max(temporal_iou((s + first, e + first), seg) for seg in segments[c]) for s, e in found]
                        best.append(ious[0])
                        every += ious
                        counts.append(len(ious))
                row = {"sigma": sigma, "video_s": scale or embedded.summary.duration_s, "objective": objective,
                       "searches": len(best), "top1_mean_iou": round(float(np.mean(best)), 3),
                       "top1_iou_0.5": round(float(np.mean(np.array(best) >= 0.5)), 3),
                       "topk_mean_iou": round(float(np.mean(every)), 3),
                       "candidates_mean": round(float(np.mean(counts)), 2)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    two_pass = {}
    for objective in args.objectives.split(","):
        options = GroundOptions(fps=args.fps, objective=objective, top_k=args.top_k)
        found = {c: ground_embedded(embedded, [c], encode_query(encoder, c), encoder, options) for c in captions}
        two_pass[objective] = {c: [round(max(temporal_iou((m.start_s, m.end_s), s) for s in segments[c]), 3)
                                   for m in g.candidates] for c, g in found.items()}
        print(f"two passes, {objective}: top-{args.top_k} IoU per caption {two_pass[objective]}", file=sys.stderr)
    print(json.dumps({"video": str(video), "seconds": seconds, "captions": captions, "rows": rows,
                      "two_pass": two_pass}, indent=2))
    print("\n| noise sigma | video | objective | top-1 mean IoU | top-1 IoU >= 0.5 | "
          f"top-{args.top_k} mean IoU | candidates |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['sigma']} | {r['video_s']:g} s ({r['searches']}) | {r['objective']} | {r['top1_mean_iou']:.2f} "
              f"| {r['top1_iou_0.5']:.2f} | {r['topk_mean_iou']:.2f} | {r['candidates_mean']:.1f} |")


if __name__ == "__main__":
    main()
