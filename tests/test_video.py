"""Tests for clipground.video: probing, time-based sampling, rotation, both backends, errors."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import platform
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import (
    arrow_image,
    index_from_pixels,
    make_audio_only,
    real_videos_dir,
    solid_frames,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from video_fakes import CountingPackets, Overshooting, opener

from clipground.errors import UsageError, VideoError
from clipground.types import DecodeSummary, Frames
from clipground.video import DECODERS, DecodeTuning, FrameSampler, Readers, probe, scan_packets
from clipground.video.convert import upright
from clipground.video.decord_reader import open_decord

# decord publishes wheels for x86-64 only (pyproject installs it only there); on x86-64 a missing
# decord is a broken install, so the tests run and fail instead of skipping.
needs_decord = pytest.mark.skipif(
    importlib.util.find_spec("decord") is None
    and platform.machine().lower() not in ("x86_64", "amd64"),
    reason="decord publishes wheels for x86-64 only",
)

# Decoded frame counts from shared/realvideos/SOURCES.md ("frames hdr/dec", the decoded half).
REAL_FRAME_COUNTS = {
    "h264_phone_rot180.mp4": 25,
    "hevc10_dv_iphone.mov": 4,  # the header says 5
    "hevc_aac_editlist.mp4": 27,
    "vp8_vorbis_1s.webm": 24,
    "vp9_opus_noduration.webm": 74,
    "vp9_odd_161x121.webm": 30,
    "h264_opus.mkv": 310,
    "iphone_h264_rot90.mov": 120,
    "mjpeg_pcm_camera.avi": 41,
    "mpeg4asp_mp3.avi": 164,
    "anim_odd_314x273.gif": 30,
    "h264_vfr_screenrec.mp4": 63,
    "sony_a7m3_interlaced.mts": 13,
    "mpeg4sp_amrnb.3gp": 74,
}
# Files decord 0.6 reads correctly; on the others it must hand over to PyAV with a warning.
DECORD_OK = {
    "h264_phone_rot180.mp4",
    "hevc_aac_editlist.mp4",
    "vp8_vorbis_1s.webm",
    "h264_opus.mkv",
    "iphone_h264_rot90.mov",
    "mjpeg_pcm_camera.avi",
    "h264_vfr_screenrec.mp4",
    "mpeg4sp_amrnb.3gp",
}


# ---------------------------------------------------------------------------------------------
# Helpers


def run(path: Path, **kwargs) -> tuple[Frames, DecodeSummary, list[Frames]]:
    """Sample `path` and return all chunks joined, the summary and the chunks."""
    kwargs.setdefault("size", (32, 24))
    sampler = FrameSampler(path, **kwargs)
    chunks = list(sampler.chunks())
    width, height = sampler.size
    joined = Frames(
        np.concatenate([np.zeros((0, height, width, 3), np.uint8)] + [c.pixels for c in chunks]),
        np.concatenate([np.zeros(0)] + [c.times_s for c in chunks]),
        np.concatenate([np.zeros(0, np.int64)] + [c.indices for c in chunks]),
    )
    return joined, sampler.summary(), chunks


def readback(frames: Frames) -> list[int]:
    """The colour-coded source frame number of each returned frame."""
    return [index_from_pixels(p) for p in frames.pixels]


def expected_picks(
    times: np.ndarray, end_s: float, fps: float, start_s: float = 0.0, stop_s: float = math.inf
) -> list[int]:
    """Brute force: for each target k / fps in range, the last frame with time <= target, once."""
    picks: list[int] = []
    k = math.ceil((start_s - 1e-9) * fps)  # 1e-9 s of float slack, as the sampling plan allows
    while k / fps < min(end_s, stop_s) - 1e-9:
        i = int(np.searchsorted(times, k / fps + 1e-9, side="right")) - 1
        if not picks or picks[-1] != i:
            picks.append(i)
        k += 1
    return picks


def pyav_times(path: Path) -> np.ndarray:
    """Presentation times of every decoded frame read straight from PyAV, sorted, from 0."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = sorted(f.pts for f in container.decode(stream))
        return (np.asarray(pts, dtype=np.float64) - pts[0]) * float(stream.time_base)


def half_frame(times: np.ndarray) -> float:
    """Half the smallest gap between distinct frame times."""
    gaps = np.diff(times)
    return 0.5 * float(gaps[gaps > 0].min())


