"""Benchmark `align` against matching each sentence on its own, on the demo benchmark's videos.

    python scripts/make_benchmark.py /tmp/bench                  # once: videos + annotations
    python scripts/bench_align.py /tmp/bench [--model demo] [--fps 2] [--min-len S] [--limit N]
    python scripts/bench_align.py --speed       # the solver alone: time and peak memory

Each video's transcript is its one-segment queries ("single" and "leadin" kinds) in the order of
their ground-truth start times; spans are left out. Every video is decoded and embedded once; then
each sentence is grounded independently (`match`'s default search: contrast, exact, top-1; no
boundary refinement, so both sides see the same samples) and the whole transcript is aligned jointly
in several settings. Reported: mean temporal IoU with the ground truth and R@1 at IoU 0.5/0.7, per
video kind, as one JSON object on stdout (progress on stderr).

The sample video (sample_data/demo.mp4 with demo.json) is measured too, unless --no-sample.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipground import pipeline as ap
from clipground.numeric import temporal_iou
from clipground import pipeline
from clipground.model import ModelSpec, load_encoder
from clipground.text import Cue

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # name -> options of the joint alignment; "align" is the command's default
    "align": {},
    "align_threshold_0": {"threshold": 0.0},
    "align_threshold_1": {"threshold": 1.0},
    "align_gap_penalty_0.5": {"threshold": 0.0, "gap_penalty": 0.5},
    "align_no_gaps": {"allow_gaps": False},
    "align_raw": {"normalisation": "raw", "threshold": 0.0},
    "align_raw_no_gaps": {"allow_gaps": False, "normalisation": "raw"},
}


@dataclass(frozen=True)
class Transcript:
    """One video's sentences in order, with their ground-truth times."""

    video: Path
    kind: str
    sentences: list[str]
    truth_s: list[tuple[float, float]]


def transcripts(bench: Path) -> list[Transcript]:
    """The multi-segment transcripts of the benchmark: single-segment queries by video, in order."""
    rows = defaultdict(list)
    for line in (bench / "annotations.jsonl").read_text().splitlines():
        q = json.loads(line)
        if len(q["query"]) == 1:
            rows[q["video"]].append(q)
    out = []
    for name, qs in sorted(rows.items()):
        qs.sort(key=lambda q: q["start_s"])
        if len(qs) >= 2:
            out.append(
                Transcript(
                    bench / "videos" / name,
                    qs[0]["kind"],
                    [q["query"][0] for q in qs],
                    [(q["start_s"], q["end_s"]) for q in qs],
                )
            )
    return out


def sample_transcript() -> Transcript:
    """sample_data/demo.mp4 with its captioned segments in order."""
    segments = [
        s for s in json.loads((ROOT / "sample_data" / "demo.json").read_text()) if s["caption"]
    ]
    return Transcript(
        ROOT / "sample_data" / "demo.mp4",
        "sample",
        [s["caption"] for s in segments],
        [(s["start_s"], s["end_s"]) for s in segments],
    )


def measure(
    t: Transcript, encoder, fps: float, min_len_s: float | None = None
) -> dict[str, list[float]]:
    """IoU per sentence for independent matching and for each alignment setting."""
    options = pipeline.GroundOptions(fps=fps, min_len_s=min_len_s, refine=False)
    embedded = pipeline.embed_video(t.video, encoder, options)
    spans = ap.spans_from_cues([Cue(s) for s in t.sentences])
    text = ap.span_embeddings(encoder, spans)  # (K, D)
    ious: dict[str, list[float]] = {}
    found = [
        pipeline.ground_samples(embedded, [s], text[i : i + 1], options).best
        for i, s in enumerate(t.sentences)
    ]
    ious["independent"] = [
        temporal_iou((m.start_s, m.end_s), gt) for m, gt in zip(found, t.truth_s)
    ]
    for name, kwargs in SETTINGS.items():
        result = ap.align_embedded(
            embedded, spans, text, ap.AlignOptions(fps=fps, min_len_s=min_len_s, **kwargs)
        )
        ious[name] = [
            temporal_iou((s.moment.start_s, s.moment.end_s), gt)
            for s, gt in zip(result.spans, t.truth_s)
        ]
    return ious


