"""Render the demo domain (flat-coloured shapes on plain, gradient or noisy backgrounds) as video.

The domain is the promise the demo model makes; training, the sample video, the benchmark and the
tests all draw from here so that they agree on it:

- shapes: circle, square, triangle (apex up), cross (a plus sign); upright, never rotated;
- colours: the eight in `COLOURS`, jittered by a few levels per scene;
- the main object is 10-40% of the frame height, anywhere in the frame, static or moving (it bounces
  off the frame edges);
- a distractor, when present, has another colour and another shape and is 40-65% of the main
  object's size, so the main object is always the salient one; it is drawn below the main object;
- backgrounds are plain, a linear gradient, or either of these with per-pixel noise; every
  background colour is at least `MIN_BACKGROUND_DISTANCE` (RGB, Euclidean) from the objects';
- a background-only scene ("nothing") has no object; its captions are `NOTHING_CAPTIONS`.

`random_wide_scene` draws from the whole domain the demo model promises, for training (domain
randomisation): colours anywhere between each name's exemplar RGB values (`COLOUR_EXEMPLARS`),
squares of other proportions, triangles of other widths, crosses of other arm widths, all rotated;
distractors larger or smaller than the object, of the same colour or the same shape; backgrounds
dark to light with per-pixel noise, blocky noise, stripes or checks at several scales.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (40, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (245, 220, 30),
    "orange": (250, 135, 20),
    "purple": (135, 40, 175),
    "white": (250, 250, 250),
    "cyan": (40, 215, 225),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
BACKGROUND_KINDS: tuple[str, ...] = ("plain", "gradient", "noise")
NOTHING_CAPTIONS: tuple[str, ...] = (
    "an empty background",
    "the empty background",
    "there is nothing",
    "a plain background.",
    "then an empty background.",
)
SIZE_RANGE_FRAC = (0.10, 0.40)  # main object height / frame height
DISTRACTOR_SCALE_RANGE = (0.40, 0.65)  # distractor size / main object size
MIN_BACKGROUND_DISTANCE = 120.0  # RGB distance between any background colour and an object colour
COLOUR_JITTER = 12  # per-channel jitter of object colours: the model learns names, not exact RGB

# Training colours: convex mixes of a name's exemplars, then a small per-channel jitter.
COLOUR_EXEMPLARS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "red": ((255, 0, 0), (200, 30, 30), (235, 20, 70), (170, 10, 20), (255, 50, 30)),
    "green": ((0, 200, 0), (40, 170, 50), (15, 120, 25), (70, 225, 90), (0, 150, 70),
              (100, 210, 40)),
    "blue": ((0, 0, 255), (30, 60, 220), (25, 100, 255), (15, 25, 165), (70, 80, 235)),
    "yellow": ((255, 255, 0), (245, 220, 30), (255, 235, 90), (225, 205, 10)),
    "orange": ((255, 140, 0), (250, 110, 20), (255, 170, 45), (225, 115, 30)),
    "purple": ((135, 40, 175), (110, 0, 200), (165, 70, 215), (95, 20, 135), (150, 35, 165)),
    "white": ((255, 255, 255), (232, 232, 232), (240, 244, 255), (255, 250, 236)),
    "cyan": ((0, 255, 255), (40, 215, 225), (0, 195, 205), (90, 235, 245), (20, 200, 235)),
}
TEXTURES: tuple[str, ...] = ("none", "blocks", "stripes", "checks")
WIDE_MIN_BACKGROUND_DISTANCE = 80.0  # the wide scenes' object-background contrast floor (RGB)
WIDE_DISTRACTOR_SCALE_RANGE = (0.4, 1.6)

_CAPTION_TEMPLATES: tuple[str, ...] = (
    "{a} {c} {s}",
    "the {c} {s}",
    "there is {a} {c} {s}",
    "{a} {c} {s} moving around",
    "{a} {c} {s}.",
    "then {a} {c} {s}.",
)


def class_names() -> list[tuple[str, str]]:
    """The 32 (shape, colour) classes in a fixed order: colour-major, then shape."""
    return [(shape, colour) for colour in COLOURS for shape in SHAPES]


def caption(shape: str, colour: str) -> str:
    """The canonical caption of a class, e.g. "a red circle" or "an orange cross"."""
    return caption_variants(shape, colour)[0]


def caption_variants(shape: str, colour: str) -> list[str]:
    """Natural caption variants of a class; the first one is the canonical caption."""
    _check_class(shape, colour)
    article = "an" if colour[0] in "aeiou" else "a"
    return [t.format(a=article, c=colour, s=shape) for t in _CAPTION_TEMPLATES]


@dataclass(frozen=True)
class ShapeSpec:
    """One object of a scene; positions are fractions of the range where it fits in the frame."""

    shape: str
    colour: str
    rgb: tuple[int, int, int]  # the drawn colour: the named colour plus a small jitter
    size_frac: float  # object height / frame height; the object is as wide as it is high, in pixels
    x_frac: float  # centre at t=0: 0 = touching the left edge, 1 = touching the right edge
    y_frac: float  # centre at t=0: 0 = touching the top edge, 1 = touching the bottom edge
    vx_frac_per_s: float = 0.0  # velocity in frame widths per second (bounces off the edges)
    vy_frac_per_s: float = 0.0  # velocity in frame heights per second
    angle_rad: float = 0.0  # rotation about the centre
    aspect: float = 1.0  # square: width / height; triangle: base / height
    arm_frac: float = 1 / 3  # cross: arm thickness / size

    def __post_init__(self) -> None:
        _check_class(self.shape, self.colour)
        if not 0.0 < self.size_frac <= 1.0:
            raise ValueError(f"size_frac must be in (0, 1], got {self.size_frac}")
        if not (0.0 <= self.x_frac <= 1.0 and 0.0 <= self.y_frac <= 1.0):
            raise ValueError(f"x_frac, y_frac must be in [0, 1], got {self.x_frac}, {self.y_frac}")

    def centre_px(self, t_s: float, width: int, height: int) -> tuple[float, float, float]:
        """(cx, cy, size) in pixels at time t_s."""
        size = self.size_frac * height
        cx = _bounce(self.x_frac, self.vx_frac_per_s * width * t_s, size / 2, width - size / 2)
        cy = _bounce(self.y_frac, self.vy_frac_per_s * height * t_s, size / 2, height - size / 2)
        return cx, cy, size


@dataclass(frozen=True)
class Background:
    """A background: a linear gradient from colour_a to colour_b (equal: plain) plus grey noise."""

    kind: str
    colour_a: tuple[int, int, int]
    colour_b: tuple[int, int, int]
    angle_rad: float = 0.0  # gradient direction
    noise_std: float = 0.0  # per-pixel noise, in 0-255 levels, redrawn every frame
    texture: str = "none"  # a static pattern added on top: one of TEXTURES
    texture_amp: float = 0.0  # its amplitude, in 0-255 levels
    texture_px: float = 8.0  # its scale: block side, stripe period or check side, in pixels
    texture_seed: int = 0  # draws the blocks (the same every frame)

    def __post_init__(self) -> None:
        if self.kind not in BACKGROUND_KINDS:
            raise ValueError(f"background kind must be in {BACKGROUND_KINDS}, got {self.kind!r}")
        if self.texture not in TEXTURES:
            raise ValueError(f"texture must be in {TEXTURES}, got {self.texture!r}")


@dataclass(frozen=True)
class Scene:
    """What one frame (or one video segment) shows; main is None for a background-only scene."""

    background: Background
    main: ShapeSpec | None = None
    distractor: ShapeSpec | None = None


@dataclass(frozen=True)
class Segment:
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
        if self.shape is not None and self.colour is not None:
            _check_class(self.shape, self.colour)
        if self.background is not None and self.background not in BACKGROUND_KINDS:
            raise ValueError(f"background must be in {BACKGROUND_KINDS}, got {self.background!r}")


@dataclass(frozen=True)
class SegmentTruth:
    """Ground truth of one written segment, in presentation time; end_s is exclusive."""

    shape: str | None
    colour: str | None
    caption: str | None
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int  # exclusive


def random_scene(
    rng: np.random.Generator,
    shape: str | None,
    colour: str | None,
    *,
    distractor: bool = False,
    moving: bool = False,
    background: str | None = None,
) -> Scene:
    """A random scene showing a (shape, colour) object, or nothing when shape is None."""
    main = None if shape is None or colour is None else _random_spec(rng, shape, colour, moving)
    extra = _random_distractor(rng, main) if distractor and main is not None else None
    avoid = [s.rgb for s in (main, extra) if s is not None]
    kind = background or str(rng.choice(BACKGROUND_KINDS))
    return Scene(_random_background(rng, kind, avoid), main, extra)


def random_wide_scene(
    rng: np.random.Generator,
    shape: str | None,
    colour: str | None,
    *,
    distractor: bool = False,
    moving: bool = False,
) -> Scene:
    """A scene from the whole promised domain (training's domain randomisation; see the module)."""
    main = None
    if shape is not None and colour is not None:
        main = _wide_spec(rng, shape, colour, float(rng.uniform(*SIZE_RANGE_FRAC)), moving)
    extra = _wide_distractor(rng, main) if distractor and main is not None else None
    avoid = [s.rgb for s in (main, extra) if s is not None]
    return Scene(_wide_background(rng, avoid), main, extra)


def render_frame(
    rng: np.random.Generator, width: int, height: int, scene: Scene, t_s: float = 0.0
) -> np.ndarray:
    """Draw a scene at time t_s as an (height, width, 3) uint8 RGB frame; rng draws the noise."""
    img = _render_background(rng, width, height, scene.background)
    for spec in (scene.distractor, scene.main):  # main drawn last: it stays whole when they meet
        if spec is not None:
            _draw_shape(img, spec, t_s)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def encode_h264(
    target: str | Path | BinaryIO,
    frames: Iterable[np.ndarray],
    fps: int,
    crf: int = 30,
    preset: str = "veryfast",
) -> int:
    """Encode RGB uint8 frames as H.264 yuv420p mp4, frame i at pts i/fps; returns the count."""
    import av  # here so that importing the renderer stays cheap

    n = 0
    with av.open(target, mode="w", format="mp4") as container:
        stream = None
        for img in frames:
            if stream is None:
                stream = _open_stream(container, img.shape[1], img.shape[0], fps, crf, preset)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = n
            container.mux(stream.encode(frame))
            n += 1
        if stream is not None:
            container.mux(stream.encode(None))
    return n


def write_video(
    path: str | Path,
    segments: Sequence[Segment],
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    crf: int = 30,
    seed: int = 0,
) -> list[SegmentTruth]:
    """Write the segments as one H.264 mp4 (width, height = size) and return their ground truth."""
    rng = np.random.default_rng(seed)
    truths = _segment_truths(segments, fps)
    scenes = [
        random_scene(rng, s.shape, s.colour, distractor=s.distractor, moving=s.moving,
                     background=s.background)
        for s in segments
    ]
    frames = _segment_frames(rng, scenes, truths, fps, size)
    encode_h264(path, frames, fps, crf)
    return truths


def _segment_truths(segments: Sequence[Segment], fps: int) -> list[SegmentTruth]:
    """Frame-aligned ground truth: segment k covers frames [start_frame, end_frame)."""
    truths, start = [], 0
    for seg in segments:
        end = start + max(1, round(seg.duration_s * fps))
        text = None if seg.shape is None or seg.colour is None else caption(seg.shape, seg.colour)
        truths.append(SegmentTruth(seg.shape, seg.colour, text, start / fps, end / fps, start, end))
        start = end
    return truths


def _segment_frames(
    rng: np.random.Generator,
    scenes: Sequence[Scene],
    truths: Sequence[SegmentTruth],
    fps: int,
    size: tuple[int, int],
) -> Iterator[np.ndarray]:
    for scene, truth in zip(scenes, truths):
        for i in range(truth.end_frame - truth.start_frame):
            yield render_frame(rng, size[0], size[1], scene, i / fps)


def _open_stream(container, width: int, height: int, fps: int, crf: int, preset: str):
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = Fraction(1, fps)
    stream.codec_context.time_base = Fraction(1, fps)
    # No B-frames: decode order is presentation order, so pts stay i/fps with no edit-list shift.
    stream.options = {"crf": str(crf), "preset": preset, "bf": "0"}
    return stream


def _check_class(shape: str, colour: str) -> None:
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {tuple(COLOURS)}, got {colour!r}")


def _bounce(frac: float, offset_px: float, lo: float, hi: float) -> float:
    """Position lo + frac*(hi-lo) moved by offset_px, reflected off lo and hi like a ball."""
    span = hi - lo
    if span <= 0:
        return (lo + hi) / 2
    u = (frac * span + offset_px) % (2 * span)
    return lo + (u if u <= span else 2 * span - u)


def _jittered(rng: np.random.Generator, colour: str) -> tuple[int, int, int]:
    base = np.array(COLOURS[colour]) + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, 3)
    r, g, b = np.clip(base, 0, 255).tolist()
    return int(r), int(g), int(b)


