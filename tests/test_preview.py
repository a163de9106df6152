"""`serve`'s previews beside the embedding cache: `cache info` counts them, `cache clear` removes
them (with `--older-than`, those unused for that long), and serving one marks it used."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video
from typer.testing import CliRunner

from clipground.cache import EmbeddingCache
from clipground.cli import app
from clipground.preview import PreviewCache, browser_playable

runner = CliRunner()
DAYS = 86400


@pytest.fixture(scope="module")
def avi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One second of MPEG-4 Part 2 in AVI: a video a browser cannot play."""
    frames = [np.full((48, 64, 3), (40 * i % 255, 0, 0), np.uint8) for i in range(10)]
    return make_video(tmp_path_factory.mktemp("avi") / "clip.avi", frames, fps=10, codec="mpeg4")


def cache_cli(*args: str, root: Path) -> dict:
    result = runner.invoke(app, ["cache", *args, "--cache-dir", str(root)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_previews_are_counted_and_cleared_with_the_cache(avi: Path, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    previews = PreviewCache(cache.previews_root)
    kept = previews.preview(avi)
    assert not browser_playable(avi) and kept.parent == tmp_path / "cache" / "previews-v1"
    old = cache.previews_root / "0123456789abcdef0123456789abcdef.mp4"  # another video's
    old.write_bytes(b"\0" * 1000)
    os.utime(old, (time.time() - 10 * DAYS,) * 2)

    info = cache_cli("info", root=cache.root)
    assert info["previews"] == 2 and info["entries"] == 0
    assert info["bytes"] == kept.stat().st_size + 1000

    assert cache_cli("clear", "--older-than", "7d", root=cache.root) == {
        "path": str(cache.root), "removed": 0, "previews_removed": 1,
    }  # fmt: skip
    assert kept.exists() and not old.exists()
    assert cache_cli("clear", root=cache.root)["previews_removed"] == 1
    assert not kept.exists() and cache_cli("info", root=cache.root)["previews"] == 0


def test_serving_a_preview_marks_it_used(avi: Path, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    previews = PreviewCache(cache.previews_root)
    path = previews.preview(avi)
    inode = path.stat().st_ino
    os.utime(path, (time.time() - 10 * DAYS,) * 2)
    assert previews.preview(avi) == path and path.stat().st_ino == inode  # not transcoded again
    assert time.time() - path.stat().st_mtime < 60  # `clear --older-than 7d` keeps it now
    assert cache.clear_previews(7 * DAYS) == 0 and path.exists()
    assert cache.clear_previews() == 1 and not path.exists()
