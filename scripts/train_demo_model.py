"""Train the demo CLIP (a small open_clip model) from scratch on rendered coloured-shape frames.

Frames go through the same path as at inference: rendered at video resolution, encoded as H.264
yuv420p at a random CRF (or MPEG-4 part 2 at a random quantiser), decoded with PyAV and squashed to
S x S with `frame.reformat(S, S, format="rgb24", interpolation="AREA")`, as clipground's decoder
does. A bank of such frames is rendered once (both CPU cores) and cached as uint8, so training
spends its time in the model, not in the renderer.

The scenes are domain-randomised over the whole promise (`render.random_wide_scene`): colours
anywhere between each name's exemplars, rotated shapes of other proportions, distractors larger or
smaller, of the same colour or the same shape (hard negatives), dark to light backgrounds with
noise, blocky noise, stripes or checks; frames of many sizes and aspect ratios, some blurred.
Nothing here uses `clipground/demo/independent.py`, the evaluation-only renderer.

The bank mixes these with a share of the project's own renders (`render.random_scene`, the frames
of `sample_data/` and of the project benchmark), so that widening the domain does not cost the
narrow one.

Objective: CLIP's symmetric InfoNCE over the N x N cosine-similarity matrix scaled by a learned
temperature, with soft targets: an image and a text are a positive pair when the text names one of
the image's objects, or both are "nothing". A two-object frame is captioned by either object, but
its larger object (its label in the bank) weighs 1 and the smaller one --smaller-weight: a frame
"is" its main subject, so argmax over captions names the larger object, while a text still finds
a frame where its object is the smaller of two. A hinge (--margin-weight, --margin) keeps every
caption that names none of a frame's objects well below the frame's own caption, so that a caption
sharing only the colour or the shape cannot score half way up: the window search then stops at
the edge of a neighbouring segment of the same colour instead of running on into it. The hinge
comes in after 40% of training (--margin-from): from the first step it holds back what InfoNCE
learns first (the figures are on the benchmarks page).

    python scripts/train_demo_model.py                 # train, write clipground/demo/model/
    python scripts/train_demo_model.py --eval-only     # zero-shot accuracy of the shipped model
    python scripts/train_demo_model.py --eval-only --eval-domain project   # on render.random_scene

Training runs 5,000 steps (deterministic for a given --seed and --threads); the forward passes run
in bfloat16 autocast (--precision fp32: all in float32, 1.5x slower on a CPU with AVX512-BF16);
--max-minutes sets a wall-time budget that anneals the schedule by time when it binds first (then
the run is not deterministic). Run times and accuracies are on the benchmarks page (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from clipground.demo import render as R

log = logging.getLogger("train_demo_model")

MODEL_DIR = Path(__file__).resolve().parents[1] / "clipground" / "demo" / "model"
MEAN = (0.48145466, 0.4578275, 0.40821073)  # CLIP's; any fixed values work for a from-scratch model
STD = (0.26862954, 0.26130258, 0.27577711)
# (width, height, weight) of the project's own renders: mostly 16:9, sometimes 4:3
PROJECT_RESOLUTIONS = ((640, 360, 0.55), (854, 480, 0.15), (480, 360, 0.15), (640, 480, 0.15))
# the wide domain's: landscape 16:9 and 4:3, square, portrait, wide, small and large
RESOLUTIONS = ((640, 360, 0.25), (854, 480, 0.10), (480, 360, 0.10), (640, 480, 0.05),
               (320, 180, 0.10), (960, 540, 0.05), (360, 360, 0.10), (270, 480, 0.10),
               (720, 300, 0.10), (400, 300, 0.05))
NOTHING_FRACTION = 0.08  # share of background-only frames in the training bank
NO_EXTRA = -1  # the label of "no second object" in a bank's extras
N_CLASSES = len(R.class_names()) + 1  # 32 object classes, then "nothing" as the last one


@dataclass(frozen=True)
class BankSpec:
    """How a bank of training or evaluation frames is rendered; also its cache key."""

    seed: int
    n_chunks: int
    image_size: int
    scenes_per_chunk: int = 32  # scenes encoded together as one video
    frames_per_scene: int = 3  # consecutive frames of one (possibly moving) scene at 10 fps
    balanced: bool = False  # True: scenes cycle through all 33 classes (evaluation)
    crf_range: tuple[int, int] = (18, 40)  # x264 CRF drawn per chunk: mild to strong artefacts
    mpeg4_p: float = 0.25  # chunks encoded as MPEG-4 part 2 instead (blocky artefacts)
    qscale_range: tuple[int, int] = (2, 14)  # its quantiser
    blur_p: float = 0.2  # scenes blurred (out of focus, upscaled)
    distractor_p: float = 0.4
    moving_p: float = 0.5
    wide: bool = True  # render.random_wide_scene (the whole promise) or render.random_scene
    label_largest: bool = True  # a two-object frame's label is its larger object, extra the other

    def key(self) -> str:
        """A short hash of the spec and of the renderer's source, for the cache file name."""
        src = Path(R.__file__).read_bytes()
        return hashlib.sha1(json.dumps(asdict(self)).encode() + src).hexdigest()[:12]


