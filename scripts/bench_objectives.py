"""Every objective and span mode on the demo benchmark, each video embedded once.

    python scripts/bench_objectives.py [BENCH_DIR] [--model demo] [--fps 2] [--min-len 1] [--max-fraction 1]
        [--precision auto|fp32|bf16]

BENCH_DIR holds annotations.jsonl and videos/ (made by scripts/make_benchmark.py; made here if
missing). Prints a JSON report per configuration and a Markdown table of R@1 at IoU 0.5 per kind.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipground import evaluate  # noqa: E402
from clipground.model import ModelSpec, load_encoder  # noqa: E402
from clipground.pipeline import GroundOptions, embed_video, encode_query, ground_samples  # noqa: E402

CONFIGS = [(objective, span_mode) for span_mode in ("mean", "ordered") for objective in ("mean", "contrast", "balanced")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", nargs="?", type=Path, default=ROOT / "bench_out" / "benchmark")
    parser.add_argument("--model", default="demo")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16 (see --precision)")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--min-len", type=float, default=None)
    parser.add_argument("--max-fraction", type=float, default=GroundOptions.max_fraction,
                        help="the default max-length cap, as a fraction of the video (1: no cap)")
    args = parser.parse_args()
    if not (args.bench / "annotations.jsonl").exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_benchmark.py"), str(args.bench)], check=True)
    annotations = evaluate.read_annotations(args.bench / "annotations.jsonl")
    encoder = load_encoder(ModelSpec(name=args.model, device="cpu", precision=args.precision))
    base = GroundOptions(fps=args.fps, min_len_s=args.min_len, refine=False)
    embedded = {}
    for name in evaluate.by_video(annotations):
        embedded[name] = embed_video(evaluate.resolve_video(args.bench / "videos", name), encoder, base)
    reports = {}
    for objective, span_mode in CONFIGS:
        options = GroundOptions(fps=args.fps, min_len_s=args.min_len, objective=objective, span_mode=span_mode,
                                max_fraction=args.max_fraction, refine=False)

        def ground_video(path: Path, items: list[evaluate.Annotation], options: GroundOptions = options,
                         ) -> list[tuple[tuple[float, float], ...]]:
            found = [ground_samples(embedded[items[0].video], a.query, encode_query(encoder, a.query), options)
                     for a in items]
            return [tuple((m.start_s, m.end_s) for m in g.candidates) for g in found]

        reports[f"{objective}/{span_mode}"] = evaluate.report(evaluate.evaluate(annotations, args.bench, ground_video))
    print(json.dumps(reports, indent=2))
    kinds = sorted(next(iter(reports.values()))["by_kind"])
    print("\n| objective / span mode | " + " | ".join(f"{k} R@1 IoU0.5" for k in kinds) + " | overall mIoU |")
    print("|---|" + "---|" * (len(kinds) + 1))
    for name, rep in reports.items():
        cells = [f"{rep['by_kind'][k]['R@1,IoU=0.5']:.2f}" for k in kinds]
        print(f"| {name} | " + " | ".join(cells) + f" | {rep['overall']['mIoU']:.3f} |")


if __name__ == "__main__":
    main()
