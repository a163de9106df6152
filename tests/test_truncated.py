"""A truncated video says so (issue 21): its frames before the cut are answered, one stderr warning
names the file with its declared and decoded durations, and the JSON carries `declared_duration_s`
beside `duration_s`. Intact files say nothing: the 14 real videos (variable frame rate, B-frames,
edit lists, estimated durations, audio longer than the video) and audio that outlasts the video.

The cut copies are the first 10% of the real videos' bytes, written to tmp_path. Commands run
in-process with the tiny random-weight model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import pytest
from conftest import real_videos_dir, solid_frames
from typer.testing import CliRunner

from clipground.cli import app
from clipground.types import DecodeSummary
from clipground.video import DecodeTuning, FrameSampler, Readers, cut_short, open_video, probe
from clipground.video.truncation import slack_s

runner = CliRunner()

# What a copy of a real video's first 10% of bytes gives: a warning (the file still declares the
# whole duration), a quiet answer (the declared duration follows the cut: AVI without its index,
# GIF; or none is declared), or an error (nothing decodable, or the index is at the end).
CUT_TO_10_PERCENT = {
    "anim_odd_314x273.gif": "quiet",
    "h264_opus.mkv": "warns",
    "h264_phone_rot180.mp4": "error",
    "h264_vfr_screenrec.mp4": "warns",
    "hevc10_dv_iphone.mov": "error",
    "hevc_aac_editlist.mp4": "error",
    "iphone_h264_rot90.mov": "error",
    "mjpeg_pcm_camera.avi": "quiet",
    "mpeg4asp_mp3.avi": "warns",
    "mpeg4sp_amrnb.3gp": "warns",
    "sony_a7m3_interlaced.mts": "error",
    "vp8_vorbis_1s.webm": "error",
    "vp9_odd_161x121.webm": "error",
    "vp9_opus_noduration.webm": "quiet",
}


def cut(name: str, folder: Path, keep: float = 0.1) -> Path:
    """A copy of the first `keep` of a real video's bytes."""
    data = (real_videos_dir() / name).read_bytes()
    path = folder / f"cut_{name}"
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def invoke(*argv: str):
    return runner.invoke(app, list(argv))


@pytest.fixture
def match(tiny_clip: str):
    """`clipground match VIDEO -t x ARGS...` with the tiny model on the CPU."""

    def run(video: Path, *args: str):
        return invoke(
            "match", str(video), "-t", "x", "--model", tiny_clip, "--device", "cpu", *args
        )

    return run


def cut_warnings(stderr: str) -> list[str]:
    """The warnings about a cut; the only other line allowed is about the packet the cut split."""
    lines = stderr.strip().splitlines()
    assert all(line.startswith("warning: ") for line in lines), stderr
    others = [line for line in lines if "truncated" not in line]
    assert all("undecodable video packet" in line for line in others), stderr
    return [line for line in lines if "truncated" in line]


def check_cut_warning(stderr: str, video: Path, record: dict) -> None:
    """Exactly one line about the cut: it names the file and both durations."""
    lines = cut_warnings(stderr)
    assert len(lines) == 1, stderr
    line = lines[0]
    assert str(video) in line and "the file may be truncated" in line, line
    assert f"ends at {record['duration_s']:.2f} s" in line, line
    assert f"says {record['declared_duration_s']:.2f} s" in line, line


def sampled_summary(path: Path, **kwargs) -> DecodeSummary:
    sampler = FrameSampler(path, fps=2.0, short_side=32, **kwargs)
    for _ in sampler.chunks():
        pass
    return sampler.summary()


# ---------------------------------------------------------------------------------------------
# The rule


def test_cut_short_allows_the_measured_slack_and_no_more() -> None:
    def summary(declared: float | None) -> DecodeSummary:
        return DecodeSummary(250, 10.0, 25.0, 0, "pyav", declared_duration_s=declared)

    assert slack_s(10.0, 25.0) == pytest.approx(0.1)  # 2 frames 0.08 s, 1% 0.1 s, floor 0.1 s
    assert slack_s(100.0, 25.0) == pytest.approx(1.0)  # 1% of a long video
    assert slack_s(10.0, 1.0) == pytest.approx(2.0)  # two frames of a slide show
    assert not cut_short(summary(None))  # nothing declared: nothing to compare
    assert not cut_short(summary(10.09))
    assert cut_short(summary(10.12))
    assert not cut_short(summary(9.0))  # decoding longer than declared is not a cut


