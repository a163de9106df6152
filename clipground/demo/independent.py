"""A second renderer of the demo domain, written apart from `render.py`, for evaluation only.

Never train on it: it exists so that the demo model is measured on frames drawn by another hand.
It shares only the vocabulary with `render.py` (class names, captions, the truth record); the drawing,
the colours, the backgrounds, the motion and the encoders are its own:

- shapes are polygons drawn with PIL `ImageDraw` on a 4x supersampled mask, box-filtered down;
  squares may be slightly oblong, triangles of several proportions, crosses of several arm widths,
  each rotated (squares and crosses by up to 25 degrees, triangles by any angle);
- colours are drawn per scene from per-name HSV ranges (`COLOUR_HSV`) that a person would still call
  by that name;
- backgrounds span the whole brightness range: plain, linear gradients in any direction, pixel noise
  (redrawn every frame), blocky noise and stripes at several scales (`BACKGROUND_KINDS`);
- the object is 10-40% of the frame height; a distractor (another class: it may share the colour or
  the shape) is 0.5-1.6 times as large;
- frames of many sizes and aspect ratios (landscape, square, portrait, wide), encoded as H.264
  (CRF 18-35), VP9 or MPEG-4 part 2.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from clipground.demo.render import COLOURS, SHAPES, caption

# name -> ((hue lo, hue hi) in degrees, may wrap below 0; (saturation lo, hi); (value lo, hi))
COLOUR_HSV: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "red": ((-8.0, 6.0), (0.75, 1.0), (0.70, 1.0)),
    "orange": ((22.0, 33.0), (0.80, 1.0), (0.90, 1.0)),
    "yellow": ((50.0, 60.0), (0.75, 1.0), (0.88, 1.0)),
    "green": ((100.0, 140.0), (0.60, 1.0), (0.50, 0.85)),
    "cyan": ((178.0, 192.0), (0.60, 1.0), (0.80, 1.0)),
    "blue": ((215.0, 235.0), (0.70, 1.0), (0.70, 1.0)),
    "purple": ((272.0, 290.0), (0.55, 0.85), (0.50, 0.80)),
    "white": ((0.0, 360.0), (0.0, 0.05), (0.93, 1.0)),
}
BACKGROUND_KINDS: tuple[str, ...] = ("plain", "gradient", "pixel_noise", "blocky_noise", "stripes")
TEXTURE_KINDS: tuple[str, ...] = ("pixel_noise", "blocky_noise", "stripes")
FRAME_SIZES: tuple[tuple[int, int], ...] = (
    (640, 360), (854, 480), (480, 360), (360, 360), (288, 512), (768, 320), (400, 300), (320, 180))
CODECS: tuple[str, ...] = ("h264", "vp9", "mpeg4")
SUFFIX = {"h264": ".mp4", "vp9": ".webm", "mpeg4": ".mp4"}
SIZE_RANGE_FRAC = (0.10, 0.40)  # object height / frame height
DISTRACTOR_SCALE = (0.5, 1.6)  # distractor size / object size
MIN_CONTRAST = 100.0  # RGB distance between every background anchor colour and each object colour
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Shape:
    """One drawn object: its outline parameters, colour, and linear motion (bouncing off edges)."""

    shape: str
    colour: str
    rgb: tuple[int, int, int]
    size_frac: float  # nominal height / frame height
    aspect: float  # width / height of the unrotated outline (squares); 1 for circles
    param: float  # triangle: base / height; cross: arm width / size; otherwise unused
    angle_deg: float
    x: float  # centre in pixels at t=0
    y: float
    vx: float = 0.0  # pixels per second
    vy: float = 0.0


@dataclass(frozen=True)
class Backdrop:
    """A background: a plain or gradient base, plus an optional texture."""

    kind: str
    colour_a: tuple[int, int, int]
    colour_b: tuple[int, int, int]
    angle_rad: float
    amplitude: float  # texture strength in 0-255 levels
    scale_px: float  # texture scale: block size, or stripe period

    def __post_init__(self) -> None:
        if self.kind not in BACKGROUND_KINDS:
            raise ValueError(f"background kind must be in {BACKGROUND_KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class Part:
    """One segment of a video to write: shape/colour None means background only."""

    duration_s: float
    shape: str | None = None
    colour: str | None = None
    moving: bool = False
    distractor: bool = False
    background: str | None = None  # a BACKGROUND_KINDS entry, or None for a random one

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError(f"duration_s must be positive, got {self.duration_s}")
        if (self.shape is None) != (self.colour is None):
            raise ValueError(f"shape and colour must both be set or both be None: {self}")
        if self.shape is not None and (self.shape not in SHAPES or self.colour not in COLOURS):
            raise ValueError(f"unknown class {self.colour} {self.shape}")
        if self.background is not None and self.background not in BACKGROUND_KINDS:
            raise ValueError(f"background must be in {BACKGROUND_KINDS}, got {self.background!r}")


@dataclass(frozen=True)
class PartTruth:
    """Ground truth of one written part, in presentation time, with what it shows."""

    shape: str | None
    colour: str | None
    caption: str | None
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int  # exclusive
    background: str
    background_value: float  # mean brightness of the background anchors, 0-1
    size_frac: float | None
    distractor: str  # "none", "smaller" or "larger"
    distractor_class: tuple[str, str] | None  # (shape, colour)
    moving: bool


@dataclass(frozen=True)
class Scene:
    """What a part shows: a backdrop, maybe an object, maybe a distractor."""

    backdrop: Backdrop
    main: Shape | None
    extra: Shape | None


def named_rgb(rng: np.random.Generator, colour: str) -> tuple[int, int, int]:
    """A random RGB value a person would call `colour`, from its HSV range."""
    (h0, h1), (s0, s1), (v0, v1) = COLOUR_HSV[colour]
    h = (float(rng.uniform(h0, h1)) % 360.0) / 360.0
    r, g, b = colorsys.hsv_to_rgb(h, float(rng.uniform(s0, s1)), float(rng.uniform(v0, v1)))
    return round(r * 255), round(g * 255), round(b * 255)


def random_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    part: Part,
) -> Scene:
    """A random scene for a part at a frame size."""
    main = extra = None
    if part.shape is not None and part.colour is not None:
        main = _random_shape(rng, part.shape, part.colour, float(rng.uniform(*SIZE_RANGE_FRAC)),
                             width, height, part.moving)
        if part.distractor:
            extra = _random_distractor(rng, main, width, height)
    kind = part.background or str(rng.choice(BACKGROUND_KINDS))
    avoid = [s.rgb for s in (main, extra) if s is not None]
    return Scene(_random_backdrop(rng, kind, avoid, width, height), main, extra)


def draw_frame(
    rng: np.random.Generator, width: int, height: int, scene: Scene, t_s: float,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """The scene at t_s as (height, width, 3) uint8; `base` is the static backdrop, if computed."""
    img = (backdrop_base(rng, width, height, scene.backdrop) if base is None else base).copy()
    if scene.backdrop.kind == "pixel_noise":
        img += rng.normal(0.0, scene.backdrop.amplitude, (height, width, 1)).astype(np.float32)
    for shape in (scene.extra, scene.main):
        if shape is not None:
            _paint(img, shape, t_s)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def backdrop_base(rng: np.random.Generator, width: int, height: int, bd: Backdrop) -> np.ndarray:
    """The static part of a backdrop as float32 (height, width, 3): base plus static texture."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    a, b = np.array(bd.colour_a, np.float32), np.array(bd.colour_b, np.float32)
    proj = xx * math.cos(bd.angle_rad) + yy * math.sin(bd.angle_rad)
    t = (proj - proj.min()) / max(1e-6, float(proj.max() - proj.min()))
    img = a + (b - a) * t[..., None]
    if bd.kind == "blocky_noise":
        cells = rng.normal(0.0, bd.amplitude, (height // int(bd.scale_px) + 2,
                                               width // int(bd.scale_px) + 2, 1))
        step = int(bd.scale_px)
        img += np.repeat(np.repeat(cells, step, 0), step, 1)[:height, :width].astype(np.float32)
    elif bd.kind == "stripes":
        theta = float(rng.uniform(0, math.pi))
        phase = xx * math.cos(theta) + yy * math.sin(theta)
        wave = np.sign(np.sin(2 * math.pi * phase / bd.scale_px))
        img += (bd.amplitude * wave)[..., None]
    return img.astype(np.float32)


def encode(
    path: str | Path, frames: Iterable[np.ndarray], fps: int, codec: str, quality: int
) -> int:
    """Encode RGB frames with `codec` (h264: CRF, vp9: CRF, mpeg4: qscale); returns the count."""
    import av

    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    fmt = "webm" if codec == "vp9" else "mp4"
    n, stream = 0, None
    with av.open(str(path), mode="w", format=fmt) as container:
        for img in frames:
            if stream is None:
                stream = _stream(container, codec, quality, fps, img.shape[1], img.shape[0])
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = n
            container.mux(stream.encode(frame))
            n += 1
        if stream is not None:
            container.mux(stream.encode(None))
    return n


def random_encoding(rng: np.random.Generator) -> tuple[str, int]:
    """A codec and its quality setting: H.264 CRF 18-35, VP9 CRF 20-45, MPEG-4 qscale 2-10."""
    codec = str(rng.choice(CODECS, p=[0.5, 0.25, 0.25]))
    lo, hi = {"h264": (18, 35), "vp9": (20, 45), "mpeg4": (2, 10)}[codec]
    return codec, int(rng.integers(lo, hi, endpoint=True))


def write_video(
    path: str | Path,
    parts: Sequence[Part],
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    codec: str = "h264",
    quality: int = 28,
    seed: int = 0,
) -> list[PartTruth]:
    """Write the parts as one video and return their ground truth (deterministic in seed)."""
    rng = np.random.default_rng(seed)
    width, height = size
    scenes = [random_scene(rng, width, height, p) for p in parts]
    truths = _truths(parts, scenes, fps, height)
    encode(path, _frames(rng, scenes, truths, fps, size), fps, codec, quality)
    return truths


def _truths(parts: Sequence[Part], scenes: Sequence[Scene], fps: int, height: int) -> list[PartTruth]:
    out, start = [], 0
    for part, scene in zip(parts, scenes):
        end = start + max(1, round(part.duration_s * fps))
        m, e = scene.main, scene.extra
        rel = "none" if m is None or e is None else ("larger" if e.size_frac > m.size_frac
                                                      else "smaller")
        bd = scene.backdrop
        value = (sum(bd.colour_a) + sum(bd.colour_b)) / (6 * 255)
        out.append(PartTruth(
            part.shape, part.colour,
            caption(part.shape, part.colour) if part.shape and part.colour else None,
            start / fps, end / fps, start, end, bd.kind, round(value, 3),
            None if m is None else round(m.size_frac, 3), rel,
            None if e is None else (e.shape, e.colour), part.moving))
        start = end
    return out


def _frames(
    rng: np.random.Generator, scenes: Sequence[Scene], truths: Sequence[PartTruth], fps: int,
    size: tuple[int, int],
) -> Iterator[np.ndarray]:
    width, height = size
    for scene, truth in zip(scenes, truths):
        base = backdrop_base(rng, width, height, scene.backdrop)
        for i in range(truth.end_frame - truth.start_frame):
            yield draw_frame(rng, width, height, scene, i / fps, base)


def _stream(container, codec: str, quality: int, fps: int, width: int, height: int):
    name = {"h264": "libx264", "vp9": "libvpx-vp9", "mpeg4": "mpeg4"}[codec]
    stream = container.add_stream(name, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = Fraction(1, fps)
    stream.codec_context.time_base = Fraction(1, fps)
    if codec == "h264":
        stream.options = {"crf": str(quality), "preset": "fast", "bf": "0"}
    elif codec == "vp9":
        stream.options = {"crf": str(quality), "b": "0", "deadline": "realtime", "cpu-used": "8"}
    else:
        stream.codec_context.qscale = quality
        stream.options = {"qscale": str(quality)}
    return stream


def _random_shape(
    rng: np.random.Generator, shape: str, colour: str, size_frac: float, width: int, height: int,
    moving: bool,
) -> Shape:
    aspect = float(rng.uniform(0.85, 1.18)) if shape == "square" else 1.0
    param = {"triangle": float(rng.uniform(0.85, 1.3)), "cross": float(rng.uniform(0.22, 0.40))
             }.get(shape, 0.0)
    spin = 180.0 if shape == "triangle" else (25.0 if shape in ("square", "cross") else 0.0)
    r = size_frac * height * 0.75  # keep the whole outline inside the frame at t=0
    x = float(rng.uniform(r, max(r + 1, width - r)))
    y = float(rng.uniform(r, max(r + 1, height - r)))
    speed = float(rng.uniform(0.1, 0.3)) * height if moving else 0.0
    heading = float(rng.uniform(0, 2 * math.pi))
    return Shape(shape, colour, named_rgb(rng, colour), size_frac, aspect, param,
                 float(rng.uniform(-spin, spin)), x, y, speed * math.cos(heading),
                 speed * math.sin(heading))


def _random_distractor(rng: np.random.Generator, main: Shape, width: int, height: int) -> Shape:
    """Another class (it may share the colour or the shape), placed apart from the main object."""
    while True:
        shape, colour = str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS)))
        if (shape, colour) != (main.shape, main.colour):
            break
    size = float(np.clip(main.size_frac * rng.uniform(*DISTRACTOR_SCALE), 0.08, 0.45))
    best = None
    for _ in range(40):  # the far-away-enough start position, else the farthest tried
        cand = _random_shape(rng, shape, colour, size, width, height, moving=False)
        gap = math.hypot(cand.x - main.x, cand.y - main.y) - 0.75 * height * (size + main.size_frac)
        if best is None or gap > best[0]:
            best = (gap, cand)
        if gap > 0:
            break
    assert best is not None
    return best[1]