def _random_spec(rng: np.random.Generator, shape: str, colour: str, moving: bool) -> ShapeSpec:
    size = float(rng.uniform(*SIZE_RANGE_FRAC))
    vx, vy = (rng.uniform(-0.25, 0.25, 2).tolist() if moving else (0.0, 0.0))
    return ShapeSpec(shape, colour, _jittered(rng, colour), size,
                     float(rng.uniform()), float(rng.uniform()), float(vx), float(vy))


def _random_distractor(rng: np.random.Generator, main: ShapeSpec) -> ShapeSpec:
    shape = str(rng.choice([s for s in SHAPES if s != main.shape]))
    colour = str(rng.choice([c for c in COLOURS if c != main.colour]))
    size = main.size_frac * float(rng.uniform(*DISTRACTOR_SCALE_RANGE))
    # Put the distractor on the far side of the frame so that the two start apart.
    x = float(rng.uniform(0.0, 0.3)) if main.x_frac > 0.5 else float(rng.uniform(0.7, 1.0))
    return ShapeSpec(shape, colour, _jittered(rng, colour), size, x, float(rng.uniform()))


def _mixed_colour(rng: np.random.Generator, colour: str) -> tuple[int, int, int]:
    """A convex mix of the name's exemplars, jittered a little."""
    ex = np.array(COLOUR_EXEMPLARS[colour], dtype=np.float64)
    weights = rng.dirichlet(np.full(len(ex), 0.5))
    rgb = weights @ ex + rng.integers(-8, 9, 3)
    r, g, b = np.clip(np.rint(rgb), 0, 255).astype(int).tolist()
    return int(r), int(g), int(b)


