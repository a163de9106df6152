"""plot.py and the --plot/--export options of `match`: pictures written, and drawn where asked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video, solid_frames
from typer.testing import CliRunner

from clipground import plot as P
from clipground.cli import app
from clipground.errors import UsageError
from clipground.types import Grounding, Moment

ORANGE_SHADE = np.array([1.0, 0.849, 0.717])  # tab:orange at alpha 0.3 over white
runner = CliRunner()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_video(
        tmp_path_factory.mktemp("plot") / "clip.mp4", solid_frames(100), fps=25, gop=25
    )


def grounding(best: tuple[float, float], others: list[tuple[float, float]]) -> Grounding:
    moments = [
        Moment(round(a * 25), round(b * 25) - 1, a, b, 1.0 - i / 10)
        for i, (a, b) in enumerate([best, *others])
    ]
    return Grounding(
        video="v.mp4",
        query=("a red circle",),
        best=moments[0],
        candidates=tuple(moments),
        sentences=(),
        objective="contrast",
        span_mode="mean",
        model="m",
        decoder="pyav",
        native_fps=25.0,
        num_frames=250,
        duration_s=10.0,
        sample_fps=2.0,
        num_sampled=20,
        frames_embedded=20,
    )


def shaded_columns(png: Path) -> np.ndarray:
    """x pixel columns where the best window's orange shading shows."""
    import matplotlib.image

    rgb = matplotlib.image.imread(str(png))[..., :3]
    near = np.abs(rgb - ORANGE_SHADE).max(axis=-1) < 0.03
    return np.flatnonzero(near.sum(axis=0) > 20)


def test_grounding_plot_shades_the_best_window(tmp_path: Path) -> None:
    times = np.arange(20) / 2.0
    curve = np.sin(times)
    early = P.plot_grounding(
        tmp_path / "early.png", times, curve, grounding((1.0, 3.0), [(6.0, 8.0)])
    )
    late = P.plot_grounding(
        tmp_path / "late.png", times, curve, grounding((6.0, 9.0), [(1.0, 3.0)])
    )
    assert early.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    a, b = shaded_columns(early), shaded_columns(late)
    assert a.size and b.size
    assert a.mean() < b.mean()  # the shading moves with the window
    assert b.size == pytest.approx(1.5 * a.size, rel=0.1)  # 3 s against 2 s of the same axis


def test_alignment_plot_writes_a_png(tmp_path: Path) -> None:
    times = np.arange(30) / 2.0
    curves = np.random.default_rng(0).normal(size=(3, 30))
    path = P.plot_alignment(
        tmp_path / "a.png",
        times,
        curves,
        ["one", "two", "three"],
        [(0.0, 4.0), (4.0, 9.0), (9.0, 15.0)],
        15.0,
        "align: v.mp4",
    )
    assert path.stat().st_size > 10_000


def test_plot_refuses_other_suffixes_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="ending in .png"):
        P.check_target(tmp_path / "plot.jpg")
    with pytest.raises(UsageError, match="does not exist"):
        P.check_target(tmp_path / "no" / "plot.png")


def test_missing_matplotlib_is_a_clear_usage_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    with pytest.raises(UsageError, match=r"pip install 'clipground\[plot\]'"):
        P.check_target(tmp_path / "plot.png")


def match(tiny: str, tmp_path: Path, video: Path | str, *args: str):
    """`clipground match VIDEO -t "a red circle" ARGS` on the CPU, the cache under tmp_path."""
    common = ["--model", tiny, "--device", "cpu", "--cache-dir", str(tmp_path / "cache")]
    return runner.invoke(app, ["match", str(video), "-t", "a red circle", *common, *args])


def test_match_plot_and_export(tiny_clip: str, video: Path, tmp_path: Path) -> None:
    png, clips = tmp_path / "m.png", tmp_path / "clips"
    args = ["--plot", str(png), "--export", str(clips), "--reencode", "--padding", "0.1"]
    result = match(tiny_clip, tmp_path, video, *args)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["plot"] == str(png) and png.stat().st_size > 10_000
    clip = Path(record["clip"])
    assert clip.parent == clips and clip.exists()
    plain = json.loads(match(tiny_clip, tmp_path, video).stdout)
    keys = ("start_frame", "end_frame", "score", "candidates")
    assert {k: plain[k] for k in keys} == {k: record[k] for k in keys}  # --plot changes nothing


def test_match_refuses_a_bad_plot_path_before_any_work(tiny_clip: str, tmp_path: Path) -> None:
    result = match(tiny_clip, tmp_path, tmp_path / "missing.mp4", "--plot", str(tmp_path / "p.jpg"))
    assert result.exit_code == 2 and "ending in .png" in result.stderr and result.stdout == ""