def _random_backdrop(
    rng: np.random.Generator, kind: str, avoid: Sequence[tuple[int, int, int]], width: int,
    height: int,
) -> Backdrop:
    amplitude = {"pixel_noise": rng.uniform(8, 35), "blocky_noise": rng.uniform(10, 35),
                 "stripes": rng.uniform(10, 30)}.get(kind, 0.0)
    a = _backdrop_colour(rng, avoid, float(amplitude))
    gradient = kind == "gradient" or (kind in TEXTURE_KINDS and rng.uniform() < 0.4)
    b = _backdrop_colour(rng, avoid, float(amplitude)) if gradient else a
    scale = {"blocky_noise": rng.choice([3, 6, 12, 24]),
             "stripes": rng.uniform(0.02, 0.15) * min(width, height)}.get(kind, 1.0)
    return Backdrop(kind, a, b, float(rng.uniform(0, 2 * math.pi)), float(amplitude),
                    max(2.0, float(scale)))


def _backdrop_colour(
    rng: np.random.Generator, avoid: Sequence[tuple[int, int, int]], amplitude: float
) -> tuple[int, int, int]:
    """A backdrop colour over the whole brightness range, far enough from the objects' colours."""
    targets = np.array(avoid, np.float64).reshape(-1, 3)
    while True:
        h, s, v = rng.uniform(), rng.uniform(0.0, 0.6), rng.uniform(0.03, 0.97)
        rgb = np.array(colorsys.hsv_to_rgb(h, s, v)) * 255
        far = not len(targets) or np.linalg.norm(targets - rgb, axis=1).min() >= (
            MIN_CONTRAST + amplitude)
        if far:
            r, g, b = np.rint(rgb).astype(int).tolist()
            return int(r), int(g), int(b)