def _wide_spec(
    rng: np.random.Generator, shape: str, colour: str, size: float, moving: bool
) -> ShapeSpec:
    vx, vy = (rng.uniform(-0.3, 0.3, 2).tolist() if moving else (0.0, 0.0))
    turn = {"circle": 0.0, "triangle": math.pi}.get(shape, math.pi / 4)
    aspect = float(rng.uniform(0.8, 1.25)) if shape == "square" else float(rng.uniform(0.75, 1.4))
    return ShapeSpec(shape, colour, _mixed_colour(rng, colour), size, float(rng.uniform()),
                     float(rng.uniform()), float(vx), float(vy), float(rng.uniform(-turn, turn)),
                     aspect, float(rng.uniform(0.2, 0.42)))


def _wide_distractor(rng: np.random.Generator, main: ShapeSpec) -> ShapeSpec:
    """Another class: the same colour, the same shape (hard negatives) or neither."""
    kind = rng.uniform()
    other_shapes = [s for s in SHAPES if s != main.shape]
    other_colours = [c for c in COLOURS if c != main.colour]
    shape = main.shape if kind < 0.3 else str(rng.choice(other_shapes))
    colour = main.colour if 0.3 <= kind < 0.6 else str(rng.choice(other_colours))
    size = float(np.clip(main.size_frac * rng.uniform(*WIDE_DISTRACTOR_SCALE_RANGE), 0.06, 0.5))
    spec = _wide_spec(rng, shape, colour, size, moving=False)
    x = float(rng.uniform(0.0, 0.3)) if main.x_frac > 0.5 else float(rng.uniform(0.7, 1.0))
    return ShapeSpec(spec.shape, spec.colour, spec.rgb, size, x, spec.y_frac, 0.0, 0.0,
                     spec.angle_rad, spec.aspect, spec.arm_frac)