# ---------------------------------------------------------------------------------------------
# Generated constant-frame-rate video


def test_probe_reports_display_geometry_and_rate(cfr_video: Path) -> None:
    info = probe(cfr_video)
    assert (info.width, info.height, info.rotation_deg) == (64, 48, 0)
    assert info.avg_fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.start_offset_s == 0.0 and info.codec == "h264"
    assert info.path == str(cfr_video)


def test_fps2_returns_frames_displayed_at_half_seconds(cfr_video: Path) -> None:
    frames, summary, _ = run(cfr_video, fps=2)
    assert frames.indices.tolist() == [0, 12, 25, 37]  # 0.5 s * 25 = 12.5 -> frame 12 shows
    assert readback(frames) == [0, 12, 25, 37]
    np.testing.assert_allclose(frames.times_s, np.array([0, 12, 25, 37]) / 25)
    assert (summary.num_frames, summary.backend, summary.corrupt_packets) == (50, "pyav", 0)
    assert summary.duration_s == pytest.approx(2.0)
    assert summary.native_fps == pytest.approx(25.0)


@pytest.mark.parametrize("fps", [None, 25.0, 60.0])
def test_every_frame_once_at_or_above_native_rate(cfr_video: Path, fps: float | None) -> None:
    frames, _, _ = run(cfr_video, fps=fps)
    assert frames.indices.tolist() == list(range(50))
    assert readback(frames) == list(range(50))
    np.testing.assert_allclose(frames.times_s, np.arange(50) / 25)


@pytest.mark.parametrize("fps", [3.0, 7.0, 24.0])
def test_sampling_matches_brute_force(cfr_video: Path, fps: float) -> None:
    frames, _, _ = run(cfr_video, fps=fps)
    expected = expected_picks(np.arange(50) / 25, 2.0, fps)
    assert frames.indices.tolist() == expected
    assert readback(frames) == expected


def test_time_range_at_fps_matches_full_pass(cfr_video: Path) -> None:
    frames, summary, _ = run(cfr_video, fps=10, start_s=0.5, end_s=1.0)
    expected = expected_picks(np.arange(50) / 25, 2.0, 10, 0.5, 1.0)
    assert expected == [12, 15, 17, 20, 22]
    assert frames.indices.tolist() == expected and readback(frames) == expected
    np.testing.assert_allclose(frames.times_s, np.array(expected) / 25)
    assert summary.num_frames == 50  # frames past the range counted from the packet scan


def test_time_range_every_frame_includes_the_one_showing_at_start(cfr_video: Path) -> None:
    frames, _, _ = run(cfr_video, fps=None, start_s=0.5, end_s=1.0)
    assert frames.indices.tolist() == list(range(12, 25))  # frame 12 shows 0.48..0.52
    assert readback(frames) == list(range(12, 25))


def test_chunk_size_bounds_each_chunk(cfr_video: Path) -> None:
    frames, _, chunks = run(cfr_video, fps=None, chunk_size=7)
    assert [len(c) for c in chunks] == [7] * 7 + [1]
    assert frames.indices.tolist() == list(range(50))


def test_output_size_and_short_side(cfr_video: Path) -> None:
    frames, _, _ = run(cfr_video, fps=1, size=(40, 20))
    assert frames.pixels.shape == (2, 20, 40, 3) and frames.pixels.dtype == np.uint8
    frames, _, _ = run(cfr_video, fps=1, size=None, short_side=24)
    assert frames.pixels.shape == (2, 24, 32, 3)
    seen = []

    def half(width: int, height: int) -> tuple[int, int]:  # a size chosen from the probed frame size
        seen.append((width, height))
        return width // 2, height // 2

    frames, _, _ = run(cfr_video, fps=1, size=half)
    assert seen == [(64, 48)] and frames.pixels.shape == (2, 24, 32, 3)


