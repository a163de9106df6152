"""The Ray engine against the local engine on this machine: the same videos, fresh caches each.

    python scripts/bench_ray.py [--videos 24] [--seconds 60] [--model demo] [--repeats 1]

Embeds the same generated videos (demo-domain scenes, 320x180 at 25 fps, made once under
--work) with the local engine (`--workers 1`, as the CLI sets it up) and with a local Ray
instance (`--engine ray --workers 1`), each into a fresh cache, `--repeats` times, interleaved.
Prints both wall times and their ratio: the Ray job alone (Ray already running, as when a job
joins a cluster with `--address`), and with starting the Ray instance (as `--engine ray` without
`--address` does). Then checks that the two caches hold the same entries: the same keys, frame
times and indices, summaries, and embeddings equal within float tolerance. That needs fixed
weights (the demo model, a `local-dir:` model): a hub model without weights (`--model ViT-B-32`)
is drawn at random in each process, so its entries differ (`comparable` says so); its times hold.

Ray runs on loopback with a small object store and 2 CPUs (this machine's cores), usage stats off.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # else Ray picks the LAN address

from clipground.cli.jobs import EngineFlags, Tracker, make_embedder
from clipground.demo.render import COLOURS, SHAPES, Segment, write_video
from clipground.model import ModelSpec, load_encoder
from clipground.options import GroundOptions

RAY_INIT = {
    "address": "local",
    "_node_ip_address": "127.0.0.1",
    "num_cpus": 2,
    "object_store_memory": 300 << 20,
    "include_dashboard": False,
    "log_to_driver": False,
    "configure_logging": False,
}


def make_videos(folder: Path, count: int, seconds: float) -> list[str]:
    """`count` videos of `seconds` each: 5-s demo scenes (a moving shape, or nothing), reused."""
    folder.mkdir(parents=True, exist_ok=True)
    videos = []
    for k in range(count):
        path = folder / f"v{k:02d}_{seconds:g}s.mp4"
        if not path.exists():
            segments = []
            for i in range(max(1, round(seconds / 5))):
                shape = SHAPES[(k + i) % len(SHAPES)] if i % 2 else None
                colour = list(COLOURS)[(k + 3 * i) % len(COLOURS)] if shape else None
                segments.append(Segment(5.0, shape, colour, moving=True))
            write_video(path, segments, fps=25, size=(320, 180), seed=k)
        videos.append(str(path))
    return videos


def embed_all(videos: list[str], spec: ModelSpec, cache_dir: Path, engine: str) -> float:
    """Wall seconds to embed `videos` into an empty cache at `cache_dir` with `engine`."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    encoder = load_encoder(spec)
    embedder = make_embedder(
        encoder, spec, GroundOptions(), str(cache_dir), 1, 600.0, Tracker(), EngineFlags(engine)
    )
    started = time.perf_counter()
    outcomes = list(embedder.run(videos))
    seconds = time.perf_counter() - started
    failed = [o.error for o in outcomes if o.error is not None]
    assert not failed and len(outcomes) == len(videos), failed
    return seconds


def compare_caches(local: Path, ray: Path) -> dict:
    """Entry by entry: the same keys, times, indices and summaries; embeddings' largest gap."""
    entries = {p.name: p for p in (local / "embeddings-v1").rglob("*.npz")}
    others = {p.name: p for p in (ray / "embeddings-v1").rglob("*.npz")}
    gap, identical = 0.0, 0
    for name, path in entries.items():
        with np.load(path) as a, np.load(others[name]) as b:
            assert np.array_equal(a["times_s"], b["times_s"]), name
            assert np.array_equal(a["indices"], b["indices"]), name
            meta_a, meta_b = json.loads(str(a["meta"])), json.loads(str(b["meta"]))
            assert meta_a == meta_b, (meta_a, meta_b)
            gap = max(gap, float(np.abs(a["embeddings"] - b["embeddings"]).max()))
            identical += bool(np.array_equal(a["embeddings"], b["embeddings"]))
    return {
        "entries": len(entries),
        "same_keys": sorted(entries) == sorted(others),
        "entries_bitwise_identical": identical,
        "largest_embedding_difference": gap,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each video")
    parser.add_argument("--model", default="demo", help="e.g. demo, or ViT-B-32 (random weights)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--work", type=Path, default=ROOT / "bench_out" / "ray")
    args = parser.parse_args()

    import ray

    videos = make_videos(args.work / "videos", args.videos, args.seconds)
    spec = ModelSpec(name=args.model, pretrained=None, device="cpu")
    caches = {"local": args.work / "cache_local", "ray": args.work / "cache_ray"}
    times: dict[str, list[float]] = {"local": [], "ray": [], "ray_start": []}
    for _ in range(args.repeats):
        times["local"].append(embed_all(videos, spec, caches["local"], "local"))
        started = time.perf_counter()
        ray.init(**RAY_INIT)
        times["ray_start"].append(time.perf_counter() - started)
        try:
            times["ray"].append(embed_all(videos, spec, caches["ray"], "ray"))
        finally:
            ray.shutdown()
    local, job = statistics.median(times["local"]), statistics.median(times["ray"])
    start = statistics.median(times["ray_start"])
    entries = (caches["local"] / "embeddings-v1").rglob("*.npz")
    frames = sum(int(np.load(p)["indices"].shape[0]) for p in entries)
    report = {
        "videos": len(videos),
        "frames": frames,
        "model": args.model,
        "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "ray_job_over_local": round(job / local, 3),
        "ray_with_start_over_local": round((job + start) / local, 3),
        "local_frames_per_s": round(frames / local, 1),
        "ray_frames_per_s": round(frames / job, 1),
        "comparable": args.model == "demo" or args.model.startswith("local-dir:"),
        **compare_caches(caches["local"], caches["ray"]),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
