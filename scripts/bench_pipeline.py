"""Pipeline speed, two-pass accuracy, memory and the naive baseline, measured in one run.

    python scripts/bench_pipeline.py [--parts overhead,refine,memory,naive,skip,batch] [--work DIR] [--quick]
    python scripts/bench_pipeline.py --parts overhead,throughput --device cuda     (on a GPU)
    python scripts/bench_pipeline.py --parts overhead --decode-workers 1,2    (compare, interleaved)
    python scripts/bench_pipeline.py --parts overhead --model-streams 1,2     (compare, interleaved)

overhead  end-to-end `ground` time / model-forward time alone for the same frames (ViT-B-32, random
          weights: the same cost as real ones), on a 5-minute 640x360 video, a 1-minute 1080p one
          and a 1-minute 1080p one that costs what camera footage does to decode (make_camera_video);
          --repeats pairs, interleaved, and their median ratio; in fp32, and in bf16 where the CPU
          has bf16 instructions (what --precision auto picks there). --device cuda: fp32 and fp16
          autocast on the GPU (the model-forward time then counts from inputs already on the GPU).
          The model alone runs as one stream and as the encoder's default streams (two on a CPU
          with two cores or more: `Encoder.default_streams`); the ratio is over the faster.
refine    two-pass (1 frame/s, then every frame near the boundaries) vs dense (every frame): frames
          embedded on a 10-minute video, then the agreement part.
agreement boundary agreement of two-pass and dense on the demo benchmark's queries.
throughput  the image tower alone (ViT-B-32), frames/s per precision and batch size of 32 and 128.
skip      decoding alone (no model) at 1 and 2 frames/s with and without skipping the packets no
          sampled frame needs: wall and CPU time, and how many packets were skipped.
batch     `embed` in one worker process over 3 copies of the 1-min 1080p video: the default torch
          threads per worker and model streams against one stream, and against one thread less.
memory    peak RSS of `clipground match --no-cache` on a 1-minute and a 30-minute video, same settings.
naive     scripts/baseline_naive.py vs `clipground match --no-cache` on the same 5-minute video:
          with the demo model, wall time and IoU with the ground truth (and the time to import
          torch and open_clip, which both pay); with ViT-B-32 (random weights, the cost of real
          ones), wall time. clipground runs with --precision fp32 (the baseline's arithmetic) and
          auto.
Videos are generated under --work and reused: in the demo domain (clipground.demo.render), and one
like camera footage (make_camera_video).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipground.demo.render import Segment, encode_h264, random_scene, render_frame  # noqa: E402
from clipground.model import ModelSpec, load_encoder  # noqa: E402
from clipground.pipeline import (  # noqa: E402
    GroundOptions, embed_video, encode_query, ground, ground_embedded,
)

CLASSES = [("circle", "red"), ("square", "blue"), ("triangle", "yellow"), ("cross", "green"),
           ("circle", "purple"), ("square", "orange"), ("triangle", "cyan"), ("cross", "white")]


def make_video(path: Path, seconds: float, size: tuple[int, int], fps: int, seed: int = 0) -> list[dict]:
    """Segments of 5-40 s (objects and background-only gaps); each scene rendered a few times, cycled."""
    if path.exists() and path.with_suffix(".json").exists():
        return json.loads(path.with_suffix(".json").read_text())
    rng = np.random.default_rng(seed)
    segments, t, k = [], 0.0, 0
    while t < seconds - 1e-9:
        duration = min(float(rng.integers(5, 41)), seconds - t)
        shape, colour = CLASSES[k % len(CLASSES)] if k % 2 else (None, None)
        segments.append(Segment(duration, shape, colour))
        t, k = t + duration, k + 1
    truth: list[dict] = []

    def generate():
        start = 0
        for seg in segments:
            scene = random_scene(rng, seg.shape, seg.colour)
            pool = [render_frame(rng, size[0], size[1], scene) for _ in range(4)]
            n = round(seg.duration_s * fps)
            truth.append({"caption": f"a {seg.colour} {seg.shape}" if seg.shape else None,
                          "start_s": start / fps, "end_s": (start + n) / fps})
            start += n
            for i in range(n):
                yield pool[i % len(pool)]

    encode_h264(path, generate(), fps, crf=30)
    path.with_suffix(".json").write_text(json.dumps(truth))
    return truth


def make_camera_video(path: Path, seconds: float, size: tuple[int, int], fps: int, seed: int = 0) -> None:
    """Footage that costs what a camera's does to decode: a slow pan over a detailed texture with
    sensor grain, x264 crf 23 (about 7 Mbit/s at 1080p), a keyframe every second and B-frames as
    phones write them, one slice per frame. The demo-domain videos cost far less per frame: flat
    shapes on backgrounds that barely change, and (PyAV's default encoder threads) several slices."""
    if path.exists():
        return
    import av

    width, height = size
    rng = np.random.default_rng(seed)
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.thread_type = "FRAME"  # frame-threaded encoding: one slice per frame
        stream.options = {"crf": "23", "preset": "veryfast", "g": str(fps), "bf": "2"}
        for n in range(round(seconds * fps)):
            if n % (5 * fps) == 0:  # a new scene every 5 s
                texture = _texture(rng, width + 2 * 5 * fps, height + 5 * fps)
            shift = n % (5 * fps)
            grain = rng.integers(-4, 5, (height, width, 1), dtype=np.int16)
            img = np.clip(texture[shift : shift + height, 2 * shift : 2 * shift + width] + grain, 0, 255)
            frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            frame.pts = n
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    partial.rename(path)


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height, width, 3) int16: 8-pixel colour blocks, blurred, with fine noise."""
    blocks = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    img = np.repeat(np.repeat(blocks, 8, 0), 8, 1)[:height, :width]
    for axis in (0, 1):
        img = (img + np.roll(img, 3, axis) + np.roll(img, -3, axis)) / 3
    return (img + rng.normal(0, 6, img.shape)).astype(np.int16)


# (name, seconds, size, kind): "demo" videos come from the demo domain, "camera" from make_camera_video
OVERHEAD_VIDEOS = [("5min_640x360", 300, (640, 360), "demo"), ("1min_1920x1080", 60, (1920, 1080), "demo"),
                   ("1min_1920x1080_camera", 60, (1920, 1080), "camera")]


def _bench_video(
    work: Path, name: str, seconds: int, size: tuple[int, int], quick: bool, seed: int = 0,
    kind: str = "demo",
) -> Path:
    """A generated video, a tenth as long (under its own name) with --quick."""
    video = work / (f"{name}_quick.mp4" if quick else f"{name}.mp4")
    make = make_camera_video if kind == "camera" else make_video
    make(video, seconds // 10 if quick else seconds, size, fps=25, seed=seed)
    return video


def overhead(
    work: Path, quick: bool, repeats: int = 3, device: str = "cpu",
    variants: tuple[tuple[int | None, int | None], ...] = ((None, None),), videos: tuple[str, ...] | None = None,
    precisions: tuple[str, ...] | None = None,
) -> dict:
    """Per precision: fp32, and what --precision auto picks on `device` when that differs; per
    (--decode-workers, --model-streams) variant (None: the default), the runs of the variants
    interleaved. The model alone runs both as one stream and as the encoder's default streams;
    the ratio is over the faster of the two."""
    out = {}
    for precision in precisions or _precisions(device):
        encoder = load_encoder(ModelSpec(name="ViT-B-32", pretrained=None, device=device, precision=precision))
        _forward_alone(encoder, 32)  # warm-up: CUDA context, cuBLAS and kernel selection on a GPU
        for name, seconds, size, kind in OVERHEAD_VIDEOS:
            if videos is not None and name not in videos:
                continue
            video = _bench_video(work, name, seconds, size, quick, kind=kind)
            runs = [[_overhead_once(video, encoder, *v) for v in variants] for _ in range(repeats)]
            for i, (workers, streams) in enumerate(variants):  # (match, model) pairs, interleaved
                pairs = [r[i] for r in runs]
                ratios = sorted(m / min(alone) for m, alone, _ in pairs)
                key = (f"{name}_{device}_{precision}" + ("" if workers is None else f"_workers{workers}")
                       + ("" if streams is None else f"_streams{streams}"))
                alone_s = {"one_stream": [round(r[1][0], 3) for r in pairs],
                           f"{encoder.default_streams()}_streams": [round(r[1][1], 3) for r in pairs]}
                out[key] = {"frames": pairs[0][2], "match_s": [round(r[0], 2) for r in pairs],
                            "model_forward_s": alone_s,
                            "ratios": [round(r, 3) for r in ratios],
                            "median_ratio": round(float(np.median(ratios)), 3)}
                print(f"overhead {key}: {out[key]}", file=sys.stderr)
    return out


def _precisions(device: str) -> list[str]:
    """fp32, and what auto resolves to on `device` (bf16 on a CPU with bf16 instructions, fp16 on CUDA)."""
    from clipground.model import pick_precision

    auto = pick_precision("auto", device)
    return ["fp32"] if auto == "fp32" else ["fp32", auto]


def _overhead_once(
    video: Path, encoder, decode_workers: int | None = None, model_streams: int | None = None
) -> tuple[float, tuple[float, float], int]:
    """`ground` time, then the model's forward time alone on as many frames: as one stream, and as
    the encoder's default streams."""
    options = GroundOptions(fps=2, refine=False, decode_workers=decode_workers, model_streams=model_streams)
    t0 = time.perf_counter()
    g = ground(video, "a red circle", encoder, options)
    t_match = time.perf_counter() - t0
    streams = encoder.default_streams()
    alone = (_forward_alone(encoder, g.num_sampled), _forward_alone(encoder, g.num_sampled, streams=streams))
    return t_match, alone, g.num_sampled