def test_summary_before_exhaustion_is_an_error(cfr_video: Path) -> None:
    sampler = FrameSampler(cfr_video, fps=2, size=(32, 24), chunk_size=1)
    with pytest.raises(RuntimeError, match="chunks"):
        sampler.summary()
    chunks = sampler.chunks()
    next(chunks)
    with pytest.raises(RuntimeError):
        sampler.summary()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fps": 1, "size": (32, 24), "short_side": 24},
        {"fps": 1},
        {"fps": 0, "size": (32, 24)},
        {"fps": -1.0, "size": (32, 24)},
        {"fps": 1, "size": (0, 24)},
        {"fps": 1, "short_side": 0},
        {"fps": 1, "size": (32, 24), "decoder": "opencv"},
        {"fps": 1, "size": (32, 24), "chunk_size": 0},
        {"fps": 1, "size": (32, 24), "start_s": 1.0, "end_s": 0.5},
        {"fps": 1, "size": (32, 24), "ranges": []},
        {"fps": 1, "size": (32, 24), "ranges": [(0.0, 1.0), (0.5, 1.5)]},  # overlapping
        {"fps": 1, "size": (32, 24), "ranges": [(1.0, 1.0)]},
        {"fps": 1, "size": (32, 24), "ranges": [(-1.0, 1.0)]},
        {"fps": 1, "size": (32, 24), "ranges": [(0.0, 1.0)], "start_s": 0.0},
    ],
)
def test_bad_arguments_are_usage_errors(cfr_video: Path, kwargs: dict) -> None:
    with pytest.raises(UsageError):
        FrameSampler(cfr_video, **kwargs)


@pytest.mark.parametrize(
    ("name", "value"),
    [("segment_min_s", -1.0), ("seek_min_s", math.nan), ("seek_retries", 1.5), ("seek_min_gops", -1)],
)
def test_bad_tuning_is_a_usage_error(name: str, value: float) -> None:
    with pytest.raises(UsageError, match=f"{name} must be .*, got {value}"):
        DecodeTuning(**{name: value})


def test_decord_is_imported_only_when_used() -> None:
    code = "import sys, clipground.video; sys.exit('decord' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_frames_validate_shapes_and_print_no_data() -> None:
    ok = Frames(np.zeros((2, 4, 5, 3), np.uint8), np.zeros(2), np.zeros(2, np.int64))
    assert "(2, 4, 5, 3)" in repr(ok) and "array" not in repr(ok)
    with pytest.raises(ValueError, match="times_s"):
        Frames(np.zeros((2, 4, 5, 3), np.uint8), np.zeros(3), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="pixels"):
        Frames(np.zeros((2, 4, 5), np.uint8), np.zeros(2), np.zeros(2, np.int64))
    assert DECODERS == ("pyav", "decord")


def test_frames_split_into_consecutive_views() -> None:
    pixels = np.arange(7 * 2 * 2 * 3, dtype=np.uint8).reshape(7, 2, 2, 3)
    frames = Frames(pixels, np.arange(7.0), np.arange(7, dtype=np.int64) + 10)
    pieces = frames.split(3)
    assert [len(p) for p in pieces] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([p.indices for p in pieces]), frames.indices)
    np.testing.assert_array_equal(np.concatenate([p.times_s for p in pieces]), frames.times_s)
    assert all(np.shares_memory(p.pixels, frames.pixels) for p in pieces)
    assert [len(p) for p in frames.split(7)] == [7] and [len(p) for p in frames.split(100)] == [7]


# ---------------------------------------------------------------------------------------------
# Variable frame rate

VFR_PTS = [0, 3000, 9000, 9500, 20000, 21000, 45000, 46000, 90000, 90100]  # 1/90000 s


@pytest.fixture(scope="session")
def vfr_video(make_video_at: Callable[..., Path]) -> Path:
    """10 frames at irregular times (gaps 5.6 ms to 0.5 s), H.264 in MP4."""
    # No B-frames: with them, MP4 stores durations in decode order and the last one is arbitrary.
    return make_video_at(
        "vfr.mp4", solid_frames(len(VFR_PTS)), pts=VFR_PTS, time_base=Fraction(1, 90000), b_frames=0
    )


def test_vfr_times_are_the_written_pts(vfr_video: Path) -> None:
    frames, summary, _ = run(vfr_video, fps=None)
    np.testing.assert_allclose(frames.times_s, np.array(VFR_PTS) / 90000, atol=1e-9)
    assert readback(frames) == list(range(len(VFR_PTS)))
    assert summary.num_frames == len(VFR_PTS)


@pytest.mark.parametrize("fps", [2.0, 4.0, 9.0])
def test_vfr_picks_the_frame_displayed_at_each_target(vfr_video: Path, fps: float) -> None:
    frames, summary, _ = run(vfr_video, fps=fps)
    times = np.array(VFR_PTS) / 90000
    expected = expected_picks(times, summary.duration_s, fps)
    assert frames.indices.tolist() == expected and readback(frames) == expected
    np.testing.assert_allclose(frames.times_s, times[expected], atol=1e-9)
    if fps == 4.0:  # targets 0, .25, .5, .75, 1.0 s -> frames shown then
        assert expected == [0, 5, 6, 7, 8]