def model_config(args: argparse.Namespace) -> dict:
    """The open_clip config JSON: architecture as data, plus the preprocessing contract."""
    model_cfg = {
        "embed_dim": args.embed_dim,
        "vision_cfg": {"image_size": args.image_size, "layers": args.layers, "width": args.width,
                       "head_width": 64},
        "text_cfg": {"context_length": args.context_length, "vocab_size": 49408,
                     "width": args.text_width, "heads": 4, "layers": args.text_layers},
    }
    preprocess_cfg = {"size": args.image_size, "mean": list(MEAN), "std": list(STD),
                      "interpolation": "bicubic", "resize_mode": "squash"}
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}


def chunk_labels(rng: np.random.Generator, spec: BankSpec, chunk: int) -> list[int]:
    """Class index per scene of a chunk; N_CLASSES - 1 means background only."""
    n_obj = N_CLASSES - 1
    if spec.balanced:
        first = chunk * spec.scenes_per_chunk
        return [(first + i) % N_CLASSES for i in range(spec.scenes_per_chunk)]
    nothing = rng.uniform(size=spec.scenes_per_chunk) < NOTHING_FRACTION
    objects = rng.integers(0, n_obj, spec.scenes_per_chunk)
    return np.where(nothing, n_obj, objects).tolist()


Bank = tuple[np.ndarray, np.ndarray, np.ndarray]  # images (n,S,S,3) u8, labels (n,), extras (n,)


def render_chunk(spec: BankSpec, chunk: int) -> Bank:
    """Render, encode, decode and squash one chunk: frames, each frame's class and its second
    object's class (NO_EXTRA when there is none)."""
    import av

    rng = np.random.default_rng([spec.seed, chunk])
    sizes = RESOLUTIONS if spec.wide else PROJECT_RESOLUTIONS
    w, h, _ = sizes[rng.choice(len(sizes), p=[r[2] for r in sizes])]
    labels = chunk_labels(rng, spec, chunk)
    scenes = [_scene_frames(rng, spec, label, w, h) for label in labels]
    frames = [f for fs, _, _ in scenes for f in fs]
    buf = io.BytesIO()
    if spec.mpeg4_p > 0 and rng.uniform() < spec.mpeg4_p:
        encode_mpeg4(buf, frames, int(rng.integers(*spec.qscale_range, endpoint=True)))
    else:
        R.encode_h264(buf, frames, fps=10, crf=int(rng.integers(*spec.crf_range, endpoint=True)))
    buf.seek(0)
    s = spec.image_size
    with av.open(buf) as container:
        out = [f.reformat(s, s, format="rgb24", interpolation="AREA").to_ndarray()
               for f in container.decode(video=0)]
    labels = [lab for _, lab, _ in scenes]
    extras = [e for _, _, e in scenes]
    return (np.stack(out), np.repeat(np.array(labels, dtype=np.int64), spec.frames_per_scene),
            np.repeat(np.array(extras, dtype=np.int64), spec.frames_per_scene))


