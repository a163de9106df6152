"""Embedding several chunks at once (`--model-streams`): the same answer as one at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import torch_threads
from fakes import ColourEncoder

from clipground.errors import UsageError
from clipground.model import ModelSpec, load_encoder
from clipground.options import MAX_MODEL_STREAMS
from clipground.pipeline import GroundOptions, embed_video, ground, model_streams

TINY = Path(__file__).parent / "data" / "tiny_clip"


@pytest.fixture(scope="module")
def red_video(make_video_at: Callable[..., Path]) -> Path:
    """20 s at 25 fps: black, red from frame 184 to 316, black."""
    colours = [(200, 0, 0) if 184 <= i <= 316 else (0, 0, 0) for i in range(500)]
    frames = [np.full((32, 48, 3), c, np.uint8) for c in colours]
    return make_video_at("streams_red.mp4", frames, fps=25)


def test_streams_give_the_same_embedding_and_answer(red_video: Path) -> None:
    one = embed_video(red_video, ColourEncoder(), GroundOptions(fps=4, batch_size=4))
    for streams in (2, 3):
        options = GroundOptions(fps=4, batch_size=4, model_streams=streams)
        many = embed_video(red_video, ColourEncoder(), options)
        np.testing.assert_array_equal(many.indices, one.indices)
        np.testing.assert_array_equal(many.times_s, one.times_s)
        np.testing.assert_array_equal(many.embeddings, one.embeddings)
    a = ground(red_video, "red", ColourEncoder(), GroundOptions(fps=1, batch_size=4, refine=True))
    refined = GroundOptions(fps=1, batch_size=4, refine=True, model_streams=3)
    b = ground(red_video, "red", ColourEncoder(), refined)
    assert (b.best.start_frame, b.best.end_frame) == (184, 316)
    assert b.candidates == a.candidates and b.frames_embedded == a.frames_embedded


def test_a_torch_model_in_two_streams_embeds_as_in_one(red_video: Path) -> None:
    import torch

    torch.manual_seed(0)
    encoder = load_encoder(ModelSpec(name=f"local-dir:{TINY}", device="cpu"))
    before = torch_threads()
    one = embed_video(red_video, encoder, GroundOptions(fps=4, batch_size=8, model_streams=1))
    two = embed_video(red_video, encoder, GroundOptions(fps=4, batch_size=8, model_streams=2))
    np.testing.assert_array_equal(two.indices, one.indices)
    np.testing.assert_allclose(two.embeddings, one.embeddings, atol=1e-5)
    assert torch_threads() == before


def test_a_failing_stream_raises_and_restores_torch_threads(red_video: Path) -> None:
    import torch

    torch.manual_seed(0)
    encoder = load_encoder(ModelSpec(name=f"local-dir:{TINY}", device="cpu"))
    calls = []

    def failing(pixels: np.ndarray) -> np.ndarray:
        calls.append(len(pixels))
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return np.zeros((len(pixels), 32), np.float32)

    encoder.encode_frames = failing  # type: ignore[method-assign]
    before = torch_threads()
    with pytest.raises(RuntimeError, match="out of memory"):
        embed_video(red_video, encoder, GroundOptions(fps=4, batch_size=4, model_streams=2))
    assert torch_threads() == before
    assert len(calls) < 8  # stopped: the video has 20 chunks


def test_model_streams_default_and_bounds() -> None:
    assert model_streams(ColourEncoder(), GroundOptions()) == 1  # an encoder without torch
    assert model_streams(ColourEncoder(), GroundOptions(model_streams=3)) == 3
    for bad in (0, -1, MAX_MODEL_STREAMS + 1):
        with pytest.raises(UsageError, match="--model-streams"):
            GroundOptions(model_streams=bad)


def test_a_short_chunk_is_split_among_the_streams_too(make_video_at: Callable[..., Path]) -> None:
    sizes = []

    class Recording(ColourEncoder):
        def encode_frames(self, pixels: np.ndarray) -> np.ndarray:
            sizes.append(len(pixels))
            return super().encode_frames(pixels)

    frames = [np.full((32, 48, 3), 9 * i, np.uint8) for i in range(25)]
    path = make_video_at("streams_short.mp4", frames, fps=5)
    embedded = embed_video(path, Recording(), GroundOptions(fps=2, batch_size=32, model_streams=2))
    assert len(embedded.indices) == 10  # one chunk of 10 frames, far under --batch-size
    assert sorted(sizes) == [5, 5]  # both streams get half, not one stream all of it
