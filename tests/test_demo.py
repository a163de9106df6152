"""Tests of the demo domain: the renderer, the video ground truth and the shipped demo model."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import av
import numpy as np
import pytest

from clipground.demo import render as R

MODEL_DIR = Path(R.__file__).parent / "model"
EXPECTED_AREA = {"circle": math.pi / 4, "square": 1.0, "triangle": 0.5, "cross": 5 / 9}


def _scene(shape: str, colour: str, size_frac: float = 0.3) -> R.Scene:
    spec = R.ShapeSpec(shape, colour, R.COLOURS[colour], size_frac, 0.5, 0.5)
    return R.Scene(R.Background("plain", (0, 0, 0), (0, 0, 0)), spec)


def _colour_pixels(img: np.ndarray, colour: str, tol: int = 40) -> int:
    diff = np.abs(img.astype(int) - np.array(R.COLOURS[colour])).max(axis=-1)
    return int((diff <= tol).sum())


@pytest.mark.parametrize("shape", R.SHAPES)
def test_render_draws_the_requested_shape_with_its_area(shape: str) -> None:
    img = R.render_frame(np.random.default_rng(0), 640, 360, _scene(shape, "red"))
    side = 0.3 * 360
    assert img.shape == (360, 640, 3) and img.dtype == np.uint8
    assert _colour_pixels(img, "red") == pytest.approx(EXPECTED_AREA[shape] * side * side, rel=0.05)


def test_render_draws_the_requested_colour_only() -> None:
    img = R.render_frame(np.random.default_rng(0), 640, 360, _scene("square", "cyan"))
    assert _colour_pixels(img, "cyan") > 1000
    assert all(_colour_pixels(img, c) == 0 for c in R.COLOURS if c != "cyan")


def test_random_scenes_keep_backgrounds_away_from_object_colours() -> None:
    rng = np.random.default_rng(1)
    for shape, colour in R.class_names():
        scene = R.random_scene(rng, shape, colour, distractor=True)
        assert scene.main is not None and scene.distractor is not None
        assert scene.distractor.colour != colour and scene.distractor.shape != shape
        assert scene.distractor.size_frac < scene.main.size_frac
        for bg in (scene.background.colour_a, scene.background.colour_b):
            assert np.linalg.norm(np.subtract(bg, scene.main.rgb)) >= R.MIN_BACKGROUND_DISTANCE


def test_caption_variants_name_the_class() -> None:
    variants = R.caption_variants("cross", "orange")
    assert variants[0] == R.caption("cross", "orange") == "an orange cross"
    assert all("orange cross" in v for v in variants)
    with pytest.raises(ValueError, match="pink"):
        R.caption_variants("circle", "pink")


def test_write_video_ground_truth_matches_decoded_pts(tmp_path: Path) -> None:
    segments = [R.Segment(1.0), R.Segment(1.5, "circle", "red", moving=True, background="plain"),
                R.Segment(0.8, "cross", "blue", background="plain")]
    path = tmp_path / "v.mp4"
    truths = R.write_video(path, segments, fps=10, size=(320, 180), crf=28, seed=3)
    with av.open(str(path)) as c:
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert [round(t, 6) for t, _ in frames] == [i / 10 for i in range(33)]
    assert [(t.start_s, t.end_s) for t in truths] == [(0.0, 1.0), (1.0, 2.5), (2.5, 3.3)]
    for t in truths[1:]:
        inside = [img for time_s, img in frames if t.start_s <= time_s < t.end_s]
        assert t.colour is not None and len(inside) == t.end_frame - t.start_frame
        assert all(_colour_pixels(img, t.colour, tol=60) > 100 for img in inside)


def _decoded_frames(rng: np.random.Generator, labels: list[int], size: int) -> np.ndarray:
    """Render one frame per label, H.264 round-trip, squash to size x size like the decoder."""
    names = R.class_names()
    frames = [R.render_frame(rng, 640, 360, R.random_scene(rng, *names[i], distractor=i % 3 == 0))
              for i in labels]
    buf = io.BytesIO()
    R.encode_h264(buf, frames, fps=10, crf=30)
    buf.seek(0)
    with av.open(buf) as c:
        return np.stack([f.reformat(size, size, format="rgb24", interpolation="AREA").to_ndarray()
                         for f in c.decode(video=0)])


def test_shipped_model_is_small_fp16() -> None:
    from safetensors import safe_open

    path = MODEL_DIR / "open_clip_model.safetensors"
    assert path.stat().st_size <= 10 * 2**20
    with safe_open(str(path), framework="pt") as f:
        assert f.get_tensor("logit_scale").dtype.is_floating_point
        assert str(f.get_tensor("logit_scale").dtype) == "torch.float16"


def test_shipped_model_classifies_fresh_frames_zero_shot() -> None:
    import open_clip
    import torch

    name = "local-dir:" + str(MODEL_DIR)
    model, _, _ = open_clip.create_model_and_transforms(name)
    tokenizer = open_clip.get_tokenizer(name)
    pre = json.loads((MODEL_DIR / "open_clip_config.json").read_text())["preprocess_cfg"]
    labels = np.random.default_rng(7).permutation(np.arange(64) % 32).tolist()
    pixels = _decoded_frames(np.random.default_rng(2024), labels, pre["size"])  # (64, S, S, 3)
    mean, std = torch.tensor(pre["mean"]), torch.tensor(pre["std"])
    x = (torch.from_numpy(pixels).float() / 255 - mean) / std
    texts = [R.caption(s, c) for s, c in R.class_names()]
    model.eval()
    with torch.no_grad():
        img = model.encode_image(x.permute(0, 3, 1, 2), normalize=True)  # (64, D)
        txt = model.encode_text(tokenizer(texts), normalize=True)  # (32, D)
    accuracy = ((img @ txt.T).argmax(1).numpy() == np.array(labels)).mean()
    assert accuracy >= 0.90


def test_training_is_deterministic(tmp_path: Path) -> None:
    """Two short runs of the training script from the same seed write byte-identical weights."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "train_demo_model.py"
    weights = []
    for run in ("a", "b"):
        out = tmp_path / run
        subprocess.run(
            [sys.executable, str(script), "--out", str(out), "--steps", "3", "--bank-chunks", "1",
             "--project-chunks", "1",
             "--eval-chunks", "1", "--batch-size", "32", "--workers", "1", "--eval-every", "1000"],
            check=True, capture_output=True, timeout=600,
        )
        weights.append((out / "open_clip_model.safetensors").read_bytes())
    assert weights[0] == weights[1]


