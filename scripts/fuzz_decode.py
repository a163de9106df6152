"""Fuzz the decode path with damaged videos: every case runs in a child process with a timeout.

Seeds are small generated clips (several containers and codecs) and the real-world corpus. Each
case is one seed with seeded mutations (truncation, bit flips, overwritten runs of random bytes,
a duplicated chunk, a deleted chunk). The child probes the file, samples it whole with PyAV and
with decord (`FrameSampler`, low fps, tiny output), decodes every frame of its middle third with
PyAV as the refine pass does (`range`: a time range, seeking where the start is far), and samples it
whole again cut into up to 3 segments decoded at once (`segments`, however short the clip). Outcomes,
counted apart:

    ok         every step returned frames or raised a ClipgroundError (a clear, intended error)
    wrong      frames lost: a pass returned fewer frames than a plain single-threaded PyAV decode
               that skips what it cannot decode, or failed although that decode found frames
               (more frames than that decode is not wrong: frame threads conceal damage that one
               thread rejects, as players do; such steps are counted as `extra` in the detail)
    exception  a step raised anything else (a traceback: a bug)
    crash      the child died from a signal (segfault, abort) or exited without a report
    hang       the child outlived --timeout

    python scripts/fuzz_decode.py --cases 500 --seed 7 --out /tmp/fuzz     # the issue-7 run
    python scripts/fuzz_decode.py --replay tests/data/fuzz/some_case.mkv    # one file, verbose

Cases that are not `ok` (and a few `ok` ones that exercise rare paths) are kept under --out with
their mutation recipe, to be minimised and checked in as regression tests (tests/data/fuzz/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "realvideos"
STEPS = ("probe", "pyav", "range", "segments", "decord")
MUTATIONS = ("truncate", "bitflip", "overwrite", "duplicate", "delete")
MEMORY_LIMIT = 4 << 30  # bytes of address space for a child: a lying header must not take the box


# ---------------------------------------------------------------------------------------------
# Seeds


def make_seeds(folder: Path) -> list[Path]:
    """Small generated clips: the containers and codecs users send, 1-2 s at 64x48."""
    import av
    import numpy as np

    specs = [  # (name, codec, pix_fmt, codec options, container options, B-frames)
        ("h264_bframes.mp4", "libx264", "yuv420p", {"preset": "veryfast"}, {}, 2),
        ("h264_faststart.mp4", "libx264", "yuv420p", {"preset": "veryfast"},
         {"movflags": "faststart"}, 2),
        ("h264_fragmented.mp4", "libx264", "yuv420p", {"preset": "veryfast"},
         {"movflags": "frag_keyframe+empty_moov"}, 0),
        ("h264.mkv", "libx264", "yuv420p", {"preset": "veryfast", "g": "10"}, {}, 2),
        ("vp9.webm", "libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8"}, {}, 0),
        ("mpeg4_bframes.avi", "mpeg4", "yuv420p", {"qscale": "4"}, {}, 2),
        ("mjpeg.avi", "mjpeg", "yuvj420p", {"qscale": "4"}, {}, 0),
        ("h264.ts", "libx264", "yuv420p", {"preset": "veryfast"}, {}, 2),
    ]
    rng = np.random.default_rng(0)
    seeds = []
    for name, codec, pix_fmt, options, container_options, b_frames in specs:
        path = folder / name
        with av.open(str(path), mode="w", options=container_options) as container:
            stream = container.add_stream(codec, rate=25, options=options)
            stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
            stream.codec_context.time_base = Fraction(1, 25)
            if b_frames:
                stream.codec_context.max_b_frames = b_frames
            for i in range(40):
                pixels = np.full((48, 64, 3), (i * 6, 255 - i * 6, 128), np.uint8)
                pixels = np.clip(pixels + rng.integers(-30, 30, pixels.shape), 0, 255)
                frame = av.VideoFrame.from_ndarray(pixels.astype(np.uint8), format="rgb24")
                frame.pts = i
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        seeds.append(path)
    return seeds


def real_seeds() -> list[Path]:
    """The real-world corpus, when it is there."""
    if not REAL_VIDEOS.is_dir():
        return []
    return sorted(p for p in REAL_VIDEOS.iterdir() if p.suffix != ".md")


# ---------------------------------------------------------------------------------------------
# Mutations


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """One to three mutations; returns the bytes and a readable recipe."""
    out, recipe = bytearray(data), []
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.choice(MUTATIONS)
        n = len(out)
        if n < 16:
            break
        if kind == "truncate":
            cut = rng.randrange(1, n)
            del out[cut:]
            recipe.append(f"truncate at {cut}/{n}")
        elif kind == "bitflip":
            count = rng.choice((1, 4, 16, 64))
            spots = [rng.randrange(n) for _ in range(count)]
            for spot in spots:
                out[spot] ^= 1 << rng.randrange(8)
            recipe.append(f"flip {count} bits from {min(spots)}")
        elif kind == "overwrite":
            at, size = rng.randrange(n), rng.choice((4, 64, 1024, n // 10 or 1))
            out[at : at + size] = rng.randbytes(min(size, n - at))
            recipe.append(f"overwrite {size} bytes at {at}")
        elif kind == "duplicate":
            at, size = rng.randrange(n), rng.choice((64, 1024, n // 5 or 1))
            chunk = out[at : at + size]
            to = rng.randrange(len(out))
            out[to:to] = chunk
            recipe.append(f"duplicate {len(chunk)} bytes from {at} to {to}")
        else:
            at, size = rng.randrange(n), rng.choice((16, 1024, n // 10 or 1))
            del out[at : at + size]
            recipe.append(f"delete {size} bytes at {at}")
    return bytes(out), recipe


# ---------------------------------------------------------------------------------------------
# The child: one file through probe, PyAV and decord


def child(path: str, fps: float) -> None:
    """Print one JSON line per step: {"step", "result": ok|error|exception, "detail"}."""
    import resource
    import traceback

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from clipground.errors import ClipgroundError
    from clipground.video import DecodeTuning, FrameSampler, probe

    tuning = DecodeTuning(segment_min_s=0.0)  # cut even these short clips

    def report(step: str, result: str, detail: str) -> None:
        print(json.dumps({"step": step, "result": result, "detail": detail[-2000:]}), flush=True)

    reference, probed, duration_s = reference_count(path), False, None
    for step in STEPS:
        print(json.dumps({"step": step, "result": "started"}), flush=True)
        try:
            if step == "probe":
                info = probe(path)
                detail, probed = f"{info.width}x{info.height} {info.codec}", True
            elif step == "range":
                detail = middle_third(path, duration_s)
            else:
                decoder = "pyav" if step == "segments" else step
                sampler = FrameSampler(path, fps=fps, size=(32, 24), decoder=decoder, tuning=tuning)
                chunks = sampler.chunks_unordered(3) if step == "segments" else sampler.chunks()
                count = sum(len(chunk) for chunk in chunks)
                summary = sampler.summary()
                duration_s = summary.duration_s if step == "pyav" else duration_s
                detail = f"{count} sampled of {summary.num_frames}, backend {summary.backend}"
                if reference is not None and summary.num_frames != reference:
                    lost = summary.num_frames < reference
                    report(step, "wrong" if lost else "extra",
                           f"{detail}; a plain decode gives {reference} frames")
                    continue
            report(step, "ok", detail)
        except ClipgroundError as exc:
            lost = step != "probe" and probed and reference is not None
            report(step, "wrong" if lost else "error", f"{type(exc).__name__}: {exc}"
                   + (f"; a plain decode gives {reference} frames" if lost else ""))
        except Exception:  # noqa: BLE001 (what the fuzzer is looking for)
            report(step, "exception", traceback.format_exc())


def middle_third(path: str, duration_s: float | None) -> str:
    """Every frame from 1/3 to 2/3 of the duration the whole PyAV pass found, as refine decodes."""
    from clipground.errors import VideoError
    from clipground.video import FrameSampler

    if not duration_s:
        raise VideoError(f"{path}: no duration from the whole pass; nothing to decode a range of")
    start_s, end_s = duration_s / 3, 2 * duration_s / 3
    sampler = FrameSampler(path, fps=None, size=(32, 24), start_s=start_s, end_s=end_s)
    count = sum(len(chunk) for chunk in sampler.chunks())
    return f"{count} frames in {start_s:.2f}-{end_s:.2f} s"


def reference_count(path: str) -> int | None:
    """Frames a plain PyAV decode yields (one thread, undecodable packets skipped); None if none.

    Frames that repeat a presentation time count once: a player shows one of them, and so does
    clipground (a duplicated chunk of a file makes such repeats).
    """
    import av

    times: list[object] = []
    try:
        with av.open(path, metadata_errors="replace") as container:  # tags: as clipground reads them
            stream = container.streams.video[0]
            try:
                for packet in container.demux(stream):
                    try:
                        times += [f.pts if f.pts is not None else object() for f in packet.decode()]
                    except av.error.FFmpegError:
                        continue
            except av.error.FFmpegError:
                with contextlib.suppress(av.error.FFmpegError):
                    times += [f.pts if f.pts is not None else object() for f in stream.decode(None)]
    except (av.error.FFmpegError, IndexError, OSError, UnicodeDecodeError):
        return None
    return len(set(times)) or None


def run_case(path: Path, fps: float, timeout: float) -> dict:
    """Run the child on `path`; classify what happened."""
    cmd = [sys.executable, __file__, "--child", str(path), "--fps", str(fps)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        return {"outcome": "hang", "steps": _steps(out or ""), "seconds": timeout}
    steps = _steps(done.stdout)
    seconds = round(time.perf_counter() - start, 2)
    if done.returncode != 0:
        signal = -done.returncode if done.returncode < 0 else None
        return {"outcome": "crash", "signal": signal, "returncode": done.returncode,
                "steps": steps, "stderr": done.stderr[-2000:], "seconds": seconds}
    results = [s["result"] for s in steps.values()]
    outcome = "exception" if "exception" in results else "wrong" if "wrong" in results else "ok"
    if len(results) < len(STEPS) or "started" in results:
        outcome = "crash"
    return {"outcome": outcome, "steps": steps, "seconds": seconds}


def _steps(stdout: str) -> dict[str, dict]:
    """The last record of each step (a step still "started" is where a child died or hung)."""
    steps: dict[str, dict] = {}
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "step" in record:
            steps[record["step"]] = record
    return steps


# ---------------------------------------------------------------------------------------------
# The campaign


def campaign(args: argparse.Namespace) -> int:
    out = Path(args.out)
    (out / "kept").mkdir(parents=True, exist_ok=True)
    seeds_dir = out / "seeds"
    seeds_dir.mkdir(exist_ok=True)
    seeds = make_seeds(seeds_dir) + ([] if args.no_real else real_seeds())
    print(f"{len(seeds)} seeds, {args.cases} cases, seed {args.seed}, timeout {args.timeout:g} s, "
          f"{args.jobs} at a time", flush=True)
    tally: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    log_path = out / "cases.jsonl"
    started = time.perf_counter()
    with log_path.open("w") as log, tempfile.TemporaryDirectory() as tmp:

        def one(case: int) -> tuple[int, Path, list[str], bytes, dict]:
            rng = random.Random(f"{args.seed}:{case}")
            seed = seeds[case % len(seeds)]
            data, recipe = mutate(seed.read_bytes(), rng)
            path = Path(tmp) / f"case{case:04d}{seed.suffix}"
            path.write_bytes(data)
            result = run_case(path, args.fps, args.timeout)
            if result["outcome"] == "hang":  # a busy machine is not a hang: confirm, alone-ish
                retry = run_case(path, args.fps, 3 * args.timeout)
                result = {**retry, "slow": retry["outcome"] != "hang"}
            path.unlink()
            return case, seed, recipe, data, result

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            done = pool.map(one, range(args.cases))
            for case, seed, recipe, data, result in done:
                record = {"case": case, "seed": seed.name, "recipe": recipe, "bytes": len(data),
                          **result}
                tally[result["outcome"]] += 1
                for step, info in result["steps"].items():
                    by_step[f"{step}:{info['result']}"] += 1
                if result["outcome"] != "ok" or result.get("slow"):
                    tag = result["outcome"] + ("_slow" if result.get("slow") else "")
                    kept = out / "kept" / f"{tag}_{case:04d}_{seed.stem}{seed.suffix}"
                    kept.write_bytes(data)
                    record["kept"] = str(kept)
                    print(f"case {case} ({seed.name}, {'; '.join(recipe)}): {tag}", flush=True)
                log.write(json.dumps(record) + "\n")
                log.flush()
                if (case + 1) % 50 == 0:
                    elapsed = time.perf_counter() - started
                    print(f"{case + 1} cases in {elapsed:.0f} s: {dict(tally)}", flush=True)
    ok = tally["ok"]
    print(f"fuzz cases without crash, hang, traceback or lost frames: {ok}/{args.cases} "
          f"(crash {tally['crash']}, hang {tally['hang']}, exception {tally['exception']}, "
          f"wrong {tally['wrong']})")
    print("steps: " + ", ".join(f"{k} {v}" for k, v in sorted(by_step.items())))
    print(f"log: {log_path}")
    return 0 if ok == args.cases else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", default="7", help="campaign seed (cases are reproducible)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per case")
    parser.add_argument("--fps", type=float, default=2.0, help="sampling rate of each pass")
    parser.add_argument("--out", default="fuzz-out", help="folder for the log and kept cases")
    parser.add_argument("--jobs", type=int, default=1, help="cases run at the same time")
    parser.add_argument("--no-real", action="store_true", help="generated seeds only")
    parser.add_argument("--replay", metavar="FILE", help="run one file and print each step")
    parser.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.fps)
        return 0
    if args.replay:
        result = run_case(Path(args.replay), args.fps, args.timeout)
        print(json.dumps(result, indent=2))
        return 0 if result["outcome"] == "ok" else 1
    return campaign(args)


if __name__ == "__main__":
    sys.exit(main())
