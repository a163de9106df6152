"""The embedding cache: keys, atomic entries, corrupt entries recomputed, sharing between processes."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video, solid_frames
from fakes import ColourEncoder
from typer.testing import CliRunner

from clipground import cache as cache_mod
from clipground.cache import EmbeddingCache, default_cache_dir
from clipground.pipeline import embed_cached
from clipground.cli import app
from clipground.pipeline import GroundOptions
from clipground.types import DecodeSummary, VideoEmbedding

runner = CliRunner()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(
        tmp_path_factory.mktemp("cache_videos") / "clip.mp4", solid_frames(40), fps=20
    )


@pytest.fixture
def store(tmp_path: Path) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "cache")


def _same(a: VideoEmbedding, b: VideoEmbedding) -> None:
    assert np.array_equal(a.embeddings, b.embeddings) and a.embeddings.dtype == b.embeddings.dtype
    assert np.array_equal(a.times_s, b.times_s) and np.array_equal(a.indices, b.indices)
    assert (a.summary, a.sample_fps, a.model) == (b.summary, b.sample_fps, b.model)


def test_second_call_is_a_hit_with_identical_arrays(store: EmbeddingCache, clip: Path) -> None:
    encoder, options = ColourEncoder(), GroundOptions(fps=4)
    first, hit = embed_cached(clip, encoder, options, store)
    seen = encoder.frames_seen
    second, hit2 = embed_cached(str(clip), encoder, options, store)
    assert (hit, hit2) == (False, True) and encoder.frames_seen == seen  # nothing decoded again
    _same(first, second)
    assert second.video == str(clip)


def test_key_follows_content_model_and_sampling(
    store: EmbeddingCache, clip: Path, tmp_path: Path
) -> None:
    encoder, options = ColourEncoder(), GroundOptions(fps=4)
    key = store.key(clip, encoder, options)
    assert key == store.key(clip, encoder, options)
    assert key != store.key(clip, encoder, replace(options, fps=2))
    assert key != store.key(clip, encoder, replace(options, decoder="decord"))
    assert key != store.key(clip, ColourEncoder(size=32), options)  # decode size
    other = ColourEncoder()
    other.identity = "another-model"
    assert key != store.key(clip, other, options)
    assert key == store.key(
        clip, encoder, replace(options, top_k=9, batch_size=7)
    )  # search-only options
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(clip.read_bytes())
    assert store.key(copy, encoder, options) == key  # keyed by content, not by path
    os.utime(copy, ns=(1, 1))
    assert store.key(copy, encoder, options) == key  # a new mtime re-hashes; same content, same key
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert store.key(copy, encoder, options) != key


def test_local_weights_changed_in_place_change_the_key(tmp_path: Path) -> None:
    weights = tmp_path / "model"
    weights.mkdir()
    (weights / "open_clip_model.safetensors").write_bytes(b"v1")
    identities = [
        f"local-dir:{weights}",
        f"local-dir:{weights}/laion2b_s34b_b79k",
        f"ViT-B-32@{weights}",
    ]
    before = [cache_mod.weights_fingerprint(i) for i in identities]
    (weights / "open_clip_model.safetensors").write_bytes(b"v2 longer")
    after = [cache_mod.weights_fingerprint(i) for i in identities]
    assert all(a != b for a, b in zip(after, before))
    assert cache_mod.weights_fingerprint("ViT-B-32/laion2b_s34b_b79k") == ""


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_entry_is_detected_and_recomputed(
    store: EmbeddingCache, clip: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    encoder, options = ColourEncoder(), GroundOptions(fps=4)
    first, _ = embed_cached(clip, encoder, options, store)
    path = store.entry_path(store.key(clip, encoder, options))
    data = path.read_bytes()
    broken = {
        "truncate": data[: len(data) // 2],
        "garbage": b"\x00junk" * 30,
        "empty": b"",
        "flip": data[:300] + bytes([data[300] ^ 0x01]) + data[301:],
    }[damage]
    path.write_bytes(broken)
    with caplog.at_level(logging.DEBUG, logger="clipground.cache"):
        again, hit = embed_cached(clip, encoder, options, store)
    assert hit is False
    _same(first, again)
    assert any(
        "unreadable" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert embed_cached(clip, encoder, options, store)[1] is True  # rewritten whole


def test_unwritable_cache_warns_once_and_the_work_goes_on(
    tmp_path: Path, clip: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    store = EmbeddingCache(blocker)
    with caplog.at_level(logging.WARNING, logger="clipground.cache"):
        for _ in range(3):
            embedded, hit = embed_cached(clip, ColourEncoder(), GroundOptions(fps=4), store)
            assert not hit and len(embedded.indices) > 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "without caching" in warnings[0].getMessage()


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLIPGROUND_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("CLIPGROUND_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir("linux") == tmp_path / "xdg" / "clipground"
    assert default_cache_dir("darwin") == Path.home() / "Library" / "Caches" / "clipground"
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert default_cache_dir("win32") == tmp_path / "local" / "clipground" / "Cache"


# ---------------------------------------------------------------------------------------------
# Several processes on one cache


def _fake_embedding(seed: int, frames: int) -> VideoEmbedding:
    rng = np.random.default_rng(seed)
    return VideoEmbedding(
        video="v.mp4",
        embeddings=rng.standard_normal((frames, 64)).astype(np.float32),
        times_s=np.arange(frames, dtype=np.float64) / 2,
        indices=np.arange(frames, dtype=np.int64) * 12,
        summary=DecodeSummary(frames * 12, frames / 2, 24.0, 0, "pyav"),
        sample_fps=2.0,
        model=f"writer-{seed}",
    )


def _hammer(root: str, seed: int, rounds: int) -> None:
    """Write and read the same few keys as fast as possible; fail loudly on a torn read."""
    store = EmbeddingCache(root)
    for i in range(rounds):
        key = f"{i % 3:02d}" + "ab" * 31
        store.put(key, _fake_embedding(seed, 50 + 300 * (seed % 2)))
        got = store.get(key, "v.mp4")
        if got is None:
            raise AssertionError("an entry vanished or was torn under a concurrent writer")
        expected = _fake_embedding(int(got.model.split("-")[1]), len(got.indices))
        if not np.array_equal(got.embeddings, expected.embeddings):
            raise AssertionError("mixed entry")


def test_concurrent_writers_and_readers_never_see_a_torn_entry(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), seed, 150)) for seed in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert not list(tmp_path.rglob(".tmp-*"))
    assert EmbeddingCache(tmp_path).info().entries == 3


# ---------------------------------------------------------------------------------------------
# `cache info|clear` and `match`


def test_cache_info_and_clear(store: EmbeddingCache, clip: Path) -> None:
    for fps in (1, 2, 4):
        embed_cached(clip, ColourEncoder(), GroundOptions(fps=fps), store)
    old = store.entry_path(store.key(clip, ColourEncoder(), GroundOptions(fps=1)))
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    info = json.loads(runner.invoke(app, ["cache", "info", "--cache-dir", str(store.root)]).stdout)
    assert info["entries"] == 3 and info["bytes"] > 0 and info["path"] == str(store.root)
    assert info["oldest_s"] == pytest.approx(3 * 86400, abs=60)
    cleared = runner.invoke(
        app, ["cache", "clear", "--older-than", "2d", "--cache-dir", str(store.root)]
    )
    assert cleared.exit_code == 0 and json.loads(cleared.stdout)["removed"] == 1
    assert not old.exists() and store.info().entries == 2
    assert (
        json.loads(runner.invoke(app, ["cache", "clear", "--cache-dir", str(store.root)]).stdout)[
            "removed"
        ]
        == 2
    )
    assert store.info().entries == 0


def test_cache_command_errors(tmp_path: Path) -> None:
    bad = runner.invoke(
        app, ["cache", "clear", "--older-than", "soon", "--cache-dir", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "--older-than" in bad.stderr and bad.stdout == ""
    blocker = tmp_path / "file"
    (blocker / "embeddings-v1").parent.mkdir()
    (blocker / "embeddings-v1").write_text("not a folder")
    broken = runner.invoke(app, ["cache", "clear", "--cache-dir", str(blocker)])
    assert broken.exit_code == 5 and broken.stderr.startswith("error: ") and broken.stdout == ""




def test_match_reads_the_cache_and_no_cache_bypasses_it(
    tiny_clip: str, clip: Path, tmp_path: Path
) -> None:
    args = ["match", str(clip), "-t", "x", "--model", tiny_clip, "--device", "cpu", "-f", "jsonl"]
    store = EmbeddingCache(tmp_path / "c")
    first = runner.invoke(app, [*args, "--cache-dir", str(store.root)])
    assert first.exit_code == 0 and first.stderr == "" and store.info().entries == 1
    (entry,) = store.root.rglob("*.npz")
    os.utime(entry, (1_000_000, 1_000_000))  # a hit marks the entry used (what `clear --older-than` reads)

    second = runner.invoke(app, [*args, "--cache-dir", str(store.root)])
    assert second.exit_code == 0, second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert entry.stat().st_mtime > 1_000_000  # read from the cache
    os.utime(entry, (1_000_000, 1_000_000))
    bypass = runner.invoke(app, [*args, "--cache-dir", str(tmp_path / "unused"), "--no-cache"])
    assert bypass.exit_code == 0 and json.loads(bypass.stdout) == json.loads(first.stdout)
    assert entry.stat().st_mtime == 1_000_000 and not (tmp_path / "unused").exists()
    assert not (tmp_path / "unused").exists()
