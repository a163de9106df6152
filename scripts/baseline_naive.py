"""The seed algorithm written the obvious way, as a reference to measure clipground against.

    python scripts/baseline_naive.py VIDEO --text "a red circle" [--model demo] [--min-len 1] [--max-len 30]

Decode every frame with decord, embed every frame one by one through open_clip's own PIL
preprocessing, then try every window with a double loop over prefix sums (contrast objective).
Frame times are index / average fps, as naive code does. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load(model: str, pretrained: str | None):
    """open_clip model, its eval transform and tokenizer (the demo model from the package)."""
    import open_clip

    from clipground.model import DEMO_MODEL_DIR

    name = f"local-dir:{DEMO_MODEL_DIR}" if model == "demo" else model
    clip, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained)
    return clip.eval(), preprocess, open_clip.get_tokenizer(name)


def embed_every_frame(video: str, clip, preprocess) -> tuple[np.ndarray, float]:
    """One forward pass per frame, as the seed did."""
    import decord
    import torch
    from PIL import Image

    reader = decord.VideoReader(video)
    rows = []
    with torch.no_grad():
        for i in range(len(reader)):
            image = preprocess(Image.fromarray(reader[i].asnumpy())).unsqueeze(0)
            feats = clip.encode_image(image)[0].numpy()
            rows.append(feats / np.linalg.norm(feats))
    return np.stack(rows), float(reader.get_avg_fps())


def best_window_double_loop(scores: list[float], min_len: int, max_len: int) -> tuple[int, int, float]:
    """Contrast (mean inside minus mean outside) of every window, in two nested loops."""
    m = len(scores)
    prefix = [0.0]
    for s in scores:
        prefix.append(prefix[-1] + s)
    best = (0, 0, -float("inf"))
    for start in range(m):
        for end in range(start + min_len - 1, min(m, start + max_len)):
            n = end - start + 1
            inside = prefix[end + 1] - prefix[start]
            outside = (prefix[m] - inside) / (m - n) if n < m else 0.0
            score = inside / n - outside if n < m else 0.0
            if score > best[2]:
                best = (start, end, score)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--text", required=True)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--pretrained", default=None)
    parser.add_argument("--min-len", type=float, default=1.0, help="seconds")
    parser.add_argument("--max-len", type=float, default=None, help="seconds")
    args = parser.parse_args()

    import torch

    t0 = time.perf_counter()
    clip, preprocess, tokenizer = load(args.model, args.pretrained)
    with torch.no_grad():
        text = clip.encode_text(tokenizer([args.text]))[0].numpy()
    text /= np.linalg.norm(text)
    frames, fps = embed_every_frame(args.video, clip, preprocess)
    scores = (frames @ text).tolist()
    min_len = max(1, round(args.min_len * fps))
    max_len = round(args.max_len * fps) if args.max_len else len(scores)
    start, end, score = best_window_double_loop(scores, min_len, max_len)
    print(json.dumps({
        "video": args.video, "start_frame": start, "end_frame": end,
        "start_s": start / fps, "end_s": (end + 1) / fps, "score": score,
        "frames_embedded": len(scores), "seconds": round(time.perf_counter() - t0, 3),
    }))


if __name__ == "__main__":
    main()