def _training_script() -> dict:
    """The globals of scripts/train_demo_model.py (a script, not part of the package)."""
    import runpy

    path = Path(__file__).resolve().parents[1] / "scripts" / "train_demo_model.py"
    return runpy.run_path(str(path), run_name="train_demo_model")


def test_margin_loss_pushes_down_only_a_caption_too_near_the_frames_own() -> None:
    """A caption naming none of the frame's objects within the margin of the frame's own caption
    (a shared colour) is pushed down and the own caption up; captions far enough below, the
    frame's second object and frames whose class has no caption in the batch cost nothing."""
    import torch

    margin_loss = _training_script()["margin_loss"]
    txt = torch.eye(4)  # captions of classes 0..3, orthonormal
    txt_class = torch.tensor([0, 1, 2, 3])
    classes = torch.tensor([[0, -1]])  # one frame showing class 0 only
    far = torch.tensor([[0.9, 0.3, 0.0, 0.1]])
    assert margin_loss(far, txt, classes, txt_class, margin=0.5).item() == 0.0
    near = torch.tensor([[0.9, 0.5, 0.0, 0.1]], requires_grad=True)
    loss = margin_loss(near, txt, classes, txt_class, margin=0.5)
    assert loss.item() == pytest.approx(0.5 - 0.9 + 0.5)
    loss.backward()
    assert near.grad.tolist() == [[-1.0, 1.0, 0.0, 0.0]]
    two = torch.tensor([[0, 1]])  # class 1 is the frame's second object: not a negative
    assert margin_loss(near, txt, two, txt_class, margin=0.5).item() == 0.0
    absent = torch.tensor([[2, -1]])  # no caption of class 2 among the batch's first two
    assert margin_loss(near, txt[:2], absent, txt_class[:2], margin=0.5).item() == 0.0
