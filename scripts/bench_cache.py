"""Benchmark the embedding cache through the real command line (each step is a new process).

1. `batch` over 20 videos with 5 queries on an empty cache, then again with 5 new queries
   (goal: the second run >= 10x faster); the cold run is repeated with --workers 2.
   The model is a private copy of the demo model (else the test suite's tiny one): the cache keys
   fingerprint local weights, so a demo model retrained in place mid-run would turn hits into misses.
2. `search` over 200 cached videos (goal: < 2 s beyond process start). "Process start" is the same
   command over an empty folder: interpreter, imports, model load and query encoding.
Wall clocks on a shared machine are noisy, so both steps are also timed in this process, after the
model is loaded (the "beyond process start" part, measured directly).
3. float16 check: would storing embeddings as float16 change any answer of step 1?

Run:  python scripts/bench_cache.py              (the demo model if it is installed, else a tiny
      python scripts/bench_cache.py --quick      random-weight CLIP; --model NAME to choose)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "tests" / "data" / "tiny_clip" / "open_clip_config.json"
QUERIES_1 = ["a red square", "a blue screen", "something moving fast", "a green field", "darkness"]
QUERIES_2 = ["a yellow ball", "white light", "a purple shape", "slow motion", "an empty room"]


def make_clip(path: Path, seconds: float, fps: int, size: tuple[int, int], seed: int) -> None:
    """Coloured segments with a white square moving across: distinct, cheap to encode."""
    rng = np.random.default_rng(seed)
    width, height = size
    n = int(seconds * fps)
    colours = rng.integers(0, 256, (max(1, n // (2 * fps)) + 1, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n):
            frame = np.empty((height, width, 3), np.uint8)
            frame[:] = colours[i // (2 * fps)]
            x = int((width - height // 4) * i / max(1, n - 1))
            frame[height // 3 : height // 3 + height // 4, x : x + height // 4] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def tiny_model(folder: Path) -> str:
    """The test suite's tiny CLIP with seeded random weights, as a local-dir model."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(TINY_CONFIG.read_text())
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{TINY_CONFIG.parent}")
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        folder / "open_clip_model.safetensors",
    )
    return f"local-dir:{folder}"


def snapshot(folder: Path, into: Path) -> str:
    """A private copy of the demo model: retraining it in place mid-run would change the cache keys."""
    import shutil

    shutil.rmtree(into, ignore_errors=True)
    shutil.copytree(folder, into)
    return f"local-dir:{into}"


def clipground(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run `python -m clipground ARGS` and time it (wall clock, process start included)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "clipground", *args], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"clipground {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done


def float16_check(videos: Path, cache_dir: Path, model: str) -> tuple[int, int, float]:
    """Answers that change when the cached embeddings are rounded to float16: (changed, total, max |d score|)."""
    from dataclasses import replace

    from clipground.batch import find_videos
    from clipground.cache import EmbeddingCache
    from clipground.model import ModelSpec, load_encoder
    from clipground.pipeline import GroundOptions, encode_query, ground_samples

    encoder = load_encoder(ModelSpec(name=model, pretrained=None, device="cpu"))
    options, cache = GroundOptions(), EmbeddingCache(cache_dir)
    changed = total = 0
    worst = 0.0
    for video in find_videos([str(videos)]):
        e32 = cache.get(cache.key(video, encoder, options), video)
        assert e32 is not None, f"{video} is not cached"
        e16 = replace(e32, embeddings=e32.embeddings.astype(np.float16).astype(np.float32))
        for text in QUERIES_1 + QUERIES_2:
            q = encode_query(encoder, [text])
            a, b = (
                ground_samples(e32, [text], q, options),
                ground_samples(e16, [text], q, options),
            )
            total += 1
            changed += [(m.start_frame, m.end_frame) for m in a.candidates] != [
                (m.start_frame, m.end_frame) for m in b.candidates
            ]
            worst = max(worst, abs(a.best.score - b.best.score))
    return changed, total, worst