def encode_mpeg4(target: io.BytesIO, frames: list[np.ndarray], qscale: int) -> None:
    """MPEG-4 part 2 in mp4 at a fixed quantiser, frame i at pts i/10."""
    import av

    with av.open(target, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": str(qscale)}
        stream.codec_context.qscale = qscale
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _scene_frames(
    rng: np.random.Generator, spec: BankSpec, label: int, w: int, h: int
) -> tuple[list[np.ndarray], int, int]:
    """The frames of one scene drawn for class `label`, the frame's label (its larger object) and
    its other object's class (or NO_EXTRA)."""
    names = R.class_names()
    shape, colour = names[label] if label < len(names) else (None, None)
    make = R.random_wide_scene if spec.wide else R.random_scene
    scene = make(rng, shape, colour, distractor=bool(rng.uniform() < spec.distractor_p),
                 moving=bool(rng.uniform() < spec.moving_p))
    t0 = float(rng.uniform(0, 5))
    frames = [R.render_frame(rng, w, h, scene, t0 + i / 10) for i in range(spec.frames_per_scene)]
    if spec.wide and rng.uniform() < spec.blur_p:
        frames = blurred(frames, int(rng.integers(1, 4)))
    d = scene.distractor
    if d is None:
        return frames, label, NO_EXTRA
    other = names.index((d.shape, d.colour))
    if spec.label_largest and d.size_frac > scene.main.size_frac:  # label the larger object
        return frames, other, label
    return frames, label, other


def blurred(frames: list[np.ndarray], passes: int) -> list[np.ndarray]:
    """Each frame through `passes` separable [1, 2, 1] / 4 filters (about a Gaussian blur)."""
    out = []
    for img in frames:
        x = img.astype(np.float32)
        for _ in range(passes):
            x = (np.roll(x, 1, 0) + 2 * x + np.roll(x, -1, 0)) / 4
            x = (np.roll(x, 1, 1) + 2 * x + np.roll(x, -1, 1)) / 4
        out.append(np.clip(x + 0.5, 0, 255).astype(np.uint8))
    return out


def _render_chunk_star(job: tuple[BankSpec, int]) -> Bank:
    return render_chunk(*job)


def load_bank(spec: BankSpec, cache_dir: Path | None, workers: int) -> Bank:
    """Render a bank (in worker processes, deterministic per chunk) or load it from the cache."""
    path = cache_dir / f"bank-{spec.image_size}-{spec.key()}.npz" if cache_dir else None
    if path is not None and path.exists():
        data = np.load(path)
        return data["images"], data["labels"], data["extras"]
    t0 = time.time()
    jobs = [(spec, c) for c in range(spec.n_chunks)]
    with get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_render_chunk_star, jobs, chunksize=1)  # keeps chunk order: deterministic
    images, labels, extras = (np.concatenate([p[k] for p in parts]) for k in range(3))
    log.info("rendered %d frames at %d px in %.0f s", len(labels), spec.image_size,
             time.time() - t0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, images=images, labels=labels, extras=extras)
    return images, labels, extras


def class_captions() -> list[list[str]]:
    """Caption variants per class index, "nothing" last."""
    return [R.caption_variants(s, c) for s, c in R.class_names()] + [list(R.NOTHING_CAPTIONS)]


def to_pixels(images: np.ndarray, mean, std):
    """uint8 (B, S, S, 3) -> normalised float (B, 3, S, S), channels_last in memory."""
    import torch

    x = torch.from_numpy(images).float().div_(255.0)  # (B, S, S, 3)
    x = (x - torch.tensor(mean)) / torch.tensor(std)
    return x.permute(0, 3, 1, 2)  # a channels_last view, no copy


def soft_clip_loss(img, txt, logit_scale, classes, txt_class, class_weights):
    """Symmetric InfoNCE where image i and text j are a positive pair when j's class is one of
    the classes in image i (`classes` (B, K), NO_EXTRA padded), with weight `class_weights[k]`
    (K,); targets spread over the positives in proportion to their weights."""
    import torch.nn.functional as F

    logits = logit_scale * img @ txt.T  # (B, B)
    match = classes[:, None, :] == txt_class[None, :, None]  # (B img, B txt, K)
    pos = (match * class_weights).amax(-1)  # (B img, B txt)
    loss_i = F.cross_entropy(logits, pos / pos.sum(dim=1, keepdim=True))
    loss_t = F.cross_entropy(logits.T, pos.T / pos.sum(dim=0)[:, None])
    return (loss_i + loss_t) / 2