def summarise(per_video: list[tuple[str, dict[str, list[float]]]]) -> dict[str, object]:
    """Mean IoU and R@1 per method, for every kind and for all videos together."""
    out: dict[str, object] = {}
    kinds = sorted({k for k, _ in per_video})
    for kind in ["all", *kinds]:
        chosen = [r for k, r in per_video if k == kind or (kind == "all" and k != "sample")]
        if not chosen:
            continue
        table = {}
        for method in chosen[0]:
            values = np.array([v for r in chosen for v in r[method]])
            table[method] = {
                "mean_iou": round(float(values.mean()), 4),
                "r1_iou0.5": round(float((values >= 0.5).mean()), 4),
                "r1_iou0.7": round(float((values >= 0.7).mean()), 4),
            }
        out[kind] = {
            "videos": len(chosen),
            "sentences": sum(len(r["independent"]) for r in chosen),
            "methods": table,
        }
    return out


def speed() -> dict[str, object]:
    """Time and peak extra memory of align.align, back-pointer table against divide and conquer."""
    import tracemalloc

    from clipground.align import align

    rows = []
    for k, n in [(20, 3_600), (100, 7_200), (300, 21_600)]:  # 30 min, 1 h, 3 h at 2 samples/s
        sim = 0.25 + 0.02 * np.random.default_rng(0).normal(size=(k, n)).cumsum(axis=1) / np.sqrt(n)
        for mode, table in (("table", 1 << 62), ("divide", 1)):
            for gaps in (False, True):
                tracemalloc.start()
                started = time.perf_counter()
                align(sim, min_len=2, max_len=n // 4, allow_gaps=gaps, table_entries=table)
                seconds = time.perf_counter() - started
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                rows.append(
                    {
                        "sentences": k,
                        "samples": n,
                        "solver": mode,
                        "gaps": gaps,
                        "seconds": round(seconds, 3),
                        "peak_mib": round(peak / 2**20, 1),
                        "input_mib": round(sim.nbytes / 2**20, 1),
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr)
    return {"speed": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "bench", type=Path, nargs="?", help="folder written by scripts/make_benchmark.py"
    )
    p.add_argument("--speed", action="store_true", help="time the solver alone and stop")
    p.add_argument("--model", default="demo")
    p.add_argument("--pretrained", default=None)
    p.add_argument("--fps", type=float, default=2.0)
    p.add_argument("--min-len", type=float, default=None, help="seconds, for both methods")
    p.add_argument("--limit", type=int, default=None, help="first N videos only")
    p.add_argument("--no-sample", action="store_true", help="skip sample_data/demo.mp4")
    args = p.parse_args(argv)
    if args.speed:
        print(json.dumps(speed(), indent=2))
        return 0
    if args.bench is None:
        p.error("give the benchmark folder (or --speed)")
    encoder = load_encoder(ModelSpec(name=args.model, pretrained=args.pretrained, device="cpu"))
    items = transcripts(args.bench)[: args.limit]
    if not args.no_sample:
        items.append(sample_transcript())
    per_video, started = [], time.perf_counter()
    for i, t in enumerate(items, 1):
        ious = measure(t, encoder, args.fps, args.min_len)
        per_video.append((t.kind, ious))
        means = {k: round(float(np.mean(v)), 3) for k, v in ious.items()}
        print(
            f"[{i}/{len(items)}] {t.video.name} ({t.kind}, {len(t.sentences)} sentences): {means}",
            file=sys.stderr,
        )
    result = {
        "model": encoder.identity,
        "fps": args.fps,
        "min_len_s": args.min_len,
        "seconds": round(time.perf_counter() - started, 1),
        **summarise(per_video),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
