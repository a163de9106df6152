"""Memory growth of decoding many videos one after another in one process (issue 7).

Each backend runs in a fresh child process: `FrameSampler` over the whole file, `--runs` times,
reading the child's resident set (VmRSS in /proc/self/status) as it goes. Growth is measured from
the end of a warm-up (allocators and codec tables settle in the first runs) to the last run.

    python scripts/bench_decode_memory.py                       # 300 runs, pyav and decord
    python scripts/bench_decode_memory.py --video ../shared/realvideos/h264_opus.mkv --runs 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BACKENDS = ("pyav", "decord", "decord-raw")


def vm_rss_mib() -> float:
    """This process's resident set size, MiB, from /proc (no psutil)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def make_clip(path: Path, frames: int = 50, fps: int = 25) -> Path:
    """A small H.264 clip (2 s, 160x120), written with PyAV."""
    import av
    import numpy as np

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(frames):
            pixels = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return path


def child(video: str, backend: str, runs: int, fps: float, every: int) -> None:
    """Decode `video` `runs` times; print one JSON line of RSS samples."""
    from clipground.video import FrameSampler

    def once() -> int:
        if backend == "decord-raw":  # decord alone, as a caller without our checks would use it
            import decord

            reader = decord.VideoReader(video, ctx=decord.cpu(0), width=32, height=24)
            n = len(reader.get_batch(list(range(0, len(reader), 5))).asnumpy())
            del reader
            return n
        sampler = FrameSampler(video, fps=fps, size=(32, 24), decoder=backend)
        return sum(len(chunk) for chunk in sampler.chunks())

    samples, start = [(0, vm_rss_mib())], time.perf_counter()
    for run in range(1, runs + 1):
        once()
        if run % every == 0 or run == runs:
            samples.append((run, vm_rss_mib()))
    seconds = time.perf_counter() - start
    print(json.dumps({"backend": backend, "runs": runs, "seconds": seconds, "rss_mib": samples}))


def report(result: dict, warmup: int) -> str:
    """One line: RSS after warm-up, at the end, growth and growth per run."""
    samples = result["rss_mib"]
    base_run, base = next((r, m) for r, m in samples if r >= warmup)
    last_run, last = samples[-1]
    per_run = (last - base) / max(1, last_run - base_run) * 1024
    return (
        f"{result['backend']:>10}: {result['runs']} runs in {result['seconds']:.1f} s; RSS "
        f"{samples[0][1]:.0f} MiB at start, {base:.1f} after run {base_run}, {last:.1f} after "
        f"run {last_run}: growth {last - base:+.1f} MiB ({per_run:+.1f} KiB/run)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", help="video to decode (default: a generated 2 s H.264 clip)")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--fps", type=float, default=5.0, help="sampling rate of each pass")
    parser.add_argument("--warmup", type=int, default=20, help="runs before growth is measured")
    parser.add_argument("--every", type=int, default=20, help="RSS sample interval, in runs")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--child", nargs=2, metavar=("VIDEO", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.runs, args.fps, args.every)
        return
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or str(make_clip(Path(tmp) / "clip.mp4"))
        print(f"video: {video}; {args.runs} passes each, fps {args.fps:g}, in a fresh process")
        for backend in args.backends.split(","):
            cmd = [sys.executable, __file__, "--child", video, backend, "--runs", str(args.runs),
                   "--fps", str(args.fps), "--every", str(args.every)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{backend:>10}: failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
                continue
            print(report(json.loads(done.stdout.strip().splitlines()[-1]), args.warmup))


if __name__ == "__main__":
    main()