def _wide_background(
    rng: np.random.Generator, avoid: Sequence[tuple[int, int, int]]
) -> Background:
    """Dark to light, plain or gradient, maybe noisy, maybe with a static texture."""
    kind = str(rng.choice(BACKGROUND_KINDS))
    texture = str(rng.choice(TEXTURES))
    amp = float(rng.uniform(10.0, 40.0)) if texture != "none" else 0.0
    noise = float(rng.uniform(5.0, 40.0)) if kind == "noise" else 0.0
    margin = WIDE_MIN_BACKGROUND_DISTANCE + 0.5 * amp
    a = _wide_colour(rng, avoid, margin)
    b = a if kind == "plain" or (kind == "noise" and rng.uniform() < 0.5) else _wide_colour(
        rng, avoid, margin)
    scale = float(np.exp(rng.uniform(math.log(2.0), math.log(60.0))))
    return Background(kind, a, b, float(rng.uniform(0, 2 * math.pi)), noise, texture, amp,
                      scale, int(rng.integers(2**31)))


def _wide_colour(
    rng: np.random.Generator, avoid: Sequence[tuple[int, int, int]], margin: float
) -> tuple[int, int, int]:
    """Uniform in the RGB cube, or a grey or dark/light tint, at least `margin` from avoid."""
    targets = np.array(avoid, dtype=np.float64).reshape(-1, 3)
    while True:
        if rng.uniform() < 0.4:  # greys and tints: near-neutral, any brightness
            c = np.clip(rng.uniform(0, 255) + rng.normal(0, 18, 3), 0, 255)
        else:  # any colour, its saturation pulled towards its own grey by a random amount
            c = rng.uniform(0, 255, 3)
            c = c.mean() + (c - c.mean()) * rng.uniform(0.2, 1.0)
        if not len(targets) or np.linalg.norm(targets - c, axis=1).min() >= margin:
            r, g, b = np.rint(c).astype(int).tolist()
            return int(r), int(g), int(b)