def _forward_alone(encoder, frames: int, batch_size: int = 32, streams: int = 1) -> float:
    """Seconds for the image tower alone on `frames` random inputs already on the device, in
    `encoder`'s precision (its dtype, and its autocast on a GPU). Several `streams`: batches of
    at most `batch_size / streams` (as `ground` splits its chunks), as even as can be and a multiple
    of `streams` in number, run that many at once (each in a thread with its share of torch's
    threads, as `ground` runs them)."""
    import torch

    from clipground.workers import mapped

    x = torch.randn(frames, 3, 224, 224, device=encoder.device).to(encoder.input_dtype)
    batches = -(-frames // -(-batch_size // streams))  # as `ground` splits a chunk among streams
    chunks = torch.tensor_split(x, -(-batches // streams) * streams)

    def forward(chunk):
        with encoder.inference():  # the context encode_frames runs the model in
            return encoder.model.encode_image(chunk)

    _synchronize(encoder.device)
    t0 = time.perf_counter()
    with encoder.streams(streams) as setup:
        for _ in mapped(forward, iter(chunks), streams, setup):
            pass
    _synchronize(encoder.device)
    return time.perf_counter() - t0


def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(work: Path, quick: bool, device: str = "cpu") -> dict:
    """ViT-B-32 image-tower frames/s alone, per precision and batch size (after a warm-up)."""
    out = {}
    frames = 128 if quick else 1024
    for precision in _precisions(device):
        encoder = load_encoder(ModelSpec(name="ViT-B-32", pretrained=None, device=device, precision=precision))
        _forward_alone(encoder, 64)
        for batch in (32, 128):
            seconds = _forward_alone(encoder, frames, batch)
            out[f"{device}_{precision}_batch{batch}"] = round(frames / seconds, 1)
            print(f"throughput {device} {precision} batch {batch}: {frames / seconds:.1f} frames/s",
                  file=sys.stderr)
    return out


def _windows_agree(a, b, step: float) -> bool:
    return abs(a.start_s - b.start_s) <= step + 1e-6 and abs(a.end_s - b.end_s) <= step + 1e-6


def refine(work: Path, quick: bool) -> dict:
    encoder = load_encoder(ModelSpec(name="demo", device="cpu"))
    seconds = 60 if quick else 600
    video = work / f"{seconds}s_640x360.mp4"
    truth = make_video(video, seconds, (640, 360), fps=25, seed=1)
    query = next(t["caption"] for t in truth if t["caption"])
    two = ground(video, query, encoder, GroundOptions(fps=1, refine=True, min_len_s=1))
    dense = ground(video, query, encoder, GroundOptions(fps=25, refine=False, min_len_s=1))
    out = {"long_video": {"seconds": seconds, "native_frames": two.num_frames,
                          "two_pass_embedded": two.frames_embedded, "dense_embedded": dense.frames_embedded,
                          "fraction": round(two.frames_embedded / dense.frames_embedded, 4),
                          "agree": _windows_agree(two.best, dense.best, 1 / 25)}}
    print(f"refine long video: {out['long_video']}", file=sys.stderr)
    out["benchmark"] = _benchmark_agreement(work, encoder, quick)
    return out


def _benchmark_agreement(work: Path, encoder, quick: bool) -> dict:
    """Two-pass vs dense on every benchmark query; each video is embedded once per pass."""
    bench = work / "benchmark"
    if not (bench / "annotations.jsonl").exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_benchmark.py"), str(bench)], check=True)
    items = [json.loads(line) for line in (bench / "annotations.jsonl").read_text().splitlines()]
    items = items[:20] if quick else items
    dense_opts = GroundOptions(fps=1000.0, refine=False, min_len_s=1)  # every frame
    two_opts = GroundOptions(fps=1, refine=True, min_len_s=1)
    embedded: dict[str, tuple] = {}
    agree = 0
    for item in items:
        video = bench / "videos" / item["video"]
        if item["video"] not in embedded:
            embedded[item["video"]] = (embed_video(video, encoder, dense_opts), embed_video(video, encoder, two_opts))
        dense_e, two_e = embedded[item["video"]]
        text = encode_query(encoder, item["query"])
        dense = ground_embedded(dense_e, item["query"], text, encoder, dense_opts)
        two = ground_embedded(two_e, item["query"], text, encoder, two_opts)
        agree += _windows_agree(two.best, dense.best, 1 / dense.native_fps)
    result = {"queries": len(items), "within_one_fine_step": agree, "rate": round(agree / len(items), 4)}
    print(f"refine benchmark agreement: {result}", file=sys.stderr)
    return result


def agreement(work: Path, quick: bool) -> dict:
    return _benchmark_agreement(work, load_encoder(ModelSpec(name="demo", device="cpu")), quick)


def batch(work: Path, quick: bool, repeats: int = 2) -> dict:
    """`embed` (one worker process, model loaded in the parent) over 3 copies of the 1-min 1080p
    video: the default torch threads per worker (its share of the cores, the model in
    `Encoder.default_streams` streams) against one stream on as many threads and against one
    thread less (the rule before: the cores left over decode). Runs interleaved; ViT-B-32 (random
    weights) in fp32 and in what --precision auto picks, and the demo model."""
    from clipground.batch import Embedder
    from clipground.engine import WorkerSetup, default_threads

    source = _bench_video(work, "1min_1920x1080", 60, (1920, 1080), quick)
    folder = work / f"batch_{source.stem}"
    folder.mkdir(exist_ok=True)
    videos = []
    for k in range(3):
        copy = folder / f"copy{k}{source.suffix}"
        if not copy.exists():
            copy.symlink_to(source.resolve())
        videos.append(str(copy))
    threads = default_threads(1)
    variants = {"default": (threads, None), "one_stream": (threads, 1), "one_thread_less": (max(1, threads - 1), None)}
    models = [("ViT-B-32", p) for p in _precisions("cpu")] + [("demo", "fp32")]
    out = {}
    for name, precision in models:
        spec = ModelSpec(name=name, pretrained=None, device="cpu", precision=precision)
        encoder = load_encoder(spec)
        times: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(repeats):
            for variant, (n, streams) in variants.items():
                setup = WorkerSetup(model=spec, options=GroundOptions(fps=2, model_streams=streams), threads=n)
                t0 = time.perf_counter()
                outcomes = list(Embedder(encoder, setup, None, 1, 600.0).run(videos))
                assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
                times[variant].append(round(time.perf_counter() - t0, 2))
        best = {v: min(t) for v, t in times.items()}
        key = f"{name}_{precision}"
        out[key] = {"threads": {v: variants[v][0] for v in variants}, "seconds": times,
                    "speedup_over_one_thread_less": round(best["one_thread_less"] / best["default"], 2),
                    "speedup_over_one_stream": round(best["one_stream"] / best["default"], 2)}
        print(f"batch {key}: {out[key]}", file=sys.stderr)
    return out


def memory(work: Path, quick: bool) -> dict:
    out = {}
    for minutes in (1, 3 if quick else 30):
        video = work / f"mem_{minutes}min.mp4"
        make_video(video, minutes * 60, (320, 180), fps=10, seed=minutes)
        code = (
            "import resource, sys; from clipground.cli import app\n"
            "try: app(sys.argv[1:], standalone_mode=False)\n"
            "finally: print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, "match", str(video), "-t", "a red circle", "--model", "demo", "-q",
             "--no-refine", "--no-cache"], capture_output=True, text=True, check=True,
        )
        rss = int(done.stderr.split("maxrss_kb")[-1].split()[0]) / 1024
        out[f"{minutes}min_peak_rss_mib"] = round(rss, 1)
        print(f"memory {minutes} min: {rss:.1f} MiB", file=sys.stderr)
    first, second = out.values()
    out["ratio"] = round(second / first, 3)
    return out


def naive(work: Path, quick: bool) -> dict:
    """The demo model for accuracy (and its wall time), ViT-B-32 with random weights for speed."""
    seconds = 60 if quick else 300
    video = work / f"naive_{seconds}s.mp4"
    truth = make_video(video, seconds, (640, 360), fps=25, seed=2)
    target = next(t for t in truth if t["caption"])
    out = {}
    for model, pretrained in (("demo", []), ("ViT-B-32", ["--pretrained", "none"])):
        runs = {"naive": _timed_run(
            [sys.executable, str(ROOT / "scripts" / "baseline_naive.py"), str(video), "--text",
             target["caption"], "--model", model, "--min-len", "1"], truth, target["caption"])}
        print(f"naive comparison, {model}, naive: {runs['naive']}", file=sys.stderr)
        for precision in ("fp32", "auto"):  # auto: bf16 on a CPU with bf16 instructions
            name = f"clipground_{precision}"
            runs[name] = _timed_run(
                [sys.executable, "-m", "clipground", "match", str(video), "-t", target["caption"],
                 "--model", model, *pretrained, "--precision", precision, "--min-len", "1",
                 "--refine", "--no-cache", "-q", "-f", "jsonl"], truth, target["caption"])
            runs[f"speedup_{precision}"] = round(runs["naive"]["wall_s"] / runs[name]["wall_s"], 2)
            print(f"naive comparison, {model}, {name}: {runs[name]}", file=sys.stderr)
        out[model] = runs
    # both processes pay for importing torch and open_clip first: measured alone, it shows how much
    # of each demo-model wall time (a small model) is the work itself
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, open_clip"], check=True, capture_output=True)
    demo = out["demo"]
    demo["import_s"] = round(time.perf_counter() - t0, 2)
    work_naive, work_ours = (demo[k]["wall_s"] - demo["import_s"] for k in ("naive", "clipground_fp32"))
    demo["speedup_fp32_beyond_import"] = round(work_naive / work_ours, 2) if work_ours > 0 else None
    out["ViT-B-32"]["note"] = "random weights: wall time only; the boundaries mean nothing"
    return out


def _timed_run(cmd: list[str], truth: list[dict], caption: str) -> dict:
    """Wall time of one command and the IoU of its answer with `caption`'s best occurrence."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    rec = json.loads(done.stdout.strip().splitlines()[-1])
    # a class can occur more than once in the video: score against its best-matching occurrence
    iou = max(_iou((rec["start_s"], rec["end_s"]), (t["start_s"], t["end_s"]))
              for t in truth if t["caption"] == caption)
    return {"wall_s": round(wall, 2), "iou": round(iou, 4), "start_s": rec["start_s"],
            "end_s": rec["end_s"], "frames_embedded": rec.get("frames_embedded")}


def skip(work: Path, quick: bool) -> dict:
    """Decoding alone at 1 and 2 frames/s, skipping unneeded packets or decoding every one."""
    import logging

    from clipground.video import FrameSampler

    counted: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: counted.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("clipground.video")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    out = {}
    for name, seconds, size, kind, seed in [(*case, 0) for case in OVERHEAD_VIDEOS] + [
        ("600s_640x360", 600, (640, 360), "demo", 1),  # the refine part's video
    ]:
        video = _bench_video(work, name, seconds, size, quick, seed, kind)
        for fps in (1.0, 2.0):
            row = {}
            for skipping in (False, True, False, True):  # interleaved, the second of each kept
                counted.clear()
                t0, c0 = time.perf_counter(), time.process_time()
                sampler = FrameSampler(video, fps=fps, size=(398, 224), skip_unneeded=skipping)
                n = sum(len(chunk) for chunk in sampler.chunks())
                key = "skip" if skipping else "all"
                row[key] = {"wall_s": round(time.perf_counter() - t0, 2),
                            "cpu_s": round(time.process_time() - c0, 2), "samples": n}
                found = [re.search(r"(\d+ of \d+) packets are needed by no", m) for m in counted]
                row[key]["skipped"] = next((f.group(1) for f in found if f), "none")
            row["cpu_ratio"] = round(row["skip"]["cpu_s"] / row["all"]["cpu_s"], 3)
            out[f"{name}@{fps:g}fps"] = row
            print(f"skip {name} {fps} fps: {row}", file=sys.stderr)
    logger.removeHandler(handler)
    return out


def _iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def _values(text: str) -> tuple[int | None, ...]:
    return tuple(None if v == "default" else int(v) for v in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="overhead,refine,memory,naive,skip,batch")
    parser.add_argument("--work", type=Path, default=ROOT / "bench_out")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    parser.add_argument("--repeats", type=int, default=3, help="overhead: (match, model) pairs per video")
    parser.add_argument("--device", default="cpu", help="overhead, throughput: cpu, cuda or cuda:N")
    parser.add_argument("--videos", default=None, help="overhead: only these (comma-separated names)")
    parser.add_argument("--precisions", default=None, help="overhead: only these, e.g. bf16 (default: fp32 and auto's)")
    parser.add_argument("--decode-workers", default="default",
                        help="overhead: comma-separated values to compare, e.g. 1,2 ('default': the default)")
    parser.add_argument("--model-streams", default="default",
                        help="overhead: comma-separated values to compare, e.g. 1,2 ('default': the default)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    variants = tuple(itertools.product(_values(args.decode_workers), _values(args.model_streams)))
    parts = {"overhead": functools.partial(overhead, repeats=args.repeats, device=args.device,
                                           variants=variants,
                                           videos=None if args.videos is None else tuple(args.videos.split(",")),
                                           precisions=None if args.precisions is None else tuple(args.precisions.split(","))),
             "throughput": functools.partial(throughput, device=args.device), "refine": refine,
             "agreement": agreement, "memory": memory, "naive": naive, "skip": skip, "batch": batch}
    results = {name: parts[name](args.work, args.quick) for name in args.parts.split(",")}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
