"""Metrics against hand-computed values, annotation formats, and `clipground eval` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clipground.errors import UsageError
from clipground.numeric import temporal_iou
from clipground.evaluate import (
    Annotation, Outcome, mean_iou, read_annotations, recall_at, report, resolve_video,
)


def ann(start: float, end: float, kind: str = "single") -> Annotation:
    return Annotation(id="a", video="v.mp4", query=("q",), start_s=start, end_s=end, kind=kind)


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [((0, 10), (0, 10), 1.0), ((0, 10), (5, 15), 5 / 15), ((0, 2), (3, 4), 0.0), ((2, 4), (0, 10), 0.2),
     ((1, 1), (1, 1), 0.0)],
)
def test_temporal_iou(a, b, iou) -> None:
    assert temporal_iou(a, b) == pytest.approx(iou)


def test_recall_and_miou_by_hand() -> None:
    # ground truth [0, 10]; top-1 IoUs: 1.0, 0.4, 0.6; the second query's 2nd candidate has IoU 0.8.
    outcomes = [
        Outcome(ann(0, 10), ((0, 10),)),
        Outcome(ann(0, 10), ((6, 10), (0, 8))),
        Outcome(ann(0, 10), ((4, 10),)),
        Outcome(ann(0, 10), (), error="broken video"),
    ]
    assert recall_at(outcomes, 1, 0.3) == pytest.approx(3 / 4)
    assert recall_at(outcomes, 1, 0.5) == pytest.approx(2 / 4)
    assert recall_at(outcomes, 1, 0.7) == pytest.approx(1 / 4)
    assert recall_at(outcomes, 5, 0.5) == pytest.approx(3 / 4)
    assert mean_iou(outcomes) == pytest.approx((1.0 + 0.4 + 0.6 + 0.0) / 4)
    overall = report(outcomes)["overall"]
    assert overall["failed"] == 1 and overall["queries"] == 4


def test_report_splits_by_kind() -> None:
    outcomes = [Outcome(ann(0, 10, "single"), ((0, 10),)), Outcome(ann(0, 10, "span"), ((20, 30),))]
    by_kind = report(outcomes)["by_kind"]
    assert by_kind["single"]["R@1,IoU=0.5"] == 1.0 and by_kind["span"]["R@1,IoU=0.5"] == 0.0


def test_reads_charades_sta(tmp_path: Path) -> None:
    path = tmp_path / "charades.txt"
    path.write_text("3MSZA 24.3 30.4##person turn a light on.\nAB12 0 5.5##a red circle\n")
    items = read_annotations(path)
    assert [(a.video, a.start_s, a.end_s, a.query) for a in items] == [
        ("3MSZA", 24.3, 30.4, ("person turn a light on.",)),
        ("AB12", 0.0, 5.5, ("a red circle",)),
    ]


def test_reads_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"video": "x.mp4", "query": ["a", "b"], "start_s": 1, "end_s": 2, "kind": "span"}) + "\n")
    (item,) = read_annotations(path)
    assert item.query == ("a", "b") and item.kind == "span" and item.start_s == 1.0


@pytest.mark.parametrize(
    "content", ["", "vid 1 2 no separator\n", "vid x 2##s\n", '{"video": "v"}\n', "vid 5 1##backwards\n"]
)
def test_bad_annotations(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(UsageError):
        read_annotations(path)


def test_resolve_video_by_id(tmp_path: Path) -> None:
    (tmp_path / "AB12.mp4").write_bytes(b"")
    assert resolve_video(tmp_path, "AB12") == tmp_path / "AB12.mp4"
    assert resolve_video(tmp_path, "AB12.mp4") == tmp_path / "AB12.mp4"


@pytest.fixture(scope="module")
def colour_videos(tmp_path_factory) -> Path:
    """Two 8 s, 10 fps videos of coloured segments, and JSON-lines annotations for them."""
    import numpy as np

    from conftest import make_video

    folder = tmp_path_factory.mktemp("evalvids")
    plans = {"a.mp4": [("black", 20), ("red", 30), ("blue", 30)], "b.mp4": [("green", 40), ("black", 40)]}
    rgb = {"black": (0, 0, 0), "red": (200, 0, 0), "blue": (0, 0, 200), "green": (0, 200, 0)}
    lines = []
    for name, plan in plans.items():
        frames, t = [], 0
        for colour, n in plan:
            frames += [np.full((32, 32, 3), rgb[colour], np.uint8)] * n
            if colour != "black":
                lines.append({"video": name, "query": [f"something {colour}"], "start_s": t / 10, "end_s": (t + n) / 10})
            t += n
        make_video(folder / name, frames, fps=10)
    lines.append({"video": "missing.mp4", "query": ["red"], "start_s": 0, "end_s": 1, "kind": "broken"})
    (folder / "ann.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return folder


def test_eval_harness_scores_a_perfect_grounder(colour_videos: Path) -> None:
    from clipground.api import GroundOptions, ModelSpec, run_eval
    from fakes import ColourEncoder

    result = run_eval(
        read_annotations(colour_videos / "ann.jsonl"), colour_videos, GroundOptions(fps=10), ModelSpec(),
        details=True, encoder=ColourEncoder(),
    )
    single = result["by_kind"]["single"]
    assert single["queries"] == 3 and single["R@1,IoU=0.7"] == 1.0 and single["mIoU"] == 1.0
    assert result["by_kind"]["broken"]["failed"] == 1 and result["by_kind"]["broken"]["R@1,IoU=0.3"] == 0.0
    assert result["overall"]["R@1,IoU=0.5"] == pytest.approx(3 / 4)
    missing = next(d for d in result["details"] if d["video"] == "missing.mp4")
    assert "missing.mp4" in missing["error"] and missing["pred"] is None


def test_eval_command_prints_metrics_json(colour_videos: Path, tiny_clip: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from clipground.cli import app

    result = CliRunner().invoke(
        app, ["eval", str(colour_videos / "ann.jsonl"), "--videos", str(colour_videos), "--model",
              tiny_clip, "--device", "cpu"],
    )
    assert result.exit_code == 0, result.stderr
    report_ = json.loads(result.stdout)
    assert report_["overall"]["queries"] == 4 and set(report_["by_kind"]) == {"single", "broken"}
    assert {"R@1,IoU=0.3", "R@1,IoU=0.5", "R@1,IoU=0.7", "R@5,IoU=0.5", "mIoU"} <= set(report_["overall"])
    bad = CliRunner().invoke(app, ["eval", str(tmp_path / "none.jsonl")])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: cannot read annotations")