@pytest.mark.parametrize("name", sorted(CUT_TO_10_PERCENT))
def test_intact_real_video_is_not_taken_for_a_cut(name: str, caplog) -> None:
    path = real_videos_dir() / name
    with caplog.at_level(logging.WARNING, logger="clipground"):
        summary = sampled_summary(path)
    assert not [r for r in caplog.records if "truncated" in r.getMessage()]
    assert not cut_short(summary)
    assert (summary.declared_duration_s is None) == (name == "vp9_opus_noduration.webm")


def test_matroska_declares_the_video_tracks_duration_not_the_audios() -> None:
    path = real_videos_dir() / "h264_opus.mkv"
    with av.open(str(path)) as container:
        whole_s = container.duration / av.time_base  # the container's: its Opus audio runs longer
    declared_s = probe(path).duration_s
    assert declared_s == pytest.approx(10.333, abs=1e-6)  # the video track's DURATION tag
    assert whole_s == pytest.approx(10.381, abs=1e-3)


def _video_with_longer_audio(path: Path, video_s: float, audio_s: float) -> Path:
    """`video_s` of 25 frames/s video and `audio_s` of silent audio (Opus in WebM, else AAC)."""
    webm = path.suffix == ".webm"
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libvpx-vp9" if webm else "libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("libopus" if webm else "aac", rate=48000)
        for i, pixels in enumerate(solid_frames(round(video_s * 25))):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        size, at = audio.codec_context.frame_size or 960, 0
        while at < audio_s * 48000:
            ctx = audio.codec_context
            frame = av.AudioFrame(format=ctx.format.name, layout=ctx.layout.name, samples=size)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate, frame.pts, at = 48000, at, at + size
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".webm"])
def test_audio_longer_than_the_video_is_not_a_cut(match, tmp_path: Path, suffix: str) -> None:
    path = _video_with_longer_audio(tmp_path / f"tail{suffix}", video_s=1.0, audio_s=2.0)
    with av.open(str(path)) as container:
        assert container.duration / av.time_base > 1.9  # the container spans the audio
    result = match(path, "--no-cache")
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    record = json.loads(result.stdout)
    assert record["declared_duration_s"] == pytest.approx(1.0)
    assert record["duration_s"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Cut copies of the real videos


@pytest.mark.parametrize("name", sorted(CUT_TO_10_PERCENT))
def test_real_video_cut_to_10_percent(match, tmp_path: Path, name: str) -> None:
    path = cut(name, tmp_path)
    result = match(path, "--no-cache", "-f", "jsonl")
    expected = CUT_TO_10_PERCENT[name]
    if expected == "error":
        assert result.exit_code == 3 and result.stdout == "", result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0]
        return
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    declared, decoded = record["declared_duration_s"], record["duration_s"]
    said = probe(path).duration_s  # what the cut file declares
    assert declared == (None if said is None else round(said, 6))
    if expected == "warns":
        check_cut_warning(result.stderr, path, record)
        whole = probe(real_videos_dir() / name).duration_s
        assert declared > decoded + slack_s(declared, record["native_fps"])
        if not name.endswith(".avi"):  # AVI without its index declares what is left
            assert declared == pytest.approx(whole, abs=1e-6)
    else:
        assert cut_warnings(result.stderr) == []
        assert declared is None or declared - decoded <= slack_s(declared, record["native_fps"])