def margin_loss(img, txt, classes, txt_class, margin: float):
    """Hinge on every caption of the batch that names none of an image's objects: its cosine
    must lie `margin` below the image's best caption of its own class (its label; "nothing" for
    an empty frame), summed over such captions and averaged over the images whose class has a
    caption in the batch. InfoNCE stops pushing a negative once it lies far enough below the
    match for the learned temperature, so a caption sharing only the colour or the shape of the
    image's object stays half way up; the window search then reads a neighbouring segment of the
    same colour as half a match and runs on into it."""
    import torch

    sims = img @ txt.T  # (B img, B txt)
    neg = (classes[:, None, :] != txt_class[None, :, None]).all(-1)  # names none of its objects
    own = txt_class[None, :] == classes[:, :1]  # captions of the image's label
    pos = torch.where(own, sims, torch.full_like(sims, -2.0)).amax(1, keepdim=True)
    per_image = (torch.relu(sims - pos + margin) * neg).sum(1)
    has = own.any(1)
    return per_image[has].sum() / has.sum().clamp(min=1)


def training_progress(step: int, steps: int, elapsed_s: float, max_minutes: float | None) -> float:
    """Fraction of training done: by steps, or by wall time when a budget is set and binds first."""
    by_steps = step / steps
    return by_steps if max_minutes is None else max(by_steps, elapsed_s / (60 * max_minutes))


def lr_at(progress: float, warmup: float, peak: float) -> float:
    """Linear warm-up over the first `warmup` of training, then cosine decay to 2% of the peak."""
    if progress < warmup:
        return peak * max(progress, 1e-3) / warmup
    p = (progress - warmup) / max(1e-9, 1 - warmup)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


@dataclass(frozen=True)
class Accuracy:
    """Zero-shot accuracies on an evaluation bank."""

    top1_32: float  # one-object frames, argmax over the 32 canonical captions
    top1_33: float  # all frames, argmax over the 32 captions plus "an empty background"
    two_objects_32: float  # two-object frames: the argmax names one of the two
    two_objects_largest: float  # two-object frames: the argmax names the larger one (the label)
    n_frames: int


def zero_shot_accuracy(
    model, tokenizer, images, labels, extras, mean, std
) -> Accuracy:
    """Classify frames by their most similar canonical caption."""
    import torch

    texts = [R.caption(s, c) for s, c in R.class_names()] + [R.NOTHING_CAPTIONS[0]]
    model.eval()
    with torch.no_grad():
        t = model.encode_text(tokenizer(texts), normalize=True)  # (33, D)
        feats = [model.encode_image(to_pixels(images[i:i + 256], mean, std), normalize=True)
                 for i in range(0, len(images), 256)]
        sims = torch.cat(feats) @ t.T  # (N, 33)
    labels_t, extras_t = torch.from_numpy(labels), torch.from_numpy(extras)
    one = (labels_t < N_CLASSES - 1) & (extras_t == NO_EXTRA)
    two = extras_t != NO_EXTRA
    pred32 = sims[:, :-1].argmax(1)
    acc32 = (pred32[one] == labels_t[one]).float().mean().item()
    acc33 = ((sims.argmax(1) == labels_t) | (sims.argmax(1) == extras_t)).float().mean().item()
    either = ((pred32 == labels_t) | (pred32 == extras_t))[two].float().mean().item()
    largest = (pred32 == labels_t)[two].float().mean().item()
    return Accuracy(acc32, acc33, either, largest, len(labels))


def build_model(cfg: dict):
    """A randomly initialised open_clip CLIP from the config."""
    import open_clip

    return open_clip.CLIP(**cfg["model_cfg"])


