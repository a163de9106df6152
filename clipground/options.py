"""What to sample, how to score and how to search (`GroundOptions`) or align (`AlignOptions`),
with every default in one place.

Lengths are in seconds and rates in frames per second; the CLI's option defaults are read from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clipground.errors import UsageError

OBJECTIVES = ("mean", "contrast", "balanced")  # window scores: see clipground.search.objectives
METHODS = ("exact", "brute", "multiscale")  # window searches: see clipground.search.windows
NORMALISATIONS = ("zscore", "raw")  # per-sentence scores of an alignment: see clipground.align
DECODERS = ("pyav", "decord")
DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SPAN_MODES = ("mean", "ordered")
MAX_DECODE_WORKERS = 32  # --decode-workers above this is a usage error
AUTO_DECODE_WORKERS = 8  # the most segments decoded at once by default (two chunks each wait)
MAX_MODEL_STREAMS = 16  # --model-streams above this is a usage error


@dataclass(frozen=True)
class GroundOptions:
    """How to sample, score and search; lengths in seconds, rates in frames per second."""

    fps: float = 2.0  # sampling rate before embedding
    min_len_s: float | None = None  # shortest window; None = one sample
    max_len_s: float | None = None  # the max-length cap; None = max_fraction of the video
    max_fraction: float = 0.5  # cap when max_len_s is None, as a fraction of the video's duration
    objective: str = "balanced"  # see OBJECTIVES
    method: str = "auto"  # "auto" (search.choose_method) or one of METHODS
    span_mode: str = "ordered"  # how a multi-sentence span is scored; see SPAN_MODES
    top_k: int = 5  # candidates reported
    nms_iou: float = 0.3  # temporal IoU above which a lower candidate is suppressed
    decoder: str = "pyav"  # see video.DECODERS
    batch_size: int = 32  # frames per model forward pass
    refine: bool | None = None  # second, dense pass near the boundaries; None = for long videos
    refine_fps: float | None = None  # rate of that pass; None = every native frame
    refine_timeout_s: float | None = (
        None  # longest that pass may take (batch, search); None = no limit
    )
    decode_workers: int | None = None  # stretches decoded at once; None: decode_workers()
    model_streams: int | None = None  # chunks embedded at once; None: model_streams()

    def __post_init__(self) -> None:
        _positive("--fps", self.fps)
        for flag, value in (("--min-len", self.min_len_s), ("--max-len", self.max_len_s)):
            if value is not None:
                _positive(flag, value)
        if self.min_len_s and self.max_len_s and self.min_len_s > self.max_len_s:
            raise UsageError(f"--min-len {self.min_len_s} is above --max-len {self.max_len_s}")
        _choice("--objective", self.objective, OBJECTIVES)
        _choice("--method", self.method, ("auto", *METHODS))
        _choice("--span-mode", self.span_mode, SPAN_MODES)
        _choice("--decoder", self.decoder, DECODERS)
        if self.top_k < 1 or self.batch_size < 1:
            raise UsageError(
                f"--top-k ({self.top_k}) and --batch-size ({self.batch_size}) must be >= 1"
            )
        if not (math.isfinite(self.max_fraction) and 0 < self.max_fraction <= 1):
            raise UsageError(f"--max-fraction must be within (0, 1], got {self.max_fraction}")
        if self.refine_fps is not None:
            _positive("--refine-fps", self.refine_fps)
        if self.refine_timeout_s is not None:
            _positive("--timeout", self.refine_timeout_s)
        if not 0.0 <= self.nms_iou <= 1.0:
            raise UsageError(f"--nms-iou must be within 0..1, got {self.nms_iou}")
        if self.decode_workers is not None and not (
            isinstance(self.decode_workers, int) and 1 <= self.decode_workers <= MAX_DECODE_WORKERS
        ):
            raise UsageError(
                f"--decode-workers must be 1..{MAX_DECODE_WORKERS}, got {self.decode_workers}"
            )
        if self.model_streams is not None and not (
            isinstance(self.model_streams, int) and 1 <= self.model_streams <= MAX_MODEL_STREAMS
        ):
            raise UsageError(
                f"--model-streams must be 1..{MAX_MODEL_STREAMS}, got {self.model_streams}"
            )


def _positive(flag: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{flag} must be a positive number, got {value}")


def _choice(flag: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise UsageError(f"{flag} {value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class AlignOptions:
    """How to sample the video and which segmentations the alignment may choose."""

    fps: float = GroundOptions.fps  # sampling rate before embedding
    min_len_s: float | None = None  # shortest segment per sentence; None = one sample
    max_len_s: float | None = None  # longest segment per sentence; None = no cap
    allow_gaps: bool = True  # frames may belong to no sentence; scripts/bench_align.py: better
    gap_penalty: float = 0.0  # cost of each gap sample, in normalised-score units
    threshold: float = 0.5  # with gaps: a sample joins a segment above this normalised score
    normalisation: str = "zscore"  # see NORMALISATIONS
    decoder: str = GroundOptions.decoder  # see DECODERS
    batch_size: int = GroundOptions.batch_size  # frames per model forward pass

    def __post_init__(self) -> None:
        self.ground_options()  # validates fps, lengths, decoder and batch size
        if self.normalisation not in NORMALISATIONS:
            raise UsageError(
                f"--normalise {self.normalisation!r} is not one of {', '.join(NORMALISATIONS)}"
            )
        if not math.isfinite(self.threshold):
            raise UsageError(f"--threshold must be a finite number, got {self.threshold}")
        if not self.gap_penalty >= 0:
            raise UsageError(f"--gap-penalty must be >= 0, got {self.gap_penalty}")

    def ground_options(self) -> GroundOptions:
        """The sampling part as the grounding pipeline takes it."""
        return GroundOptions(
            fps=self.fps,
            min_len_s=self.min_len_s,
            max_len_s=self.max_len_s,
            decoder=self.decoder,
            batch_size=self.batch_size,
        )


@dataclass(frozen=True)
class ModelSpec:
    """Which CLIP to load and where to run it."""

    name: str = DEFAULT_MODEL  # open_clip name, "demo", "hf-hub:org/repo" or "local-dir:/path"
    pretrained: str | None = DEFAULT_PRETRAINED  # open_clip tag; None = random weights
    checkpoint: str | None = None  # local weights file or open_clip-style directory
    device: str = "auto"  # auto: cuda, then mps, then cpu
    precision: str = "auto"  # auto: see `pick_precision`

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise UsageError("model name is empty: pass --model NAME (e.g. ViT-B-32 or demo)")
        if self.device not in DEVICES and not is_cuda_index(self.device):
            raise UsageError(
                f"unknown device {self.device!r}: use one of {', '.join(DEVICES)} or cuda:N"
            )
        if self.precision not in PRECISIONS:
            raise UsageError(
                f"unknown precision {self.precision!r}: use one of {', '.join(PRECISIONS)}"
            )

    @property
    def identity(self) -> str:
        """A string that names the weights exactly (used in output and cache keys)."""
        if self.checkpoint:
            return f"{self.name}@{Path(self.checkpoint).resolve()}"
        if self.name == "demo" or self.name.startswith(("local-dir:", "hf-hub:")):
            return self.name  # these name their weights themselves; --pretrained is not used
        return f"{self.name}/{self.pretrained or 'random'}"


def is_cuda_index(device: str) -> bool:
    """Whether `device` names one CUDA device by number (cuda:N)."""
    return device.startswith("cuda:") and device[len("cuda:") :].isdigit()