def test_vfr_rate_above_average_emits_every_frame_once(vfr_video: Path) -> None:
    assert probe(vfr_video).avg_fps < 10
    frames, _, _ = run(vfr_video, fps=10.0)
    assert frames.indices.tolist() == list(range(len(VFR_PTS)))


# ---------------------------------------------------------------------------------------------
# Rotation


@pytest.mark.parametrize("clockwise", [90, 180, 270])
def test_display_matrix_rotation_is_applied(
    make_video_at: Callable[..., Path], clockwise: int
) -> None:
    upright = arrow_image(64, 48)
    stored = np.rot90(upright, k=clockwise // 90)  # what a camera held sideways records
    # FFmpeg's angle is counter-clockwise: -90 asks the player to turn 90 degrees clockwise.
    angle = -clockwise if clockwise != 270 else 90
    path = make_video_at(f"rot{clockwise}.mp4", [stored] * 3, rotation=angle)
    info = probe(path)
    assert (info.rotation_deg, info.width, info.height) == (clockwise, 64, 48)
    frames, _, _ = run(path, fps=None, size=(64, 48))
    pixels = frames.pixels[0].astype(int)
    # Turning the wrong way by 90 degrees would leave the picture upside down.
    assert np.abs(pixels - upright).mean() < 8 < np.abs(np.rot90(pixels, 2) - upright).mean()


@pytest.mark.parametrize(
    ("name", "display", "clockwise"),
    [("iphone_h264_rot90.mov", (320, 568), 90), ("h264_phone_rot180.mp4", (1280, 720), 180)],
)
def test_real_rotated_clips_come_out_upright(name: str, display: tuple, clockwise: int) -> None:
    path = real_videos_dir() / name
    info = probe(path)
    assert ((info.width, info.height), info.rotation_deg) == (display, clockwise)
    width, height = display[0] // 4, display[1] // 4
    frames, _, _ = run(path, fps=None, size=(width, height), end_s=0.05)
    ours = frames.pixels[0].astype(int)
    # decord applies the display matrix by itself: an independent opinion on "upright".
    decord = pytest.importorskip("decord")
    theirs = decord.VideoReader(str(path), width=width, height=height)[0].asnumpy().astype(int)
    assert np.abs(ours - theirs).mean() < 8 < np.abs(np.rot90(ours, 2) - theirs).mean()


# ---------------------------------------------------------------------------------------------
# Seeking and time ranges on a long-GOP video


@pytest.fixture(scope="session")
def gop_video(make_video_at: Callable[..., Path]) -> Path:
    """200 frames at 10 fps (20 s), one keyframe per second."""
    return make_video_at("gop10.mp4", solid_frames(200), fps=10, gop=10)


def test_sparse_sampling_seeks_and_stays_exact(
    gop_video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        frames, summary, _ = run(gop_video, fps=0.2)
    assert frames.indices.tolist() == [0, 50, 100, 150]
    assert readback(frames) == [0, 50, 100, 150]
    assert any("seeking" in r.message for r in caplog.records)
    assert summary.num_frames == 200 and summary.duration_s == pytest.approx(20.0)


def test_range_far_into_the_video(gop_video: Path) -> None:
    frames, summary, _ = run(gop_video, fps=None, start_s=12.0, end_s=14.0)
    assert frames.indices.tolist() == list(range(120, 140))
    assert readback(frames) == list(range(120, 140))
    np.testing.assert_allclose(frames.times_s, np.arange(120, 140) / 10)
    assert summary.num_frames == 200


@pytest.mark.parametrize(("overshoot_s", "restarts"), [(1.5, False), (100, True)])
def test_seek_that_lands_late_is_recovered(
    gop_video: Path, caplog: pytest.LogCaptureFixture, overshoot_s: float, restarts: bool
) -> None:
    """A demuxer that lands `overshoot_s` late: the pass tries earlier keyframes (1.5 s late:
    the second one before does), and where none lands in time decodes from the start."""
    readers = Readers(open=opener(lambda c: Overshooting(c, overshoot_s)))
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        frames, summary, _ = run(gop_video, fps=0.2, start_s=5.0, readers=readers)
    assert frames.indices.tolist() == [50, 100, 150] and readback(frames) == [50, 100, 150]
    assert summary.num_frames == 200
    messages = [r.message for r in caplog.records]
    assert any("trying the keyframe before" in m for m in messages)  # retried earlier ones
    assert any("from the start" in m for m in messages) == restarts


@settings(max_examples=25, deadline=None)
@given(
    fps=st.one_of(st.none(), st.floats(0.05, 12.0)),
    start_s=st.one_of(st.none(), st.floats(0.0, 19.0)),
    length_s=st.one_of(st.none(), st.floats(0.05, 20.0)),
)
def test_any_rate_and_range_matches_brute_force(
    gop_video: Path, fps: float | None, start_s: float | None, length_s: float | None
) -> None:
    end_s = None if length_s is None else (start_s or 0.0) + length_s
    frames, summary, _ = run(gop_video, fps=fps, start_s=start_s, end_s=end_s)
    times = np.arange(200) / 10
    lo, hi = start_s or 0.0, math.inf if end_s is None else end_s
    if fps is None or fps >= 10:  # every frame shown during [lo, hi) (1e-9: float slack)
        shown = (times < hi - 1e-9) & ((times >= lo - 1e-9) | (times + 0.1 > lo + 1e-9))
        expected = np.flatnonzero(shown).tolist()
    else:
        expected = expected_picks(times, 20.0, fps, lo, hi)
    assert frames.indices.tolist() == expected and readback(frames) == expected
    np.testing.assert_allclose(frames.times_s, times[expected])
    assert summary.num_frames == 200


@st.composite
def disjoint_ranges(draw: st.DrawFn) -> list[tuple[float, float]]:
    """1-4 disjoint [start, end) stretches of the 20 s video, touching or apart, in any order."""
    cuts = sorted(draw(st.lists(st.floats(0.0, 21.0), min_size=2, max_size=8, unique=True)))
    pairs = [(a, b) for a, b in zip(cuts[::2], cuts[1::2]) if b > a]
    return draw(st.permutations(pairs)) if pairs else [(0.0, 21.0)]


@settings(max_examples=25, deadline=None)
@given(fps=st.one_of(st.none(), st.floats(0.05, 12.0)), ranges=disjoint_ranges())
def test_several_ranges_in_one_pass_are_the_union_of_each(
    gop_video: Path, fps: float | None, ranges: list[tuple[float, float]]
) -> None:
    """One pass over several ranges (refine's margins) hands out exactly the frames that one pass
    per range would, each once, in order."""
    frames, summary, _ = run(gop_video, fps=fps, ranges=ranges)
    each = set()
    for start_s, end_s in ranges:
        each |= set(run(gop_video, fps=fps, start_s=start_s, end_s=end_s)[0].indices.tolist())
    assert frames.indices.tolist() == sorted(each) and readback(frames) == sorted(each)
    assert summary.num_frames == 200


def test_far_apart_ranges_seek_over_the_gap(gop_video: Path) -> None:
    """Ranges 15 s apart on a 1-s GOP video: the pass seeks to the second instead of reading
    the 15 s between, and still hands out every frame of both."""
    demuxed: list[list[int]] = []  # packets read, per opened file

    def counting(container: av.container.InputContainer) -> CountingPackets:
        demuxed.append([])
        return CountingPackets(container, demuxed[-1])

    ranges = [(1.0, 2.0), (17.0, 18.0)]
    readers = Readers(open=opener(counting))
    frames, summary, _ = run(gop_video, fps=None, ranges=ranges, readers=readers)
    assert frames.indices.tolist() == [*range(10, 20), *range(170, 180)]
    assert summary.num_frames == 200
    # Three opens: the probe (a few packets), the pass (some 60; decoding through the gap would
    # read 200) and the packet scan (every packet and the flush).
    reads = sorted(len(packets) for packets in demuxed)
    assert len(reads) == 3 and reads[2] == 201 and reads[1] < 150


@pytest.mark.parametrize("fps", [None, 0.5, 3.0])
def test_tuning_changes_the_work_not_the_frames(gop_video: Path, fps: float | None) -> None:
    """Seeking, skipping and releasing at every chance, or never: the same frames and summary."""
    eager = DecodeTuning(seek_min_s=0.0, seek_min_gops=0, skip_min_fraction=0.0)
    never = DecodeTuning(seek_min_s=1e9, skip_min_fraction=1.0, release_pictures=False)
    ranges = [(1.0, 2.5), (9.0, 15.0)]
    outputs = [
        run(gop_video, fps=fps, ranges=ranges, tuning=tuning)[:2] for tuning in (None, eager, never)
    ]
    for frames, summary in outputs[1:]:
        np.testing.assert_array_equal(frames.pixels, outputs[0][0].pixels)
        np.testing.assert_array_equal(frames.times_s, outputs[0][0].times_s)
        np.testing.assert_array_equal(frames.indices, outputs[0][0].indices)
        assert summary == outputs[0][1]


def test_packet_scan_maps_pts_to_index(gop_video: Path) -> None:
    scan = scan_packets(gop_video)
    assert len(scan.pts) == 200 and scan.complete
    assert len(scan.keyframe_pts) == 20
    assert scan.rank(int(scan.pts[123])) == 123


# ---------------------------------------------------------------------------------------------
# Real-world videos


@pytest.fixture(scope="module")
def real_dir() -> Path:
    return real_videos_dir()


def test_every_real_video_is_covered(real_dir: Path) -> None:
    on_disk = {p.name for p in real_dir.iterdir() if p.suffix != ".md"}
    assert on_disk == set(REAL_FRAME_COUNTS)


@pytest.mark.parametrize("name", sorted(REAL_FRAME_COUNTS))
def test_real_video_pyav_counts_and_times(real_dir: Path, name: str) -> None:
    path = real_dir / name
    reference = pyav_times(path)
    frames, summary, _ = run(path, fps=None, size=(32, 32))
    assert summary.num_frames == REAL_FRAME_COUNTS[name] == len(frames.indices)
    assert frames.indices.tolist() == list(range(len(reference)))
    np.testing.assert_allclose(frames.times_s, reference, atol=half_frame(reference))
    sampled, _, _ = run(path, fps=2, size=(32, 32))
    assert sampled.indices.tolist() == expected_picks(reference, summary.duration_s, 2)
    np.testing.assert_allclose(sampled.times_s, reference[sampled.indices], atol=1e-6)


def fresh_scaler_pixels(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Every frame converted with a new FFmpeg scaler each (`VideoFrame.reformat`), then upright
    (`size` is the upright size: a frame stored on its side is scaled to it turned)."""
    rotation = probe(path).rotation_deg
    stored = size[::-1] if rotation % 180 else size
    with av.open(str(path)) as container:
        return np.stack([
            upright(
                frame.reformat(*stored, format="rgb24", interpolation="AREA").to_ndarray(), rotation
            )
            for frame in container.decode(video=0)
        ])


@pytest.mark.parametrize("name", sorted(REAL_FRAME_COUNTS))
def test_real_video_pixels_equal_a_fresh_scaler_per_frame(real_dir: Path, name: str) -> None:
    """A pass keeps one scaler for all its frames (much faster): the pixels stay the same."""
    frames, _, _ = run(real_dir / name, fps=None, size=(97, 61))
    np.testing.assert_array_equal(frames.pixels, fresh_scaler_pixels(real_dir / name, (97, 61)))


def test_frame_size_changing_mid_stream_scales_as_a_fresh_scaler(
    make_video_at: Callable[..., Path], tmp_path: Path
) -> None:
    """Two MPEG-TS files of different sizes joined (as a stream that changes resolution): the kept
    scaler is rebuilt for the new size, and the pixels equal a fresh scaler's for every frame."""
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (48, 64, 3), np.uint8) for _ in range(10)]
    first = make_video_at("size_a.ts", noise, fps=10)
    noise = [rng.integers(0, 256, (60, 80, 3), np.uint8) for _ in range(10)]
    second = make_video_at("size_b.ts", noise, fps=10, pts=list(range(20, 30)))
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    frames, summary, _ = run(joined, fps=None, size=(32, 24))
    assert summary.num_frames == 20
    np.testing.assert_array_equal(frames.pixels, fresh_scaler_pixels(joined, (32, 24)))


def test_real_start_offset_is_recorded_not_added(real_dir: Path) -> None:
    info = probe(real_dir / "sony_a7m3_interlaced.mts")
    assert info.start_offset_s == pytest.approx(1.04)
    frames, summary, _ = run(real_dir / "sony_a7m3_interlaced.mts", fps=None)
    assert frames.times_s[0] == 0.0 and summary.duration_s == pytest.approx(0.52)
    assert probe(real_dir / "mpeg4asp_mp3.avi").start_offset_s == pytest.approx(0.04)


def test_missing_container_duration_is_none(real_dir: Path) -> None:
    assert probe(real_dir / "vp9_opus_noduration.webm").duration_s is None
    # the video track's DURATION tag, not the container's 10.381 s (its audio runs longer)
    assert probe(real_dir / "h264_opus.mkv").duration_s == pytest.approx(10.333)


def test_real_interlaced_range_keeps_native_indices(real_dir: Path) -> None:
    path = real_dir / "sony_a7m3_interlaced.mts"  # two packets (fields) per frame
    frames, summary, _ = run(path, fps=None, start_s=0.2, end_s=0.4)
    assert frames.indices.tolist() == [5, 6, 7, 8, 9]
    np.testing.assert_allclose(frames.times_s, np.arange(5, 10) * 0.04)
    assert summary.num_frames == 13


@needs_decord
@pytest.mark.parametrize("name", sorted(REAL_FRAME_COUNTS))
def test_real_video_decord_agrees_or_hands_over(
    real_dir: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = real_dir / name
    ours, _, _ = run(path, fps=2, size=(32, 32))
    with caplog.at_level(logging.WARNING, logger="clipground.video"):
        theirs, summary, _ = run(path, fps=2, size=(32, 32), decoder="decord")
    assert summary.num_frames == REAL_FRAME_COUNTS[name]
    assert theirs.indices.tolist() == ours.indices.tolist()
    np.testing.assert_allclose(theirs.times_s, ours.times_s, atol=1e-3)
    diff = np.abs(theirs.pixels.astype(int) - ours.pixels.astype(int)).mean(axis=(1, 2, 3))
    assert diff.max() < 12
    if name in DECORD_OK:
        assert summary.backend == "decord"
    else:
        assert summary.backend == "pyav"
        assert any("decord" in r.message and name in r.message for r in caplog.records)


def test_decord_falls_back_on_mpeg4_asp_avi(
    real_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="clipground.video"):
        _, summary, _ = run(real_dir / "mpeg4asp_mp3.avi", fps=1, decoder="decord")
    assert summary.backend == "pyav"
    assert any("B-frames" in r.message for r in caplog.records)


# ---------------------------------------------------------------------------------------------
# decord on generated videos


@needs_decord
def test_decord_matches_pyav_on_generated_cfr_and_vfr(cfr_video: Path, vfr_video: Path) -> None:
    for path, fps in [(cfr_video, 7.0), (vfr_video, 4.0), (cfr_video, None)]:
        ours, _, _ = run(path, fps=fps)
        theirs, summary, _ = run(path, fps=fps, decoder="decord")
        assert summary.backend == "decord"
        assert theirs.indices.tolist() == ours.indices.tolist() == readback(theirs)
        np.testing.assert_allclose(theirs.times_s, ours.times_s, atol=1e-4)


def test_decord_hands_over_on_mpeg4_with_b_frames(
    make_video_at: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    # decord 0.6 returns the wrong frames here (off by one in MKV, worse in AVI).
    path = make_video_at("asp.mkv", solid_frames(60), codec="mpeg4", b_frames=2)
    with caplog.at_level(logging.WARNING, logger="clipground.video"):
        frames, summary, _ = run(path, fps=None, decoder="decord")
    assert summary.backend == "pyav" and any("B-frames" in r.message for r in caplog.records)
    assert readback(frames) == list(range(60))


@needs_decord
def test_decord_failing_mid_stream_hands_over_without_repeats(
    cfr_video: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Flaky:  # a reader whose second batch fails, as decord does on some packets
        def __init__(self, reader) -> None:
            self.reader, self.batches = reader, 0

        def __getattr__(self, name: str):
            return getattr(self.reader, name)

        def __len__(self) -> int:
            return len(self.reader)

        def __getitem__(self, i: int):
            return self.reader[i]

        def get_batch(self, indices: list[int]):
            self.batches += 1
            if self.batches == 2:
                raise RuntimeError("Error sending packet")
            return self.reader.get_batch(indices)

    readers = Readers(decord=lambda *args: (Flaky(open_decord(*args)[0]), None))
    with caplog.at_level(logging.WARNING, logger="clipground.video"):
        frames, summary, _ = run(
            cfr_video, fps=None, decoder="decord", chunk_size=8, readers=readers
        )
    assert summary.backend == "pyav" and any("after 8" in r.message for r in caplog.records)
    assert frames.indices.tolist() == list(range(50)) == readback(frames)


@needs_decord
def test_decord_backend_rotation(make_video_at: Callable[..., Path]) -> None:
    upright = arrow_image(64, 48)
    path = make_video_at("rot90_decord.mp4", [np.rot90(upright, k=1)] * 3, rotation=-90)
    frames, summary, _ = run(path, fps=None, size=(64, 48), decoder="decord")
    assert summary.backend == "decord"
    assert np.abs(frames.pixels[0].astype(int) - upright).mean() < 8


# ---------------------------------------------------------------------------------------------
# Errors and damaged files


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    with pytest.raises(VideoError, match="no such file") as err:
        probe(path)
    assert str(path) in str(err.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="directory") as err:
        FrameSampler(tmp_path, fps=1, size=(32, 24))
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize("content", [b"", b"hello, this is not a video\n" * 20])
def test_empty_and_non_video_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError) as err:
        probe(path)
    assert str(path) in str(err.value) and "re-download" in str(err.value)


def test_audio_only_file(tmp_path: Path) -> None:
    path = make_audio_only(tmp_path / "audio.m4a")
    with pytest.raises(VideoError, match="no video stream") as err:
        FrameSampler(path, fps=1, size=(32, 24))
    assert str(path) in str(err.value)


def test_truncated_mp4_without_index_is_a_video_error(
    make_video_at: Callable[..., Path], tmp_path: Path
) -> None:
    data = make_video_at("whole.mp4", solid_frames(40)).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) * 6 // 10])  # the moov index sits at the end
    with pytest.raises(VideoError, match=str(path)):
        probe(path)


def test_truncated_mkv_yields_the_frames_before_the_cut(
    make_video_at: Callable[..., Path], tmp_path: Path
) -> None:
    data = make_video_at("whole.mkv", noisy_frames(40)).read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(data[: len(data) * 6 // 10])
    frames, summary, _ = run(path, fps=None)
    got = readback(frames)
    assert 10 <= len(got) < 40 and got == list(range(len(got)))
    assert summary.num_frames == len(got)


def test_corrupt_packets_are_skipped_not_fatal(
    make_video_at: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_video_at("clean.mp4", noisy_frames(40), gop=10)
    path = tmp_path / "holes.mp4"
    path.write_bytes(zero_packets(source, range(22, 25)))
    expected = decode_skipping_errors(path)
    assert len(expected) == 37  # three packets lost
    frames, summary, _ = run(path, fps=None)
    assert summary.corrupt_packets == 3 and summary.num_frames == 37
    assert readback(frames) == expected and expected[-1] == 39
    assert frames.indices.tolist() == list(range(37))
    np.testing.assert_allclose(frames.times_s, np.array(expected) / 25)


def test_no_decodable_frame_is_a_video_error(
    make_video_at: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_video_at("clean10.mp4", noisy_frames(10))
    path = tmp_path / "dead.mp4"
    path.write_bytes(zero_packets(source, range(10)))
    with pytest.raises(VideoError, match="no decodable video frame") as err:
        FrameSampler(path, fps=1, size=(32, 24))
    assert str(path) in str(err.value)


def noisy_frames(n: int) -> list[np.ndarray]:
    """Colour-coded frames with noise, so packets are big enough to damage."""
    rng = np.random.default_rng(0)
    return [
        np.clip(f.astype(int) + rng.integers(-20, 20, f.shape), 0, 255).astype(np.uint8)
        for f in solid_frames(n)
    ]


def zero_packets(path: Path, which: range) -> bytes:
    """The file's bytes with the payload of video packets `which` (decode order) zeroed."""
    with av.open(str(path)) as container:
        spans = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    for pos, size in (spans[i] for i in which):
        data[pos : pos + size] = bytes(size)
    return bytes(data)


def decode_skipping_errors(path: Path) -> list[int]:
    """Colour-coded frame numbers PyAV decodes, skipping packets it rejects (a reference)."""
    got = []
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            with contextlib.suppress(av.error.InvalidDataError):
                got += [index_from_pixels(f.to_ndarray(format="rgb24")) for f in packet.decode()]
    return got
