"""Shared fixtures: small test videos written with PyAV, and the real-world corpus location."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "realvideos"

# Six levels per channel, 51 apart: a frame's index survives lossy coding and resizing.
_LEVELS = 6
_STEP = 51
MAX_CODED_INDEX = _LEVELS**3


def colour_for(index: int) -> tuple[int, int, int]:
    """The solid RGB colour that encodes frame `index` (0 <= index < 216)."""
    if not 0 <= index < MAX_CODED_INDEX:
        raise ValueError(f"index {index} cannot be colour-coded (0..{MAX_CODED_INDEX - 1})")
    digits = (index // _LEVELS**2, (index // _LEVELS) % _LEVELS, index % _LEVELS)
    return tuple(d * _STEP for d in digits)  # type: ignore[return-value]


def index_from_pixels(pixels: np.ndarray) -> int:
    """Read back the index written by `colour_for` from an (H, W, 3) frame's central region."""
    h, w = pixels.shape[:2]
    centre = pixels[h // 4 : h - h // 4 or None, w // 4 : w - w // 4 or None].reshape(-1, 3)
    digits = np.clip(np.rint(centre.mean(axis=0) / _STEP), 0, _LEVELS - 1).astype(int)
    return int(digits[0] * _LEVELS**2 + digits[1] * _LEVELS + digits[2])


def solid_frames(n: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """`n` (H, W, 3) frames, frame i filled with `colour_for(i)`."""
    return [np.full((height, width, 3), colour_for(i), dtype=np.uint8) for i in range(n)]


def arrow_image(width: int = 64, height: int = 48) -> np.ndarray:
    """An asymmetric upright test image: red top band, green left band, blue elsewhere."""
    img = np.zeros((height, width, 3), dtype=np.uint8)
    img[:, :, 2] = 255
    img[: height // 4] = (255, 0, 0)
    img[height // 4 :, : width // 4] = (0, 255, 0)
    return img


# Near-lossless settings so colour-coded indices read back exactly.
_CODEC_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"crf": "1", "preset": "veryfast"},
    "mpeg4": {"qscale": "2"},
    "mjpeg": {"qscale": "2"},
    "libvpx-vp9": {"lossless": "1", "deadline": "realtime", "cpu-used": "8"},
}


def make_video(
    path: Path,
    frames: Sequence[np.ndarray],
    *,
    fps: int = 25,
    codec: str = "libx264",
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int | None = None,
    b_frames: int | None = None,
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
    options: dict[str, str] | None = None,
    audio: bool = False,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Write `frames` (display order, (H, W, 3) uint8) to `path`; optional explicit pts (VFR).

    `rotation` is the display-matrix angle as PyAV reads it back on frames (`frame.rotation`,
    counter-clockwise; -90 = the player turns the stored picture 90 degrees clockwise).
    `container_options` go to the muxer (e.g. {"movflags": "faststart"}).
    """
    time_base = time_base or Fraction(1, fps)
    with av.open(str(path), mode="w", options=container_options or {}) as container:
        opts = {**_CODEC_OPTIONS.get(codec, {}), **(options or {})}
        if gop is not None and codec == "libx264":
            opts.setdefault("sc_threshold", "0")  # else x264 cuts a GOP at every colour change
        stream = container.add_stream(codec, rate=fps, options=opts)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = time_base
        if b_frames is not None:
            stream.codec_context.max_b_frames = b_frames
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        audio_stream = container.add_stream("aac", rate=44100) if audio else None
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = pts[i] if pts is not None else i * round(1 / (fps * time_base))
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio_stream is not None:
            _write_silence(container, audio_stream, seconds=len(frames) / fps)
    return path


def make_audio_only(path: Path, seconds: float = 0.5) -> Path:
    """Write an audio-only file (AAC in MP4) to `path`."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=44100)
        _write_silence(container, stream, seconds)
    return path


def _write_silence(container: av.container.OutputContainer, stream, seconds: float) -> None:
    """Encode `seconds` of silence to `stream` in 1024-sample frames."""
    samples, pts = int(seconds * 44100), 0
    while pts < samples:
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 44100, pts
        container.mux(stream.encode(frame))
        pts += 1024
    container.mux(stream.encode())


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide folder for generated videos (written once, read by many tests)."""
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def cfr_video(video_dir: Path) -> Path:
    """50 frames at 25 fps (2.0 s), 64x48 H.264 with B-frames, frame i coloured `colour_for(i)`."""
    return make_video(video_dir / "cfr25.mp4", solid_frames(50), fps=25, b_frames=2)


@pytest.fixture(scope="session")
def make_video_at(video_dir: Path) -> Callable[..., Path]:
    """`make_video` writing into the session folder under `name`."""

    def make(name: str, frames: Sequence[np.ndarray], **kwargs) -> Path:
        return make_video(video_dir / name, frames, **kwargs)

    return make


def torch_threads() -> int:
    """Torch's process-wide thread count, as a thread started now reads it (the calling thread
    keeps its own once set)."""
    import torch

    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return seen[0]


def real_videos_dir() -> Path:
    """The shared real-video corpus; tests that need it skip (with a reason) only if absent."""
    if not REAL_VIDEOS.is_dir():
        pytest.skip(f"real-video corpus not found at {REAL_VIDEOS}")
    return REAL_VIDEOS


TINY_CLIP_CONFIG = Path(__file__).parent / "data" / "tiny_clip" / "open_clip_config.json"


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny open_clip architecture with seeded random weights saved beside it: a `local-dir:` model."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("tiny_clip")
    (folder / "open_clip_config.json").write_text(TINY_CLIP_CONFIG.read_text())
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{TINY_CLIP_CONFIG.parent}")
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(weights, folder / "open_clip_model.safetensors")
    return f"local-dir:{folder}"


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Commands cache embeddings by default: keep the tests' cache out of the user's home."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("CLIPGROUND_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A $CLIPGROUND_SERVER (or token) of the person running the tests must not reroute commands."""
    monkeypatch.delenv("CLIPGROUND_SERVER", raising=False)
    monkeypatch.delenv("CLIPGROUND_TOKEN", raising=False)


# Leading pictures (shown before their GOP's keyframe, referring to the GOP before): x264 with
# open-gop, x265 (open GOP by default), and MPEG-4 here (its encoder makes an I-frame of every
# anchor of these colour changes, with B-frames between).
OPEN_GOPS = {"h264_open_gop", "hevc_b_frames", "mpeg4_b_frames"}
ENCODINGS = {  # name: make_video keyword arguments
    "h264_gop12": {"gop": 12},
    "h264_intra": {"gop": 1},
    "h264_b_pyramid": {"gop": 12, "b_frames": 3, "options": {"b-pyramid": "normal"}},
    "h264_open_gop": {"gop": 12, "b_frames": 3, "options": {"x264-params": "open-gop=1"}},
    "hevc_b_frames": {"codec": "libx265", "gop": 12, "b_frames": 3,
                      "options": {"x265-params": "log-level=none"}},
    "vp9": {"codec": "libvpx-vp9", "gop": 12},
    "mjpeg": {"codec": "mjpeg", "pix_fmt": "yuvj420p"},
    "mpeg4_b_frames": {"codec": "mpeg4", "gop": 12, "b_frames": 2},
}


@pytest.fixture(scope="module", params=sorted(ENCODINGS))
def encoded(request: pytest.FixtureRequest, make_video_at: Callable[..., Path]) -> tuple[str, Path]:
    """120 colour-coded frames at 10 fps in each encoding (a wrong reference shows as a wrong colour):
    the videos of the packet-skipping and segment tests."""
    name = request.param
    suffix = ".mkv" if name == "vp9" else ".avi" if name == "mjpeg" else ".mp4"
    return name, make_video_at(f"skip_{name}{suffix}", solid_frames(120), fps=10, **ENCODINGS[name])
