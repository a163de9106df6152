"""The command line end to end with a tiny random-weight open_clip model (no network)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clipground.cli import app
from conftest import make_video, solid_frames

KEYS = {
    "video", "query", "start_frame", "end_frame", "start_s", "end_s", "score", "objective", "span_mode",
    "native_fps", "num_frames", "duration_s", "declared_duration_s", "sample_fps", "num_sampled",
    "frames_embedded", "model", "decoder", "candidates",
}
runner = CliRunner()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """A 4 s, 25 fps clip whose frames are distinct solid colours."""
    return make_video(tmp_path_factory.mktemp("cli") / "clip.mp4", solid_frames(100), fps=25)


@pytest.fixture
def match(tiny_clip: str):
    """Run `clipground match VIDEO ARGS...` with the tiny model on the CPU."""
    return lambda video, *args: run("match", str(video), "--model", tiny_clip, "--device", "cpu", *args)


def run(*args: str):
    return runner.invoke(app, list(args))


def test_match_prints_the_documented_json(match, video: Path) -> None:
    result = match(video, "--text", "a red circle")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record) == KEYS
    assert record["query"] == ["a red circle"]
    assert record["num_frames"] == 100 and record["native_fps"] == pytest.approx(25.0)
    assert record["duration_s"] == record["declared_duration_s"] == pytest.approx(4.0)
    assert record["num_sampled"] == 8 and record["sample_fps"] == 2.0
    assert 0 <= record["start_frame"] <= record["end_frame"] <= 99
    assert record["start_s"] == pytest.approx(record["start_frame"] / 25)
    assert record["end_s"] == pytest.approx((record["end_frame"] + 1) / 25)
    best = {k: record[k] for k in ("start_frame", "end_frame", "start_s", "end_s", "score")}
    assert record["candidates"][0] == best
    assert [c["score"] for c in record["candidates"]] == sorted(
        (c["score"] for c in record["candidates"]), reverse=True
    )
    assert result.stderr == ""
    assert record["objective"] == "balanced"


@pytest.mark.parametrize("objective", ["balanced", "contrast", "mean"])
def test_every_objective_is_a_choice(match, video: Path, objective: str) -> None:
    result = match(video, "--text", "a red circle", "--objective", objective)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["objective"] == objective


def test_jsonl_is_one_line_and_table_is_for_people(match, video: Path) -> None:
    lines = match(video, "-t", "x", "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["query"] == ["x"]
    table = match(video, "-t", "x", "--format", "table")
    assert table.exit_code == 0 and "rank" in table.stdout and "score" in table.stdout


def test_span_of_sentences_and_transcript_agree(match, video: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "narration.txt"
    transcript.write_text("zero.\none.\ntwo.\nthree.\n", encoding="utf-8")
    by_text = json.loads(match(video, "-t", "one.", "-t", "two.").stdout)
    by_span = json.loads(match(video, "--transcript", str(transcript), "--span", "1:2").stdout)
    assert by_span["query"] == ["one.", "two."]
    assert by_span["start_frame"] == by_text["start_frame"] and by_span["score"] == by_text["score"]


def test_ordered_span_reports_each_sentence_in_order(match, video: Path) -> None:
    record = json.loads(match(video, "-t", "one.", "-t", "two.", "--span-mode", "ordered").stdout)
    first, second = record["sentences"]
    assert first["end_frame"] < second["start_frame"]
    assert record["start_frame"] == first["start_frame"] and record["end_frame"] == second["end_frame"]


def test_long_text_warns_and_still_answers(match, video: Path) -> None:
    result = match(video, "-t", " ".join(["word"] * 60))
    assert result.exit_code == 0
    assert "longer than the model" in result.stderr
    assert json.loads(result.stdout)["query"][0].count("word") == 60


def test_min_and_max_length_are_honoured(match, video: Path) -> None:
    record = json.loads(match(video, "-t", "x", "--min-len", "1.5", "--max-len", "2").stdout)
    for window in record["candidates"]:
        assert 1.5 - 1e-6 <= window["end_s"] - window["start_s"] <= 2.0 + 1e-6


def _error(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_file(match, tmp_path: Path) -> None:
    _error(match(tmp_path / "nope.mp4", "-t", "x"), 3, "nope.mp4")


def test_directory(match, tmp_path: Path) -> None:
    _error(match(tmp_path, "-t", "x"), 3, str(tmp_path))


def test_non_video_file(match, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("just some text, not a video\n" * 20)
    _error(match(fake, "-t", "x"), 3, "notes.mp4")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text(match, video: Path, text: str) -> None:
    _error(match(video, "--text", text), 2, "empty")


def test_no_text_at_all(match, video: Path) -> None:
    _error(match(video), 2, "--text")


@pytest.mark.parametrize("span", ["5:1", "9", "x:y", "1:2:3"])
def test_bad_span(match, video: Path, tmp_path: Path, span: str) -> None:
    transcript = tmp_path / "t.txt"
    transcript.write_text("a\nb\nc\n")
    _error(match(video, "--transcript", str(transcript), "--span", span), 2, "--span")


def test_span_without_transcript(match, video: Path) -> None:
    _error(match(video, "-t", "x", "--span", "1:2"), 2, "--transcript")


def test_min_len_above_max_len(match, video: Path) -> None:
    _error(match(video, "-t", "x", "--min-len", "3", "--max-len", "1"), 2, "--min-len")


def test_min_len_longer_than_video(match, video: Path) -> None:
    _error(match(video, "-t", "x", "--min-len", "10"), 3, "shorter than --min-len")


@pytest.mark.parametrize(
    "args", [("--fps", "0"), ("--fps", "-1"), ("--fps", "nan"), ("--max-len", "inf"), ("--top-k", "0"),
             ("--objective", "median"), ("--format", "xml"), ("--decoder", "ffmpeg")]
)
def test_invalid_options(match, video: Path, args: tuple[str, str]) -> None:
    _error(match(video, "-t", "x", *args), 2, args[0])


def test_unknown_model(video: Path) -> None:
    _error(run("match", str(video), "-t", "x", "--model", "ViT-Nope-9"), 4, "ViT-Nope-9")


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("clipground ")
    for command in ([], ["match"]):
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Usage" in result.stdout


def test_python_dash_m_works(tiny_clip: str, video: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clipground", "match", str(video), "-t", "x", "--model", tiny_clip, "--format", "jsonl"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["video"] == str(video)


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["match", "v.mp4", "--fps", "fast"], "--fps"), (["match"], "Missing argument"), (["nope"], "nope"),
     (["match", "v.mp4", "--bogus"], "--bogus")],
)
def test_usage_errors_from_the_console_script_are_one_line(args: list[str], needle: str) -> None:
    done = subprocess.run([sys.executable, "-m", "clipground", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], done.stderr


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_sample_grounds_alike_in_each_cpu_precision(precision: str) -> None:
    sample = Path(__file__).resolve().parents[1] / "sample_data" / "demo.mp4"
    result = run("match", str(sample), "-t", "a red circle", "--model", "demo", "--device", "cpu",
                 "--precision", precision, "--no-cache", "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["start_s"], record["end_s"]) == (4.0, 10.0)


@pytest.mark.parametrize("value", ["0", "-2", "33"])
def test_bad_decode_workers_is_a_usage_error(match, video: Path, value: str) -> None:
    result = match(video, "-t", "x", "--decode-workers", value)
    assert result.exit_code == 2 and f"--decode-workers must be 1..32, got {value}" in result.stderr


@pytest.mark.parametrize("value", ["0", "17"])
def test_bad_model_streams_is_a_usage_error(match, video: Path, value: str) -> None:
    result = match(video, "-t", "x", "--model-streams", value)
    assert result.exit_code == 2 and f"--model-streams must be 1..16, got {value}" in result.stderr


def test_model_streams_give_the_same_answer(match, video: Path) -> None:
    def answer(streams: str) -> dict:
        result = match(video, "-t", "a red circle", "--model-streams", streams, "--no-cache")
        return json.loads(result.stdout)

    one, three = answer("1"), answer("3")
    assert (one["start_frame"], one["end_frame"]) == (three["start_frame"], three["end_frame"])
    assert one["score"] == pytest.approx(three["score"], abs=1e-5)


@pytest.mark.parametrize(("precision", "needle"), [("fp8", "unknown precision 'fp8'"), ("fp16", "needs a GPU")])
def test_bad_precision_is_a_usage_error(match, video: Path, precision: str, needle: str) -> None:
    result = match(video, "-t", "x", "--precision", precision)
    assert result.exit_code == 2 and needle in result.stderr