def _random_background(
    rng: np.random.Generator, kind: str, avoid: Sequence[tuple[int, int, int]]
) -> Background:
    a = _far_colour(rng, avoid)
    b = _far_colour(rng, avoid) if kind == "gradient" or rng.uniform() < 0.5 else a
    if kind == "plain":
        b = a
    noise = float(rng.uniform(6.0, 30.0)) if kind == "noise" else 0.0
    return Background(kind, a, b, float(rng.uniform(0, 2 * math.pi)), noise)


def _far_colour(
    rng: np.random.Generator, avoid: Sequence[tuple[int, int, int]]
) -> tuple[int, int, int]:
    """A random RGB colour at least MIN_BACKGROUND_DISTANCE from every colour in avoid."""
    targets = np.array(avoid, dtype=np.float64).reshape(-1, 3)
    while True:
        c = rng.integers(0, 256, 3)
        dist = np.linalg.norm(targets - c, axis=1).min() if len(targets) else np.inf
        far = dist >= MIN_BACKGROUND_DISTANCE
        if far:
            r, g, b = c.tolist()
            return int(r), int(g), int(b)


def _render_background(
    rng: np.random.Generator, width: int, height: int, bg: Background
) -> np.ndarray:
    a = np.array(bg.colour_a, dtype=np.float32)
    b = np.array(bg.colour_b, dtype=np.float32)
    if bg.colour_a == bg.colour_b:
        img = np.broadcast_to(a, (height, width, 3)).copy()
    else:
        x = np.linspace(-0.5, 0.5, width, dtype=np.float32) * math.cos(bg.angle_rad)
        y = np.linspace(-0.5, 0.5, height, dtype=np.float32) * math.sin(bg.angle_rad)
        t = np.clip(x[None, :] + y[:, None] + 0.5, 0.0, 1.0)[..., None]  # (H, W, 1)
        img = a + (b - a) * t
    if bg.texture != "none":
        img = img + _texture(width, height, bg)[..., None]
    if bg.noise_std > 0:
        img += rng.standard_normal((height, width, 1), dtype=np.float32) * bg.noise_std
    return img


