"""Tests of the independent (evaluation-only) renderer and the benchmark written from it."""

from __future__ import annotations

import colorsys
import json
import math
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from clipground.demo import independent as I
from clipground.demo import render as R

ROOT = Path(__file__).resolve().parents[1]
BLACK = I.Backdrop("plain", (0, 0, 0), (0, 0, 0), 0.0, 0.0, 1.0)


def _shape(shape: str, aspect: float = 1.0, param: float = 0.0, angle: float = 0.0) -> I.Shape:
    return I.Shape(shape, "red", (255, 0, 0), 0.3, aspect, param, angle, 320.0, 180.0)


def _area(img: np.ndarray) -> float:
    return float(img[..., 0].astype(np.float64).sum() / 255.0)


@pytest.mark.parametrize(
    ("shape", "aspect", "param", "expected"),
    [("circle", 1.0, 0.0, math.pi / 4), ("square", 1.15, 0.0, 1.15), ("triangle", 1.0, 1.2, 0.6),
     ("cross", 1.0, 0.3, 2 * 0.3 - 0.3 * 0.3)],
)
def test_each_shape_covers_its_area(shape: str, aspect: float, param: float, expected: float) -> None:
    rng = np.random.default_rng(0)
    for angle in (0.0, 20.0):
        img = I.draw_frame(rng, 640, 360, I.Scene(BLACK, _shape(shape, aspect, param, angle), None), 0.0)
        side = 0.3 * 360
        assert _area(img) == pytest.approx(expected * side * side, rel=0.02)


def test_rotation_turns_the_outline() -> None:
    rng = np.random.default_rng(0)
    upright = I.draw_frame(rng, 640, 360, I.Scene(BLACK, _shape("square"), None), 0.0)
    turned = I.draw_frame(rng, 640, 360, I.Scene(BLACK, _shape("square", angle=25.0), None), 0.0)
    rows = lambda img: int((img[..., 0] > 128).any(axis=1).sum())
    assert rows(turned) > rows(upright) * 1.2  # a tilted square reaches higher and lower


@pytest.mark.parametrize("colour", list(R.COLOURS))
def test_named_colours_stay_in_their_hsv_range(colour: str) -> None:
    rng = np.random.default_rng(1)
    (h0, h1), (s0, s1), (v0, v1) = I.COLOUR_HSV[colour]
    refs = np.array(list(R.COLOURS.values()), dtype=float)
    nearest = []
    for _ in range(200):
        rgb = I.named_rgb(rng, colour)
        h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
        assert s0 - 0.01 <= s <= s1 + 0.01 and v0 - 0.01 <= v <= v1 + 0.01, rgb
        if colour != "white":
            hue = h * 360 if h * 360 <= h1 + 1 else h * 360 - 360  # red wraps below 0
            assert h0 - 1 <= hue <= h1 + 1, rgb
        nearest.append(list(R.COLOURS)[int(np.linalg.norm(refs - rgb, axis=1).argmin())])
    assert nearest.count(colour) >= 190  # the project's reference colour of that name is nearest


def test_scenes_keep_contrast_and_distinct_distractors() -> None:
    rng = np.random.default_rng(2)
    relations = set()
    for i in range(200):
        shape, colour = R.class_names()[i % 32]
        scene = I.random_scene(rng, 640, 360, I.Part(2.0, shape, colour, distractor=True))
        assert scene.main is not None and scene.extra is not None
        assert (scene.extra.shape, scene.extra.colour) != (shape, colour)
        assert 0.10 <= scene.main.size_frac <= 0.40
        relations.add(scene.extra.size_frac > scene.main.size_frac)
        for bg in (scene.backdrop.colour_a, scene.backdrop.colour_b):
            for obj in (scene.main, scene.extra):
                assert np.linalg.norm(np.subtract(bg, obj.rgb)) >= I.MIN_CONTRAST
    assert relations == {True, False}  # distractors both larger and smaller than the object


def test_backgrounds_cover_dark_and_light() -> None:
    rng = np.random.default_rng(3)
    values = [sum(I.random_scene(rng, 320, 180, I.Part(1.0)).backdrop.colour_a) / 765
              for _ in range(300)]
    assert min(values) < 0.1 and max(values) > 0.9


