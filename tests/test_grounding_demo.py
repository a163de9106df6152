"""End to end with the shipped demo model: the right segment is found on generated and sample videos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clipground.cli import app
from clipground.demo.render import Segment, write_video
from clipground.numeric import temporal_iou

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
runner = CliRunner()


def match(video: Path, *args: str) -> dict:
    result = runner.invoke(app, ["match", str(video), "--model", "demo", "--device", "cpu", "--no-cache", *args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, list]:
    """24 s, 480x270: gap, green triangle, purple square (moving, distractor), gap, white cross."""
    segments = [Segment(3.0), Segment(6.0, "triangle", "green"),
                Segment(5.0, "square", "purple", moving=True, distractor=True), Segment(3.0),
                Segment(7.0, "cross", "white")]
    path = tmp_path_factory.mktemp("demo") / "generated.mp4"
    truths = write_video(path, segments, fps=10, size=(480, 270), seed=3)
    return path, [t for t in truths if t.caption]


def test_each_generated_segment_is_found(generated) -> None:
    video, truths = generated
    for truth in truths:
        record = match(video, "-t", truth.caption)
        iou = temporal_iou((record["start_s"], record["end_s"]), (truth.start_s, truth.end_s))
        assert iou >= 0.5, (truth.caption, record["start_s"], record["end_s"])


def test_a_two_sentence_span_covers_both_segments(generated) -> None:
    video, truths = generated
    record = match(video, "-t", truths[0].caption, "-t", f"then {truths[1].caption}.")
    iou = temporal_iou((record["start_s"], record["end_s"]), (truths[0].start_s, truths[1].end_s))
    assert iou >= 0.5
    first, second = record["sentences"]
    assert first["end_s"] <= second["start_s"]


def test_the_readme_first_run_finds_the_red_circle() -> None:
    truth = next(s for s in json.loads((SAMPLE / "demo.json").read_text()) if s["caption"] == "a red circle")
    record = match(SAMPLE / "demo.mp4", "--text", "a red circle")
    assert temporal_iou((record["start_s"], record["end_s"]), (truth["start_s"], truth["end_s"])) >= 0.9