def inprocess_batch(
    encoder,
    spec,
    lib: Path,
    queries: Path,
    cache_dir: Path,
    workers: int = 1,
    threads: int | None = None,
    method: str = "exact",
) -> float:
    """The `batch` command's work once its model is loaded: what "beyond process start" costs."""
    from clipground import batch as jobs
    from clipground.cache import EmbeddingCache
    from clipground.engine import WorkerSetup, default_threads
    from clipground.pipeline import GroundOptions

    options = GroundOptions(method=method)
    started = time.perf_counter()
    asked = jobs.read_queries(str(queries))
    todo = jobs.pending_pairs(jobs.job_videos([str(lib)], asked), asked, set())
    encoded = {eq.query: eq for eq in jobs.encode_queries(encoder, asked)}
    setup = WorkerSetup(spec, options, threads=threads or default_threads(workers))
    records = 0
    for outcome in jobs.Embedder(encoder, setup, EmbeddingCache(cache_dir), workers).run(
        list(todo)
    ):
        records += sum(
            1
            for _ in jobs.answer_video(outcome, [encoded[q] for q in todo[outcome.video]], options, encoder)
        )
    assert records == len(asked) * len(todo)
    return time.perf_counter() - started


def inprocess_search(encoder, spec, lib: Path, cache_dir: Path, text: str) -> float:
    """The `search` command's work once its model is loaded (every video cached)."""
    from clipground import batch as jobs
    from clipground.cache import EmbeddingCache
    from clipground.engine import WorkerSetup
    from clipground.pipeline import GroundOptions, encode_query

    options = GroundOptions(top_k=10)
    started = time.perf_counter()
    videos = jobs.find_videos([str(lib)])
    ranking = jobs.LibrarySearch([text], encode_query(encoder, [text]), options, 10)
    embedder = jobs.Embedder(encoder, WorkerSetup(spec, options), EmbeddingCache(cache_dir))
    for outcome in embedder.run(videos):
        ranking.add(outcome.embedded)
    assert len(ranking.hits()) == 10 and embedder.spawned == 0
    return time.perf_counter() - started