def test_cached_answer_warns_and_reports_as_the_fresh_one(match, tiny_clip: str, tmp_path) -> None:
    path = cut("h264_opus.mkv", tmp_path)
    fresh = match(path)
    assert fresh.exit_code == 0, fresh.stderr
    record = json.loads(fresh.stdout)
    assert (record["duration_s"], record["declared_duration_s"]) == (0.7, 10.333)
    check_cut_warning(fresh.stderr, path, record)

    embedded = invoke("embed", str(path), "--model", tiny_clip, "--device", "cpu")
    assert embedded.exit_code == 0, embedded.stderr
    assert json.loads(embedded.stdout)["cached"] is True  # the entry `match` wrote, under its key
    check_cut_warning(embedded.stderr, path, record)

    cached = match(path)
    assert cached.exit_code == 0, cached.stderr
    assert cached.stdout == fresh.stdout and cached.stderr == fresh.stderr


def test_refined_answer_warns_once(match, tmp_path: Path) -> None:
    path = cut("h264_opus.mkv", tmp_path)
    result = match(path, "--no-cache", "--refine")  # a second pass over time ranges
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["frames_embedded"] > record["num_sampled"]  # the second pass ran
    check_cut_warning(result.stderr, path, record)


def test_batch_records_carry_both_durations_and_warn_once_per_video(
    tiny_clip: str, tmp_path: Path
) -> None:
    path, intact = cut("h264_opus.mkv", tmp_path), real_videos_dir() / "vp9_odd_161x121.webm"
    queries = tmp_path / "queries.txt"
    queries.write_text("a person\na pancake\n")
    argv = ["batch", str(path), str(intact), "--queries", str(queries), "--model", tiny_clip]
    result = invoke(*argv, "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 4
    by_video = {r["video"]: (r["duration_s"], r["declared_duration_s"]) for r in records}
    assert by_video == {str(path): (0.7, 10.333), str(intact): (1.001, 1.001)}
    check_cut_warning(result.stderr, path, next(r for r in records if r["video"] == str(path)))


def test_align_summary_carries_both_durations(tiny_clip: str, tmp_path: Path) -> None:
    path = cut("h264_opus.mkv", tmp_path)
    transcript = tmp_path / "words.txt"
    transcript.write_text("a person\na pancake\n")
    result = invoke(
        "align", str(path), "--transcript", str(transcript), "--model", tiny_clip,
        "--device", "cpu", "--no-cache",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]
    assert (summary["duration_s"], summary["declared_duration_s"]) == (0.7, 10.333)
    check_cut_warning(result.stderr, path, summary)


# ---------------------------------------------------------------------------------------------
# Passes over part of a file


def test_a_time_range_is_not_taken_for_a_cut(tmp_path: Path, caplog) -> None:
    intact = real_videos_dir() / "h264_opus.mkv"
    with caplog.at_level(logging.WARNING, logger="clipground"):
        summary = sampled_summary(intact, start_s=2.0, end_s=3.0)
    assert not caplog.records
    assert summary.duration_s == pytest.approx(10.333) and not cut_short(summary)


def test_a_time_range_of_a_cut_file_reports_the_cut_without_warning(tmp_path: Path, caplog) -> None:
    # The second pass of a refined answer: the first pass over the whole file has warned already.
    with caplog.at_level(logging.WARNING, logger="clipground"):
        summary = sampled_summary(cut("h264_opus.mkv", tmp_path), end_s=0.5)
    assert not [r for r in caplog.records if "truncated" in r.getMessage()]
    assert (summary.duration_s, summary.declared_duration_s) == (pytest.approx(0.7), 10.333)
    assert cut_short(summary)


def test_segments_decoded_at_once_warn_once_as_one_pass(tmp_path: Path, caplog) -> None:
    path = cut("h264_opus.mkv", tmp_path, keep=0.9)
    opens: list[Path] = []
    readers = Readers(open=lambda p: opens.append(p) or open_video(p))
    short = DecodeTuning(segment_min_s=1.0)  # the 9 s left are cut into segments
    sampler = FrameSampler(path, fps=2.0, short_side=32, readers=readers, tuning=short)
    with caplog.at_level(logging.WARNING, logger="clipground"):
        for _ in sampler.chunks_unordered(4):
            pass
    assert len(opens) > 3  # probe, scan, and one decoder per segment
    warned = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(warned) == 1 and str(path) in warned[0]
    assert sampler.summary() == sampled_summary(path)