def _texture(width: int, height: int, bg: Background) -> np.ndarray:
    """The background's static pattern, (height, width) float32 in -amp..amp."""
    step = max(1, round(bg.texture_px))
    if bg.texture == "blocks":
        cells = np.random.default_rng(bg.texture_seed).uniform(
            -1, 1, (height // step + 1, width // step + 1)).astype(np.float32)
        return bg.texture_amp * np.repeat(np.repeat(cells, step, 0), step, 1)[:height, :width]
    ys, xs = np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32)
    if bg.texture == "checks":
        odd = ((ys[:, None] // step) + (xs[None, :] // step)) % 2
        return bg.texture_amp * (2 * odd - 1)
    phase = xs[None, :] * math.cos(bg.angle_rad + 1.0) + ys[:, None] * math.sin(bg.angle_rad + 1.0)
    return bg.texture_amp * np.where((phase / (2 * step)) % 1.0 < 0.5, 1.0, -1.0).astype(np.float32)


def _draw_shape(img: np.ndarray, spec: ShapeSpec, t_s: float) -> None:
    """Alpha-blend the shape into img in place; 2x2 supersampling gives anti-aliased edges."""
    height, width = img.shape[:2]
    cx, cy, size = spec.centre_px(t_s, width, height)
    reach = size / 2 if spec.angle_rad == 0 and spec.aspect <= 1 else size * 0.72
    x0, x1 = max(0, int(cx - reach) - 1), min(width, int(cx + reach) + 2)
    y0, y1 = max(0, int(cy - reach) - 1), min(height, int(cy + reach) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    sub = np.array([0.25, 0.75], dtype=np.float32)
    u = ((np.arange(x0, x1, dtype=np.float32)[:, None] + sub).ravel() - cx) / size  # (2W',)
    v = ((np.arange(y0, y1, dtype=np.float32)[:, None] + sub).ravel() - cy) / size  # (2H',)
    uu, vv = u[None, :], v[:, None]
    if spec.angle_rad:
        c, s = math.cos(spec.angle_rad), math.sin(spec.angle_rad)
        uu, vv = c * uu + s * vv, c * vv - s * uu  # (2H', 2W') each: the object's own axes
    inside = _shape_mask(spec.shape, uu, vv, spec.aspect, spec.arm_frac).astype(np.float32)
    alpha = inside.reshape(y1 - y0, 2, x1 - x0, 2).mean(axis=(1, 3))[..., None]  # (H', W', 1)
    patch = img[y0:y1, x0:x1]
    img[y0:y1, x0:x1] = patch + (np.array(spec.rgb, dtype=np.float32) - patch) * alpha


def _shape_mask(
    shape: str, u: np.ndarray, v: np.ndarray, aspect: float = 1.0, arm_frac: float = 1 / 3
) -> np.ndarray:
    """Inside test in object units: v in [-0.5, 0.5] spans the object's height."""
    if shape == "circle":
        return u * u + v * v <= 0.25
    if shape == "square":
        return (np.abs(u) <= aspect / 2) & (np.abs(v) <= 0.5)
    if shape == "triangle":  # apex up, base at the bottom, `aspect` times as wide as it is high
        return (np.abs(v) <= 0.5) & (np.abs(u) <= aspect * (v + 0.5) / 2)
    arm = arm_frac / 2  # the cross: a plus sign whose arms are arm_frac of its size thick
    return ((np.abs(u) <= arm) & (np.abs(v) <= 0.5)) | ((np.abs(v) <= arm) & (np.abs(u) <= 0.5))