def _decode(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


PARTS = [I.Part(1.0, background="stripes"), I.Part(1.5, "circle", "yellow", moving=True),
         I.Part(0.8, "triangle", "blue", distractor=True, background="blocky_noise")]


@pytest.mark.parametrize("codec", I.CODECS)
def test_each_encoder_decodes_with_the_truth_timing(tmp_path: Path, codec: str) -> None:
    path = tmp_path / f"v{I.SUFFIX[codec]}"
    quality = {"h264": 30, "vp9": 35, "mpeg4": 5}[codec]
    truths = I.write_video(path, PARTS, fps=10, size=(288, 512), codec=codec, quality=quality, seed=4)
    frames = _decode(path)
    assert [round(t, 6) for t, _ in frames] == [i / 10 for i in range(33)]
    assert frames[0][1].shape == (512, 288, 3)
    assert [(t.start_s, t.end_s) for t in truths] == [(0.0, 1.0), (1.0, 2.5), (2.5, 3.3)]
    assert [t.caption for t in truths] == [None, "a yellow circle", "a blue triangle"]
    assert truths[2].distractor in ("larger", "smaller") and truths[1].distractor == "none"


def test_object_segments_show_their_colour(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    truths = I.write_video(path, PARTS, fps=10, size=(480, 360), seed=5)
    for t_s, img in _decode(path):
        truth = next(t for t in truths if t.start_s <= t_s + 1e-6 < t.end_s)
        hsv = np.array([colorsys.rgb_to_hsv(*(c / 255 for c in px)) for px in img[::4, ::4].reshape(-1, 3)])
        yellow = ((hsv[:, 0] * 360 > 45) & (hsv[:, 0] * 360 < 65) & (hsv[:, 1] > 0.6) & (hsv[:, 2] > 0.8)).sum()
        assert (yellow > 50) == (truth.colour == "yellow"), (t_s, yellow)


def test_renders_are_deterministic_by_seed(tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in ("a.mp4", "b.mp4", "c.mp4"))
    I.write_video(a, PARTS, size=(320, 180), seed=6)
    I.write_video(b, PARTS, size=(320, 180), seed=6)
    I.write_video(c, PARTS, size=(320, 180), seed=7)
    fa, fb, fc = (np.stack([img for _, img in _decode(p)]) for p in (a, b, c))
    assert np.array_equal(fa, fb)
    assert not np.array_equal(fa, fc)


def test_independent_shares_no_drawing_code_with_the_training_renderer() -> None:
    source = (ROOT / "clipground" / "demo" / "independent.py").read_text()
    imported = [line for line in source.splitlines() if "clipground.demo.render import" in line]
    assert imported == ["from clipground.demo.render import COLOURS, SHAPES, caption"]
    for path in (ROOT / "scripts" / "train_demo_model.py", ROOT / "clipground" / "demo" / "render.py"):
        imports = [line for line in path.read_text().splitlines()
                   if line.lstrip().startswith(("import ", "from "))]
        assert imports and not any("independent" in line for line in imports), path


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    """A 5-video benchmark from the independent renderer (the fifth is a lead-in video)."""
    out = tmp_path_factory.mktemp("bench") / "bench"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_benchmark.py"), str(out),
                    "--renderer", "independent", "--num-videos", "5", "--workers", "1"],
                   check=True, capture_output=True, timeout=600)
    return out


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_make_benchmark_independent_writes_consistent_annotations(bench: Path) -> None:
    queries, segments = _rows(bench / "annotations.jsonl"), _rows(bench / "segments.jsonl")
    assert {q["kind"] for q in queries} == {"single", "span", "leadin"}
    for q in queries:
        assert (bench / "videos" / q["video"]).is_file()
        if q["kind"] != "span":
            seg = next(s for s in segments if s["video"] == q["video"] and s["start_s"] == q["start_s"])
            assert seg["end_s"] == q["end_s"]
            assert f"{seg['colour']} {seg['shape']}" in q["query"][0]
    leadin = [s for s in segments if s["video"].startswith("v004")]
    assert leadin[0]["shape"] is None and leadin[0]["background"] in I.TEXTURE_KINDS
    for video in {s["video"] for s in segments}:
        last = max(s["end_frame"] for s in segments if s["video"] == video)
        assert last == len(_decode(bench / "videos" / video))


def test_frame_accuracy_classifies_every_sampled_object_frame(bench: Path, tmp_path: Path) -> None:
    rows = tmp_path / "frames.jsonl"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "frame_accuracy.py"), str(bench),
                           "--out", str(rows)], check=True, capture_output=True, text=True, timeout=600)
    summary = json.loads(done.stdout)
    segments = [s for s in _rows(bench / "segments.jsonl") if s["shape"] is not None]
    expected = sum(sum(1 for k in range(s["end_frame"]) if s["start_s"] <= k / 2 < s["end_s"])
                   for s in segments)  # samples at 2 frames/s, every fifth 10-fps frame
    frames = _rows(rows)
    assert summary["frames"] == len(frames) == expected
    assert summary["accuracy"] == pytest.approx(np.mean([f["right"] for f in frames]), abs=1e-4)
    largest = [f["right"] for f in frames if f["buckets"]["distractor"] != "larger"]
    assert summary["accuracy_object_largest"] == pytest.approx(np.mean(largest), abs=1e-4)
    assert sum(v["n"] for v in summary["by"]["shape"].values()) == expected
    assert {f["predicted"] for f in frames} <= {*(R.caption(s, c) for s, c in R.class_names()),
                                                 R.NOTHING_CAPTIONS[0]}


def test_frame_ceiling_weighs_the_bayes_rate_by_the_benchmarks_frames(tmp_path: Path) -> None:
    """Knowing both heights, the Bayes rule calls the smaller object the segment's whenever either
    reading is possible (a distractor larger than the object is then always named right), and it
    beats naming the larger object; the ceiling weighs that rate by the frames with a distractor."""
    summary = tmp_path / "fa.json"
    summary.write_text(json.dumps({"by": {"distractor": {
        "none": {"n": 70, "accuracy": 1.0}, "larger": {"n": 10, "accuracy": 0.5},
        "smaller": {"n": 20, "accuracy": 0.5}}}}))
    script = str(ROOT / "scripts" / "frame_ceiling.py")
    done = subprocess.run([sys.executable, script, str(summary), "--samples", "200000"],
                          check=True, capture_output=True, text=True, timeout=120)
    out = json.loads(done.stdout)
    bayes = out["bayes"]
    assert bayes["distractor_larger"] == 1.0
    assert 1 - bayes["share_distractor_larger"] < bayes["two_objects"] < 0.8  # beats "the larger"
    assert out["expected_ceiling"] == pytest.approx((70 + 30 * bayes["two_objects"]) / 100)
    summary.write_text("{}")
    bad = subprocess.run([sys.executable, script, str(summary)], check=False, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "frame_accuracy.py" in bad.stderr and bad.stdout == ""