def param_groups(model, weight_decay: float) -> list[dict]:
    """No weight decay on gains, biases, norms, embeddings' scale and the temperature."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "logit_scale" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def train(args: argparse.Namespace, cfg: dict, bank, eval_bank, project_eval_bank=None):
    """The training loop; returns the trained model in eval mode. The weights are kept by their
    accuracy on `eval_bank`; `project_eval_bank` (the project's renders) is only logged."""
    import open_clip
    import torch

    torch.manual_seed(args.seed)
    model = build_model(cfg).to(memory_format=torch.channels_last)
    tokenizer = open_clip.get_tokenizer("RN50", context_length=args.context_length)
    caps = class_captions()
    n_var = max(len(c) for c in caps)
    tokens = torch.stack([tokenizer([c[i % len(c)] for i in range(n_var)]) for c in caps])  # 33,V,L
    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.98))
    gen = torch.Generator().manual_seed(args.seed)
    images, labels, extras = bank
    class_weights = torch.tensor([1.0, args.smaller_weight])  # a frame's label, its other object
    mean, std = cfg["preprocess_cfg"]["mean"], cfg["preprocess_cfg"]["std"]
    t0, best = time.time(), -1.0
    for step in range(args.steps):
        done = training_progress(step, args.steps, time.time() - t0, args.max_minutes)
        if done >= 1.0:
            log.info("time budget of %.0f min reached at step %d", args.max_minutes, step)
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(done, min(0.1, args.warmup / args.steps), args.lr)  # tiny runs too
        idx = torch.randint(0, len(labels), (args.batch_size,), generator=gen)
        x = to_pixels(images[idx.numpy()], mean, std)
        flip = torch.rand(args.batch_size, generator=gen) < 0.5  # all shapes are mirror-symmetric
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if args.vflip:  # triangles may point any way: upside down is in the domain
            vflip = torch.rand(args.batch_size, generator=gen) < 0.5
            x = torch.where(vflip[:, None, None, None], x.flip(2), x)
        x = x.contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(labels[idx.numpy()])
        e = torch.from_numpy(extras[idx.numpy()])
        classes = torch.stack([y, e], dim=1)  # (B, 2)
        # a two-object frame is captioned by either object: both captions describe it
        pick = (torch.rand(args.batch_size, generator=gen) < args.extra_caption_p) & (e >= 0)
        t_cls = torch.where(pick, e, y)
        var = torch.randint(0, n_var, (args.batch_size,), generator=gen)
        model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            img = model.encode_image(x, normalize=True)
            txt = model.encode_text(tokens[t_cls, var], normalize=True)
        # the losses in float32: bfloat16's 8-bit mantissa would blur cosines scaled by up to 100
        img, txt = img.float(), txt.float()
        loss = soft_clip_loss(img, txt, model.logit_scale.exp(), classes, t_cls, class_weights)
        ramp = min(1.0, max(0.0, (done - args.margin_from) / 0.1))  # off, then in over a tenth
        if args.margin_weight and ramp > 0:
            loss = loss + ramp * args.margin_weight * margin_loss(img, txt, classes, t_cls,
                                                                  args.margin)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % 50 == 0:
            log.info("step %d/%d loss %.4f scale %.1f lr %.2e  %.0f s", step, args.steps,
                     loss.item(),
                     model.logit_scale.exp().item(), opt.param_groups[0]["lr"], time.time() - t0)
        if args.eval_every and (step + 1) % args.eval_every == 0:
            acc = zero_shot_accuracy(model, tokenizer, *eval_bank, mean, std)
            log.info("step %d eval %s", step + 1, acc)
            if project_eval_bank is not None:
                log.info("step %d project eval %s", step + 1,
                         zero_shot_accuracy(model, tokenizer, *project_eval_bank, mean, std))
            if acc.top1_32 > best:  # keep the best weights so far in --out: a cut-short run ships
                best = acc.top1_32
                save_model(model, cfg, args.out)
    model.eval()
    return model


def save_model(model, cfg: dict, out_dir: Path) -> None:
    """Write open_clip_config.json and fp16 open_clip_model.safetensors (the local-dir layout)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous()
             for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "open_clip_model.safetensors"))
    (out_dir / "open_clip_model.safetensors").chmod(0o644)  # safetensors writes 0600; this ships
    (out_dir / "open_clip_config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def eval_spec(seed: int, n_chunks: int, image_size: int, wide: bool = True) -> BankSpec:
    """Fresh evaluation frames: one frame per scene, classes (and "nothing") balanced; from the
    wide domain, or from the project's own renders (`render.random_scene`, H.264 only)."""
    if wide:
        return BankSpec(seed, n_chunks, image_size, scenes_per_chunk=64, frames_per_scene=1,
                        balanced=True)
    return BankSpec(seed, n_chunks, image_size, scenes_per_chunk=64, frames_per_scene=1,
                    balanced=True, crf_range=(23, 38), mpeg4_p=0.0, distractor_p=0.35, wide=False)


