"""CLIP encoders: the only module that imports torch and open_clip.

`load_encoder` turns a `ModelSpec` (an open_clip model name and pretrained tag, a local checkpoint
file or directory, an `hf-hub:` id, or the shipped `demo` model) into an `Encoder` that embeds
decoded frames and texts into one L2-normalised space.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from clipground.errors import ModelError, UsageError
from clipground.numeric import unit_rows
from clipground.options import ModelSpec

log = logging.getLogger(__name__)

DEMO_MODEL_DIR = Path(__file__).resolve().parent / "demo" / "model"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_HUB_HINT = (
    "supply weights with --checkpoint FILE_OR_DIR, or put them in the Hugging Face hub cache "
    "(HF_HOME) on a machine with network access and run with HF_HUB_OFFLINE=1"
)



def pick_device(requested: str) -> str:
    """Resolve "auto" to cuda, then mps, then cpu; refuse a device that is not there."""
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"--device {requested}: no CUDA GPU is available here; use --device cpu")
    if requested.startswith("cuda:"):
        _check_cuda_index(requested, torch.cuda.device_count())
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ModelError("--device mps: MPS is not available here; use --device cpu")
    return requested



def _check_cuda_index(requested: str, count: int) -> None:
    if int(requested[len("cuda:") :]) >= count:
        raise ModelError(
            f"--device {requested}: this machine has {count} CUDA GPU(s); use cuda:0 to cuda:{count - 1}"
        )


def pick_precision(
    requested: str, device: str, native_bf16: Callable[[], bool] | None = None
) -> str:
    """Resolve "auto": fp16 (autocast) on CUDA; bf16 on a CPU that computes it natively (AVX512-BF16
    or AMX; `native_bf16` asks, by default `cpu_has_native_bf16`), where it is several times faster
    than fp32 (docs/benchmarks.md); else fp32."""
    if requested == "auto":
        if device.startswith("cuda"):
            return "fp16"
        native = (native_bf16 or cpu_has_native_bf16)()
        return "bf16" if device == "cpu" and native else "fp32"
    if requested == "fp16" and device == "cpu":
        raise UsageError("--precision fp16 needs a GPU; on CPU use bf16 or fp32")
    return requested


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (x86 AVX512-BF16 or AMX) that torch uses."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def _resolve(spec: ModelSpec) -> tuple[str, str | None, Path | None]:
    """Map a spec to open_clip's (model_name, pretrained) and a weights file to load after."""
    name = "local-dir:" + str(DEMO_MODEL_DIR) if spec.name == "demo" else spec.name
    if spec.checkpoint:
        return _resolve_checkpoint(name, Path(spec.checkpoint))
    if name.startswith("local-dir:"):
        _warn_if_no_weights(Path(name[len("local-dir:") :]))
    if name.startswith(("local-dir:", "hf-hub:")):
        return name, None, None
    _check_known(name, spec.pretrained)
    return name, spec.pretrained, None


def _warn_if_no_weights(folder: Path) -> None:
    if folder.is_dir() and not any(p.suffix in _WEIGHT_SUFFIXES for p in folder.iterdir()):
        log.warning("%s holds no weights file: the model has random weights", folder)


def _resolve_checkpoint(name: str, path: Path) -> tuple[str, str | None, Path | None]:
    """A folder with open_clip_config.json loads as-is; a weights file goes into `name`'s architecture."""
    if not path.exists():
        raise ModelError(f"checkpoint {path} does not exist: pass an existing weights file or folder")
    if path.is_dir():
        if (path / "open_clip_config.json").is_file():
            return "local-dir:" + str(path), None, None
        weights = sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES)
        if not weights:
            raise ModelError(
                f"checkpoint folder {path} holds neither open_clip_config.json nor a weights file "
                f"({', '.join(_WEIGHT_SUFFIXES)})"
            )
        path = weights[0]
    if not name.startswith("local-dir:"):
        _check_known(name, None)
    return name, None, path


