"""--device cuda gives the CPU's answers, in fp32 and under fp16/bf16 autocast.

These need a CUDA GPU, which CI does not have: run `python -m pytest tests/test_cuda.py` on a machine
with one (the README's GPU section). Everywhere else the whole module is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from clipground.cli import app
from clipground.errors import ModelError
from clipground.model import ModelSpec, load_encoder
from clipground.pipeline import GroundOptions, ground
from clipground.video import FrameSampler

# The CPU side of each check (device and precision resolution, the GPU-count error with a mocked
# count) runs everywhere in test_model.py; these compare real GPU arithmetic with the CPU's, which
# needs the hardware. They passed on an H100 (README, "On a GPU").
pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU; CI has none (run it on a GPU machine)"
)

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
CAPTIONS = ["a red circle", "a blue square", "a yellow triangle", "a green cross"]


@pytest.fixture(scope="module")
def cpu():
    return load_encoder(ModelSpec(name="demo", device="cpu", precision="fp32"))


@pytest.fixture(scope="module")
def frames(cpu) -> np.ndarray:
    """Decoded frames of the sample video, sized for the demo model."""
    sampler = FrameSampler(SAMPLE / "demo.mp4", fps=2.0, size=cpu.input.decode_size)
    return np.concatenate([chunk.pixels for chunk in sampler.chunks()])


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)  # both are L2-normalised


def test_auto_picks_the_gpu_and_fp16() -> None:
    encoder = load_encoder(ModelSpec(name="demo"))
    assert (encoder.device, encoder.precision) == ("cuda", "fp16")
    assert next(encoder.model.parameters()).is_cuda


@pytest.mark.parametrize(("precision", "min_cosine"), [("fp32", 0.99999), ("fp16", 0.999), ("bf16", 0.995)])
def test_gpu_embeddings_match_the_cpu(cpu, frames: np.ndarray, precision: str, min_cosine: float) -> None:
    gpu = load_encoder(ModelSpec(name="demo", device="cuda", precision=precision))
    assert len(frames) >= 40
    assert _row_cosines(gpu.encode_frames(frames), cpu.encode_frames(frames)).min() >= min_cosine
    assert _row_cosines(gpu.encode_texts(CAPTIONS), cpu.encode_texts(CAPTIONS)).min() >= min_cosine


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_the_sample_grounds_to_the_same_frames_as_on_the_cpu(cpu, precision: str) -> None:
    gpu = load_encoder(ModelSpec(name="demo", device="cuda:0", precision=precision))
    for caption in CAPTIONS:
        on_cpu = ground(SAMPLE / "demo.mp4", caption, cpu, GroundOptions())
        on_gpu = ground(SAMPLE / "demo.mp4", caption, gpu, GroundOptions())
        a, b = on_gpu.best, on_cpu.best
        assert (a.start_frame, a.end_frame) == (b.start_frame, b.end_frame), caption
        assert a.score == pytest.approx(b.score, abs=5e-3)


def test_match_on_the_command_line() -> None:
    result = CliRunner().invoke(
        app, ["match", str(SAMPLE / "demo.mp4"), "--text", "a red circle", "--model", "demo",
              "--device", "cuda", "--no-cache"],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    truth = next(s for s in json.loads((SAMPLE / "demo.json").read_text()) if s["caption"] == "a red circle")
    assert abs(record["start_s"] - truth["start_s"]) <= 1.0 and abs(record["end_s"] - truth["end_s"]) <= 1.0


def test_a_gpu_index_past_the_last_is_a_model_error() -> None:
    count = torch.cuda.device_count()
    with pytest.raises(ModelError, match=f"has {count} CUDA GPU"):
        load_encoder(ModelSpec(name="demo", device=f"cuda:{count}"))