def evaluate_dir(model_dir: Path, spec: BankSpec, cache_dir: Path | None, workers: int) -> Accuracy:
    """Load a model directory exactly as clipground does (local-dir:) and measure its accuracy."""
    import open_clip

    name = "local-dir:" + str(model_dir)
    model, _, _ = open_clip.create_model_and_transforms(name)
    tokenizer = open_clip.get_tokenizer(name)
    cfg = json.loads((model_dir / "open_clip_config.json").read_text())
    images, labels, extras = load_bank(spec, cache_dir, workers)
    pre = cfg["preprocess_cfg"]
    return zero_shot_accuracy(model, tokenizer, images, labels, extras, pre["mean"], pre["std"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=MODEL_DIR, help="model directory to write")
    p.add_argument("--eval-only", action="store_true", help="only evaluate the model in --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-seed", type=int, default=12345, help="seed of the evaluation frames")
    p.add_argument("--eval-chunks", type=int, default=32, help="chunks of 64 evaluation frames")
    p.add_argument("--eval-domain", choices=("wide", "project"), default="wide",
                   help="--eval-only frames: the wide (training) domain or the project's renders")
    p.add_argument("--bank-chunks", type=int, default=400, help="chunks of 96 frames to render")
    p.add_argument("--cache-dir", type=Path, default=None, help="cache rendered banks here")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--width", type=int, default=16, help="ModifiedResNet width")
    p.add_argument("--layers", type=int, nargs=4, default=[1, 1, 1, 1])
    p.add_argument("--embed-dim", type=int, default=64)
    p.add_argument("--text-width", type=int, default=64)
    p.add_argument("--text-layers", type=int, default=2)
    p.add_argument("--context-length", type=int, default=16)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=150)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--project-chunks", type=int, default=400,
                   help="chunks of 96 frames of the project's own renders mixed into the bank")
    p.add_argument("--extra-caption-p", type=float, default=0.5,
                   help="share of two-object frames captioned by their smaller object")
    p.add_argument("--smaller-weight", type=float, default=0.3,
                   help="target weight of a two-object frame's smaller object (the larger: 1)")
    p.add_argument("--margin-weight", type=float, default=0.5,
                   help="weight of the hinge that keeps captions naming no object of a frame "
                        "--margin below its own caption (0: off)")
    p.add_argument("--margin", type=float, default=0.5,
                   help="how far below a frame's own caption the other captions' cosines must lie")
    p.add_argument("--margin-from", type=float, default=0.4,
                   help="share of training after which the hinge comes in (over a tenth more)")
    p.add_argument("--no-vflip", dest="vflip", action="store_false",
                   help="no vertical flips (they are on by default)")
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16",
                   help="the forward passes of training in bfloat16 autocast (weights, loss and "
                        "optimiser in float32; 1.5x faster where the CPU has AVX512-BF16) or "
                        "all in float32")
    p.add_argument("--max-minutes", type=float, default=0.0,
                   help="training wall-time budget: the schedule anneals by time if it binds "
                        "first (then the run is not deterministic); 0 (the default) = none")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Train and save the demo model, or evaluate the saved one; prints the accuracy as JSON."""
    import torch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    args.max_minutes = args.max_minutes or None
    torch.set_num_threads(args.threads)
    if args.eval_only:
        cfg = json.loads((args.out / "open_clip_config.json").read_text())
        spec = eval_spec(args.eval_seed, args.eval_chunks, cfg["preprocess_cfg"]["size"],
                         args.eval_domain == "wide")
        acc = evaluate_dir(args.out, spec, args.cache_dir, args.workers)
        print(json.dumps(asdict(acc)))
        return 0
    cfg = model_config(args)
    bank = load_bank(BankSpec(args.seed, args.bank_chunks, args.image_size), args.cache_dir,
                     args.workers)
    if args.project_chunks:
        project = BankSpec(args.seed + 1, args.project_chunks, args.image_size, wide=False)
        bank = tuple(np.concatenate(pair) for pair in zip(
            bank, load_bank(project, args.cache_dir, args.workers)))
    spec = eval_spec(args.eval_seed, args.eval_chunks, args.image_size)
    eval_bank = load_bank(spec, args.cache_dir, args.workers)
    project_eval_bank = load_bank(eval_spec(args.eval_seed, args.eval_chunks, args.image_size,
                                            wide=False), args.cache_dir, args.workers)
    t0 = time.time()
    model = train(args, cfg, bank, eval_bank, project_eval_bank)
    log.info("trained in %.1f min", (time.time() - t0) / 60)
    save_model(model, cfg, args.out)
    acc = evaluate_dir(args.out, spec, args.cache_dir, args.workers)
    print(json.dumps(asdict(acc) | {"train_minutes": round((time.time() - t0) / 60, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