def _check_known(name: str, tag: str | None) -> None:
    import open_clip

    if name not in open_clip.list_models():
        raise ModelError(
            f"unknown model {name!r}: use an open_clip model name (see open_clip.list_models(), "
            "e.g. ViT-B-32), 'demo', 'hf-hub:org/repo' or 'local-dir:/path'"
        )
    tags = open_clip.list_pretrained_tags_by_model(name)
    if tag and tag not in tags and not os.path.isfile(tag):
        raise ModelError(
            f"unknown pretrained tag {tag!r} for {name}: use one of {', '.join(tags) or '(none)'}, "
            "'none' for random weights, or --checkpoint FILE"
        )


def load_encoder(spec: ModelSpec) -> "Encoder":
    """Build the model and tokenizer for `spec`, in eval mode on its device."""
    import open_clip

    model_name, pretrained, weights = _resolve(spec)
    device = pick_device(spec.device)
    try:
        model, _, _ = open_clip.create_model_and_transforms(
            model_name, pretrained=pretrained, device=device
        )
        if weights is not None:
            open_clip.load_checkpoint(model, str(weights), device=device)
        tokenizer = open_clip.get_tokenizer(model_name)
    except ModelError:
        raise
    except Exception as exc:  # open_clip raises many types (RuntimeError, OSError, KeyError...)
        raise ModelError(_load_failure(spec, exc)) from exc
    model.eval()
    precision = pick_precision(spec.precision, device)
    if precision == "bf16" and device == "cpu":
        import torch

        model = model.to(torch.bfloat16)  # whole-model bf16: autocast on CPU measured slower
    log.debug("%s on %s in %s", spec.identity, device, precision)
    return Encoder(
        model=model, tokenizer=tokenizer, device=device, identity=spec.identity, precision=precision
    )


def _load_failure(spec: ModelSpec, exc: Exception) -> str:
    tagged = spec.pretrained and not spec.name.startswith(("hf-hub:", "local-dir:", "demo"))
    what = spec.checkpoint or (f"{spec.name} ({spec.pretrained})" if tagged else spec.name)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = first if len(first) <= 200 else first[:200] + "..."
    if "weights only load failed" in first.lower() or "invalid load key" in first.lower():
        first = "not a valid PyTorch or safetensors checkpoint file"  # torch's advice to unpickle it is unsafe
    if spec.checkpoint:
        return f"cannot load checkpoint {what}: {first}; is it a CLIP state dict for {spec.name}?"
    return f"cannot load weights for {what}: {first}; {_HUB_HINT}"


@dataclass(frozen=True)
class InputSpec:
    """How frames must be sized for the model."""

    size: int  # the model's square input side (pixels)
    resize_mode: str  # "shortest" (resize short side, centre crop), "squash", or "longest" (pad)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) a decoder should resize a `width` x `height` frame to."""
        if self.resize_mode == "squash":
            return self.size, self.size
        scale = self.size / (min(width, height) if self.resize_mode == "shortest" else max(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))