def outline(shape: Shape) -> list[tuple[float, float]] | None:
    """Polygon vertices in units of the size, centred on 0, rotated; None for a circle."""
    a, p = shape.aspect, shape.param
    if shape.shape == "circle":
        return None
    if shape.shape == "square":
        pts = [(-a / 2, -0.5), (a / 2, -0.5), (a / 2, 0.5), (-a / 2, 0.5)]
    elif shape.shape == "triangle":
        pts = [(0.0, -0.5), (p / 2, 0.5), (-p / 2, 0.5)]
    else:
        w = p / 2
        pts = [(-w, -0.5), (w, -0.5), (w, -w), (0.5, -w), (0.5, w), (w, w), (w, 0.5), (-w, 0.5),
               (-w, w), (-0.5, w), (-0.5, -w), (-w, -w)]
    c, s = math.cos(math.radians(shape.angle_deg)), math.sin(math.radians(shape.angle_deg))
    return [(x * c - y * s, x * s + y * c) for x, y in pts]


def position(shape: Shape, t_s: float, width: int, height: int) -> tuple[float, float]:
    """Centre in pixels at t_s: linear motion reflected off the frame edges."""
    r = shape.size_frac * height / 2
    return (_reflect(shape.x + shape.vx * t_s, r, width - r),
            _reflect(shape.y + shape.vy * t_s, r, height - r))