def inprocess(work: Path, lib20: Path, lib200: Path, model: str) -> None:
    """Steps 1 and 2 again in this process, timed after the model load (less noise than walls)."""
    import shutil

    from clipground.model import ModelSpec, load_encoder

    spec = ModelSpec(name=model, pretrained=None, device="cpu")
    encoder = load_encoder(spec)
    shutil.rmtree(work / "cache-inprocess", ignore_errors=True)
    cold = inprocess_batch(encoder, spec, lib20, work / "q1.txt", work / "cache-inprocess")
    warm = min(
        inprocess_batch(encoder, spec, lib20, work / "q2.txt", work / "cache-inprocess")
        for _ in range(3)
    )
    brute = min(
        inprocess_batch(
            encoder, spec, lib20, work / "q2.txt", work / "cache-inprocess", method="brute"
        )
        for _ in range(3)
    )
    print(
        f"in-process, model loaded: batch cold {cold:.2f} s (worker start included), warm with new queries "
        f"{warm:.2f} s (best of 3): {cold / warm:.1f}x; warm with --method brute {brute:.2f} s: "
        f"{cold / brute:.1f}x (the window search, not the cache, is the rest of the warm time)"
    )

    from clipground.engine import default_threads

    for workers, threads in ((1, None), (2, None), (1, 1)):
        shutil.rmtree(work / "cache-ab", ignore_errors=True)
        seconds = inprocess_batch(
            encoder, spec, lib20, work / "q1.txt", work / "cache-ab", workers, threads
        )
        print(
            f"in-process, model loaded: batch cold, --workers {workers} with "
            f"{threads or default_threads(workers)} torch thread(s) each: {seconds:.2f} s"
        )
    runs = [
        inprocess_search(encoder, spec, lib200, work / "cache-200", "a red square")
        for _ in range(3)
    ]
    print(
        f"in-process, model loaded: search {len(list(lib200.iterdir()))} cached videos "
        f"{min(runs):.2f} s (best of 3: {', '.join(f'{r:.2f}' for r in runs)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", help="model for clipground --model (default: demo if installed, else tiny)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep videos and caches here (default: a temp folder)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter videos (a smoke test)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_cache-"))
    work.mkdir(parents=True, exist_ok=True)
    from clipground.model import DEMO_MODEL_DIR

    model = args.model or (
        snapshot(DEMO_MODEL_DIR, work / "demo")
        if DEMO_MODEL_DIR.is_dir()
        else tiny_model(work / "tiny")
    )
    n_batch, n_search, long_s = (5, 30, 6.0) if args.quick else (20, 200, 30.0)
    lib20, lib200, empty = work / "lib20", work / "lib200", work / "empty"
    for folder in (lib20, lib200, empty):
        folder.mkdir(exist_ok=True)
    started = time.perf_counter()
    for i in range(n_batch):
        if not (lib20 / f"clip{i:02d}.mp4").exists():
            make_clip(lib20 / f"clip{i:02d}.mp4", long_s, 25, (320, 240), seed=i)
    for i in range(n_search):
        if not (lib200 / f"short{i:03d}.mp4").exists():
            make_clip(lib200 / f"short{i:03d}.mp4", 8.0, 10, (160, 120), seed=1000 + i)
    print(
        f"videos ready in {time.perf_counter() - started:.1f} s ({n_batch} x {long_s:g} s 320x240 at 25 fps, "
        f"{n_search} x 8 s 160x120 at 10 fps); model {model}; {os.cpu_count()} CPUs"
    )
    (work / "q1.txt").write_text("\n".join(QUERIES_1) + "\n")
    (work / "q2.txt").write_text("\n".join(QUERIES_2) + "\n")
    common = ["--model", model, "--pretrained", "none", "--device", "cpu", "--quiet"]
    results: dict[str, float] = {}

    def batch(name: str, queries: str, cache: str, *extra: str) -> float:
        out = work / f"{name}.jsonl"
        seconds, _ = clipground(
            "batch",
            str(lib20),
            "--queries",
            str(work / queries),
            "--output",
            str(out),
            "--cache-dir",
            str(work / cache),
            *common,
            *extra,
        )
        lines = out.read_text().splitlines()
        assert len(lines) == n_batch * 5 and not any('"error"' in line for line in lines), name
        results[name] = seconds
        print(f"{name:<34} {seconds:8.2f} s  ({len(lines)} lines)")
        return seconds

    for cache in ("cache-w1", "cache-w2"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "clipground",
                "cache",
                "clear",
                "--cache-dir",
                str(work / cache),
            ],
            capture_output=True,
            check=False,
        )
    cold = batch("batch cold (workers 1)", "q1.txt", "cache-w1")
    warm = batch("batch warm, new queries", "q2.txt", "cache-w1")
    cold2 = batch("batch cold (workers 2)", "q1.txt", "cache-w2", "--workers", "2")
    base, _ = clipground(
        "search",
        str(empty),
        "--text",
        "a red square",
        "--cache-dir",
        str(work / "cache-w1"),
        *common,
    )
    print(f"{'process start (search, no videos)':<34} {base:8.2f} s")
    print(
        f"  warm vs cold: {cold / warm:.1f}x faster wall clock; {(cold - base) / max(warm - base, 1e-3):.1f}x "
        "beyond process start"
    )
    print(f"  --workers 2 vs 1 on a cold cache: {cold / cold2:.2f}x")

    subprocess.run(
        [
            sys.executable,
            "-m",
            "clipground",
            "cache",
            "clear",
            "--cache-dir",
            str(work / "cache-200"),
        ],
        capture_output=True,
        check=False,
    )
    embed_s, _ = clipground(
        "embed", str(lib200), "--cache-dir", str(work / "cache-200"), "--workers", "2", *common
    )
    print(f"{f'embed {n_search} videos (workers 2)':<34} {embed_s:8.2f} s")
    searches = []
    for _ in range(3):
        seconds, done = clipground(
            "search",
            str(lib200),
            "--text",
            "a red square",
            "--top-k",
            "10",
            "--cache-dir",
            str(work / "cache-200"),
            *common,
        )
        searches.append(seconds)
    hits = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(hits) == 10 and [h["rank"] for h in hits] == list(range(1, 11))
    base200, _ = clipground(
        "search",
        str(empty),
        "--text",
        "a red square",
        "--cache-dir",
        str(work / "cache-200"),
        *common,
    )
    best = min(searches)
    print(
        f"{f'search {n_search} cached videos':<34} {best:8.2f} s  (best of 3: "
        f"{', '.join(f'{s:.2f}' for s in searches)}); process start {base200:.2f} s; "
        f"beyond start {best - base200:.2f} s"
    )

    inprocess(work, lib20, lib200, model)
    changed, total, worst = float16_check(lib20, work / "cache-w1", model)
    print(
        f"float16 check: {changed} of {total} answers (top-k windows) change; max |score change| {worst:.2e}"
    )
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()
