"""End to end on real files: index-backed `search` against `search --exact`, through the CLI.

`scripts/bench_library.py` measures the index at archive scale on synthetic embeddings; this one
runs what a user runs, on a folder of generated videos embedded with the demo model:

1. `scripts/make_benchmark.py` writes `--videos` videos (demo domain, 3-5 moments each) and
   their annotated queries; a fresh cache folder;
2. `clipground embed`, then `clipground index build` (timed);
3. every query (up to `--queries`) through `clipground search` with the index and with `--exact`:
   the stdout of both must be the same, byte for byte (a query where they differ is printed
   with both outputs' hits under `differing`); it also counts how often the annotated
   moment is among the top-k hits (same video, IoU >= 0.5; other videos may show the same
   colour and shape, so this is not grounding accuracy: `clipground eval` measures that);
4. `--add` more videos written into the folder, then `clipground index update` (timed): only they
   are added; one video deleted, then `index update` again (timed): only its vectors go;
   the searches of step 3 are asked again after both and must still equal `--exact`'s.

Each CLI call pays the start-up (Python, torch, the model: seconds), which dwarfs both searches at
this size, so search times are not compared here; the archive-scale ratio is bench_library's.

    python scripts/bench_library_e2e.py                     # 40 videos, 20 queries, 4 added
    python scripts/bench_library_e2e.py --videos 12 --queries 5 --add 2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cache: Path) -> tuple[str, float]:
    """Run `clipground ARGS --model demo --cache-dir CACHE -q`: (stdout, seconds); fails loudly."""
    command = [sys.executable, "-m", "clipground", *args, "--model", "demo"]
    command += ["--cache-dir", str(cache), "-q"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} exited with {done.returncode}: {done.stderr.strip()}"
        )
    return done.stdout, seconds


def make_videos(out: Path, count: int, seed: int) -> list[dict]:
    """Generated videos under out/videos and their queries (annotations.jsonl records)."""
    script = ROOT / "scripts" / "make_benchmark.py"
    command = [
        sys.executable,
        str(script),
        str(out),
        "--num-videos",
        str(count),
        "--seed",
        str(seed),
    ]
    subprocess.run(command, check=True, capture_output=True)
    lines = (out / "annotations.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def searches(folder: Path, queries: list[dict], cache: Path, top_k: int) -> dict:
    """Every query with the index and with --exact: how many printed the same, and hits; each
    query whose outputs differ is reported with both outputs' hits."""
    same, right, indexed_s, exact_s, differing = 0, 0, [], [], []
    for q in queries:
        texts = [arg for sentence in q["query"] for arg in ("-t", sentence)]
        base = ["search", str(folder), *texts, "--top-k", str(top_k)]
        indexed, seconds = cli(*base, cache=cache)
        indexed_s.append(seconds)
        exact, seconds = cli(*base, "--exact", cache=cache)
        exact_s.append(seconds)
        same += indexed == exact
        hits = [json.loads(line) for line in indexed.splitlines()]
        if indexed != exact:
            differing.append({"query": q["query"], "indexed": [_brief(h) for h in hits],
                              "exact": [_brief(json.loads(line)) for line in exact.splitlines()]})
        right += any(
            Path(h["video"]).name == q["video"]
            and iou((h["start_s"], h["end_s"]), (q["start_s"], q["end_s"])) >= 0.5
            for h in hits
        )
    return {
        "queries": len(queries),
        "same_output_as_exact": same,
        "annotated_moment_among_hits": right,
        "search_s_median": round(sorted(indexed_s)[len(indexed_s) // 2], 2),
        "exact_s_median": round(sorted(exact_s)[len(exact_s) // 2], 2),
        "differing": differing,
    }


def _brief(hit: dict) -> dict:
    """A hit's video, window and score: what tells two outputs apart."""
    keep = ("video", "start_s", "end_s", "score")
    return {k: Path(v).name if k == "video" else v for k, v in hit.items() if k in keep}


def update(folder: Path, cache: Path, step: str) -> None:
    """`clipground index update` on `folder`: its time and what it changed, as one JSON line."""
    updated, update_s = cli("index", "update", str(folder), cache=cache)
    summary = json.loads(updated.splitlines()[-1])
    changed = {k: summary.get(k) for k in ("added", "removed", "kept", "trained")}
    print(json.dumps({"step": step, "update_s": round(update_s, 1), **changed}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--add", type=int, default=4, help="videos added before `index update`")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clipground-e2e-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    library, cache = work / "library", work / "cache"
    queries = make_videos(library, args.videos, args.seed)[: args.queries]
    folder = library / "videos"
    _, embed_s = cli("embed", str(folder), cache=cache)
    built, build_s = cli("index", "build", str(folder), cache=cache)
    report = {
        "videos": args.videos,
        "embed_s": round(embed_s, 1),
        "index_build_s": round(build_s, 1),
    }
    report["index"] = json.loads(built.splitlines()[-1])
    print(json.dumps(report), flush=True)
    print(
        json.dumps({"step": "after build", **searches(folder, queries, cache, args.top_k)}),
        flush=True,
    )

    extra = work / "extra"
    make_videos(extra, args.add, args.seed + 1)
    for i, video in enumerate(sorted((extra / "videos").iterdir())):
        shutil.copy(video, folder / f"added-{i}{video.suffix}")
    cli("embed", str(folder), cache=cache)  # embedding is `embed`'s time, not the update's
    update(folder, cache, f"update after adding {args.add}")

    gone = max(folder.glob("v*.mp4"))
    gone.unlink()
    queries = [q for q in queries if q["video"] != gone.name]
    update(folder, cache, f"update after deleting {gone.name}")
    print(
        json.dumps({"step": "after updates", **searches(folder, queries, cache, args.top_k)}),
        flush=True,
    )


if __name__ == "__main__":
    main()
