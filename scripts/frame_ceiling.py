"""The best frame accuracy any classifier of single frames can expect on the independent benchmark.

    python scripts/frame_ceiling.py [FRAME_ACCURACY_JSON] [--samples 2000000] [--seed 0]

A frame that shows two objects does not say which of them its segment was drawn for. The
independent renderer (`clipground/demo/independent.py`) draws the object at a height drawn
uniformly from SIZE_RANGE_FRAC and the distractor at the object's height times a factor drawn
uniformly from DISTRACTOR_SCALE (clipped to 0.08-0.45); its class is any other, its place anywhere
apart. So the one thing a frame tells about which object is the segment's is the two heights. This
script draws object/distractor pairs by that law and applies the Bayes rule to each: knowing both
classes and both heights exactly, call the object the one whose reading as the object is the more
likely. Its hit rate is the best expected accuracy on two-object frames; no classifier of single
frames can expect more (it knows at most what the rule knows).

With FRAME_ACCURACY_JSON (what scripts/frame_accuracy.py prints for a benchmark) the ceiling is
weighed by that benchmark's frames: frames without a distractor at 100%, frames with one at the
Bayes rate. The figure is an expectation over which object each segment was drawn for; one draw
of a benchmark may land a point or two either side of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from clipground.demo.independent import DISTRACTOR_SCALE, SIZE_RANGE_FRAC

CLIP = (0.08, 0.45)  # the distractor's height is clipped to this range (independent._random_distractor)


def likelihood(obj: np.ndarray, other: np.ndarray) -> np.ndarray:
    """How likely the heights are when `obj` is the object and `other` the distractor.

    Inside the clip range the distractor's height has density p_scale(other / obj) / obj; a height
    at a clip bound is a point mass (no object is drawn that small or that large), which outweighs
    any density, so it is scaled far above them."""
    lo, hi = SIZE_RANGE_FRAC
    s_lo, s_hi = DISTRACTOR_SCALE
    possible = (obj >= lo) & (obj <= hi)
    ratio = other / obj
    inside = (other > CLIP[0]) & (other < CLIP[1])
    density = np.where(inside, ((ratio >= s_lo) & (ratio <= s_hi)) / ((s_hi - s_lo) * obj), 0.0)
    mass_hi = np.where(other >= CLIP[1], np.clip((s_hi - CLIP[1] / obj) / (s_hi - s_lo), 0, 1), 0.0)
    mass_lo = np.where(other <= CLIP[0], np.clip((CLIP[0] / obj - s_lo) / (s_hi - s_lo), 0, 1), 0.0)
    return possible * (density + 1e6 * (mass_hi + mass_lo))


def bayes_two_object_accuracy(samples: int, seed: int) -> dict[str, float]:
    """Hit rate of the Bayes rule on pairs drawn by the renderer's law: all, and by whether the
    distractor came out larger or smaller than the object."""
    rng = np.random.default_rng(seed)
    obj = rng.uniform(*SIZE_RANGE_FRAC, samples)
    other = np.clip(obj * rng.uniform(*DISTRACTOR_SCALE, samples), *CLIP)
    right = likelihood(obj, other) >= likelihood(other, obj)
    larger = other > obj
    return {"two_objects": float(right.mean()), "distractor_larger": float(right[larger].mean()),
            "distractor_smaller": float(right[~larger].mean()),
            "share_distractor_larger": float(larger.mean())}


def main(argv: list[str] | None = None) -> int:
    """Print the Bayes rates, and the benchmark's expected ceiling when given its frame counts."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("frame_accuracy_json", type=Path, nargs="?")
    p.add_argument("--samples", type=int, default=2_000_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out: dict = {"bayes": bayes_two_object_accuracy(args.samples, args.seed)}
    if args.frame_accuracy_json is not None:
        try:
            counts = {k: v["n"] for k, v in
                      json.loads(args.frame_accuracy_json.read_text())["by"]["distractor"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"error: {args.frame_accuracy_json}: not frame_accuracy.py output ({exc}); "
                  "run scripts/frame_accuracy.py on an independent benchmark first", file=sys.stderr)
            return 2
        none, two = counts.get("none", 0), counts.get("larger", 0) + counts.get("smaller", 0)
        out["frames"] = {"none": none, "two_objects": two}
        out["expected_ceiling"] = (none + two * out["bayes"]["two_objects"]) / max(1, none + two)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
