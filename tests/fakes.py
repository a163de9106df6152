"""A deterministic stand-in for CLIP: frames embed as their mean colour, texts name a colour."""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import numpy as np

from clipground.model import InputSpec

COLOURS = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "black": (0, 0, 0), "white": (1, 1, 1)}


class ColourEncoder:
    """Embeds a frame as its centred mean RGB and a text as the colour it names (the encoder protocol)."""

    identity = "fake-colour"
    context_length = 77
    embed_dim = 3

    def __init__(self, size: int = 16) -> None:
        self.input = InputSpec(size=size, resize_mode="squash", mean=(0, 0, 0), std=(1, 1, 1))
        self.frames_seen = 0

    def encode_frames(self, pixels: np.ndarray) -> np.ndarray:
        self.frames_seen += len(pixels)
        v = pixels.reshape(len(pixels), -1, 3).mean(axis=1) / 255.0 - 0.5
        return _unit(v)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            name = next((c for c in COLOURS if c in text.lower()), "black")
            rows.append(np.array(COLOURS[name], float) - 0.5)
        return _unit(np.array(rows))

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def default_streams(self) -> int:
        return 1

    @contextlib.contextmanager
    def streams(self, count: int) -> Iterator[None]:
        yield None  # no torch threads to share


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)