def _reflect(p: float, lo: float, hi: float) -> float:
    span = hi - lo
    if span <= 0:
        return (lo + hi) / 2
    u = (p - lo) % (2 * span)
    return lo + (u if u <= span else 2 * span - u)


def _paint(img: np.ndarray, shape: Shape, t_s: float) -> None:
    """Blend the anti-aliased shape into img (float32, in place)."""
    height, width = img.shape[:2]
    cx, cy = position(shape, t_s, width, height)
    size = shape.size_frac * height
    half = math.ceil(size * 0.75) + 2
    x0, y0 = math.floor(cx) - half, math.floor(cy) - half
    n = 2 * half
    k = SUPERSAMPLE
    mask = Image.new("L", (n * k, n * k), 0)
    draw = ImageDraw.Draw(mask)
    ox, oy = (cx - x0) * k, (cy - y0) * k  # the centre in mask pixels
    pts = outline(shape)
    if pts is None:
        r = size * k / 2
        draw.ellipse([ox - r, oy - r, ox + r, oy + r], fill=255)
    else:
        draw.polygon([(ox + x * size * k, oy + y * size * k) for x, y in pts], fill=255)
    alpha = np.asarray(mask.resize((n, n), Image.Resampling.BOX), np.float32)[..., None] / 255.0
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(width, x0 + n), min(height, y0 + n)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    a = alpha[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    patch = img[sy0:sy1, sx0:sx1]
    img[sy0:sy1, sx0:sx1] = patch + (np.array(shape.rgb, np.float32) - patch) * a
