"""Zero-shot frame accuracy of a CLIP on a benchmark's object segments, through clipground's decoder.

    python scripts/frame_accuracy.py BENCH_DIR [--model demo] [--fps 2] [--out rows.jsonl]

BENCH_DIR is what scripts/make_benchmark.py writes (videos/ and segments.jsonl). Every video is
decoded and embedded as `clipground match` does it (`embed_video`, sampled at --fps); every sampled
frame inside an object segment is classified by argmax over the 32 canonical colour-shape captions
plus "an empty background". Printed (JSON on stdout): the accuracy over all those frames, and by
colour, shape, background kind, background brightness, object size, distractor, codec and frame size,
plus the commonest confusions. A frame counts as right only when the argmax names its object;
`accuracy_object_largest` leaves out the frames whose distractor is larger than the object (which
of two objects a frame "is" is then a matter of taste); `present` also counts the distractor's
class as right, since it is in the frame too. A frame showing two objects does not say for sure
which of them its segment was drawn for, so no classifier of single frames can be sure of those;
the heights still hint at it (scripts/frame_ceiling.py turns this script's output into the best
accuracy any such classifier can expect), and `by.distractor` shows how each group fares.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipground.demo.render import NOTHING_CAPTIONS, caption, class_names


@dataclass(frozen=True)
class FrameResult:
    """One classified frame: its segment's attributes, the truth and the prediction."""

    video: str
    time_s: float
    truth: str
    predicted: str
    distractor_class: str | None
    buckets: dict[str, str]

    @property
    def right(self) -> bool:
        """The argmax names the segment's object."""
        return self.predicted == self.truth

    @property
    def present(self) -> bool:
        """The argmax names an object in the frame (the object or the distractor)."""
        return self.right or self.predicted == self.distractor_class


def label_texts() -> list[str]:
    """The 33 captions: 32 canonical colour-shape captions, then "an empty background"."""
    return [caption(s, c) for s, c in class_names()] + [NOTHING_CAPTIONS[0]]


def buckets(row: dict) -> dict[str, str]:
    """The attributes a segment's frames are grouped by."""
    out = {"colour": row["colour"], "shape": row["shape"], "background": row.get("background") or "?",
           "distractor": row.get("distractor") or ("?" if "distractor" not in row else "none"),
           "codec": row.get("codec", "?"), "frame": f"{row.get('width')}x{row.get('height')}",
           "moving": str(row.get("moving", "?")).lower()}
    if row.get("size_frac") is not None:
        size = float(row["size_frac"])
        out["size"] = "10-20%" if size < 0.2 else ("20-30%" if size < 0.3 else "30-40%")
    if row.get("background_value") is not None:
        v = float(row["background_value"])
        out["brightness"] = "dark" if v < 0.33 else ("mid" if v < 0.67 else "light")
    return out


def classify_video(
    path: Path, rows: list[dict], encoder, options, texts: np.ndarray
) -> list[FrameResult]:
    """Embed one video and classify the sampled frames of its object segments."""
    from clipground.pipeline import embed_video

    emb = embed_video(path, encoder, options)
    labels = label_texts()
    pred = (emb.embeddings @ texts.T).argmax(axis=1)  # (N,)
    out = []
    for row in rows:
        if row["shape"] is None:
            continue
        inside = (emb.times_s >= row["start_s"] - 1e-6) & (emb.times_s < row["end_s"] - 1e-6)
        extra = row.get("distractor_class")
        for t, p in zip(emb.times_s[inside], pred[inside]):
            out.append(FrameResult(
                row["video"], float(t), caption(row["shape"], row["colour"]), labels[int(p)],
                None if not extra else caption(extra[0], extra[1]), buckets(row)))
    return out


def summarise(results: Iterable[FrameResult]) -> dict:
    """Overall and per-bucket accuracies, and the commonest confusions."""
    results = list(results)
    groups: dict[str, dict[str, list[FrameResult]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        for key, value in r.buckets.items():
            groups[key][value].append(r)
    def acc(rs: list[FrameResult]) -> dict:
        return {"n": len(rs), "accuracy": round(float(np.mean([r.right for r in rs])), 4)}
    wrong = Counter((r.truth, r.predicted) for r in results if not r.right)
    largest = [r for r in results if r.buckets["distractor"] != "larger"]
    return {
        "frames": len(results),
        "accuracy": _mean([r.right for r in results]),
        "accuracy_object_largest": _mean([r.right for r in largest]),  # no larger distractor
        "present": _mean([r.present for r in results]),
        "by": {k: {v: acc(rs) for v, rs in sorted(g.items())} for k, g in sorted(groups.items())},
        "confusions": [{"truth": t, "predicted": p, "frames": n} for (t, p), n in wrong.most_common(10)],
    }


def _mean(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None


def read_segments(bench_dir: Path) -> dict[str, list[dict]]:
    """segments.jsonl grouped by video."""
    path = bench_dir / "segments.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: not found; write the benchmark with scripts/make_benchmark.py")
    by_video: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            by_video[row["video"]].append(row)
    return by_video


def main(argv: list[str] | None = None) -> int:
    """Classify every object segment's sampled frames and print the summary as JSON."""
    from clipground.model import load_encoder
    from clipground.options import GroundOptions, ModelSpec

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench_dir", type=Path)
    p.add_argument("--model", default="demo", help="demo or local-dir:/path (as clipground takes)")
    p.add_argument("--fps", type=float, default=2.0, help="sampling rate, as `match --fps`")
    p.add_argument("--out", type=Path, default=None, help="write every frame's result here (JSONL)")
    args = p.parse_args(argv)
    encoder = load_encoder(ModelSpec(name=args.model, pretrained=None))
    texts = encoder.encode_texts(label_texts())  # (33, D)
    options = GroundOptions(fps=args.fps)
    results: list[FrameResult] = []
    for video, rows in sorted(read_segments(args.bench_dir).items()):
        results += classify_video(args.bench_dir / "videos" / video, rows, encoder, options, texts)
    if args.out is not None:
        with open(args.out, "w") as f:
            f.writelines(json.dumps(r.__dict__ | {"right": r.right}) + "\n" for r in results)
    print(json.dumps(summarise(results), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