class Encoder:
    """A loaded CLIP: embeds frames and texts; all outputs are (N, D) float32, L2-normalised."""

    def __init__(
        self, *, model: Any, tokenizer: Any, device: str, identity: str, precision: str = "fp32"
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.identity = identity
        self.precision = precision  # fp32, bf16 or fp16 (resolved; see `pick_precision`)
        self.input = _input_spec(model)
        self.context_length = int(getattr(tokenizer, "context_length", 77) or 77)
        param = next(model.parameters(), None)  # bfloat16 where bf16 on CPU cast the whole model
        self.input_dtype = param.dtype if param is not None else None  # what encode_image takes

    def encode_frames(self, pixels: np.ndarray) -> np.ndarray:
        """Embed decoded frames (N, H, W, 3) uint8, sized by `input.decode_size`."""
        import torch

        if len(pixels) == 0:
            return np.zeros((0, self.embed_dim), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(_fit_square(pixels, self.input)))
        # (N, 3, S, S) uint8, made contiguous while it is still bytes: the float arithmetic below
        # then runs on contiguous memory (16 frames: 1.3 ms instead of 3.3; the same embeddings)
        x = x.to(self.device).permute(0, 3, 1, 2).contiguous()
        # (x / 255 - mean) / std as one scale and one shift, in place
        std = torch.tensor(self.input.std, device=self.device).view(1, 3, 1, 1)
        mean = torch.tensor(self.input.mean, device=self.device).view(1, 3, 1, 1)
        x = x.float().mul_(1.0 / (255.0 * std)).sub_(mean / std)
        x = x.to(self.input_dtype) if self.input_dtype is not None else x
        with self.inference():
            feats = self.model.encode_image(x)
        return _normalise(feats)

    def default_streams(self) -> int:
        """How many chunks `encode_frames` should embed at once: two on a CPU where torch has two
        threads or more, else one. A CPU that the decoder shares is then used better: one OpenMP
        team across all the cores spins while the decoder holds one of them (docs/benchmarks.md)."""
        import torch

        return 2 if self.device == "cpu" and torch.get_num_threads() >= 2 else 1

    @contextlib.contextmanager
    def streams(self, count: int) -> Iterator[Callable[[], None] | None]:
        """While `count` threads run `encode_frames` at once: the setup each thread runs first (on
        CPU, its share of torch's threads), or None; torch's thread count is restored after (it is
        the process's: set in each thread, read by threads torch starts later)."""
        if count <= 1 or self.device != "cpu":
            yield None
            return
        import torch

        threads = torch.get_num_threads()
        share = max(1, threads // count)
        try:
            yield lambda: torch.set_num_threads(share)
        finally:
            torch.set_num_threads(threads)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts that fit the context (see `text.chunk_text` for longer ones)."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        with self.inference():
            feats = self.model.encode_text(tokens)
        return _normalise(feats)

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in the context, start and end tokens included."""
        encode = getattr(self.tokenizer, "encode", None)
        if callable(encode):
            return len(encode(text)) + 2
        inner = getattr(self.tokenizer, "tokenizer", None)  # open_clip's HFTokenizer
        if inner is not None:
            return len(inner(text)["input_ids"])
        return 0  # unknown tokenizer: trust it to handle length

    @property
    def embed_dim(self) -> int:
        """Width of the joint embedding space."""
        return int(self.model.text_projection.shape[-1]) if _has_proj(self.model) else self._probe_dim()

    def _probe_dim(self) -> int:
        return int(self.encode_texts(["a"]).shape[1])

    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """The context the model runs in: inference mode, and fp16 or bf16 autocast on a GPU (on
        CPU, bf16 is the model's own dtype instead)."""
        import torch

        autocast: Any = contextlib.nullcontext()
        if self.device.startswith(("cuda", "mps")) and self.precision in ("fp16", "bf16"):
            dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
            autocast = torch.autocast(self.device.split(":")[0], dtype=dtype)
        with torch.inference_mode(), autocast:
            yield


def _has_proj(model: Any) -> bool:
    proj = getattr(model, "text_projection", None)
    return proj is not None and hasattr(proj, "shape")


def _input_spec(model: Any) -> InputSpec:
    import open_clip

    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg.get("size", 224)
    size = size[0] if isinstance(size, (tuple, list)) else size
    return InputSpec(
        size=int(size),
        resize_mode=str(cfg.get("resize_mode", "shortest")),
        mean=tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),  # type: ignore[arg-type]
        std=tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD)),  # type: ignore[arg-type]
    )


def _fit_square(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Centre-crop ("shortest") or zero-pad ("longest") decoded frames to S x S."""
    s = spec.size
    _, h, w, _ = pixels.shape
    if (h, w) == (s, s):
        return pixels
    if spec.resize_mode == "longest":
        out = np.zeros((len(pixels), s, s, 3), np.uint8)
        top, left = (s - min(h, s)) // 2, (s - min(w, s)) // 2
        out[:, top : top + min(h, s), left : left + min(w, s)] = pixels[:, :s, :s]
        return out
    if h < s or w < s:  # decoder rounding left a side short: pad by edge replication
        pixels = np.pad(pixels, ((0, 0), (0, max(0, s - h)), (0, max(0, s - w)), (0, 0)), mode="edge")
        h, w = pixels.shape[1:3]
    top, left = (h - s) // 2, (w - s) // 2
    return pixels[:, top : top + s, left : left + s]


def _normalise(feats: Any) -> np.ndarray:
    return unit_rows(feats.float().cpu().numpy()).astype(np.float32)  # (N, D)
