"""Tests for decoding only the packets sampled frames need: the same frames as decoding all."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import OPEN_GOPS, index_from_pixels, real_videos_dir, solid_frames
from video_fakes import Retimed, opener, with_frame_threads

from clipground.video import DecodeTuning, FrameSampler, PacketScan, Readers, scan_packets
from clipground.video.opening import Opener
from clipground.video.packets import unneeded_mask
from clipground.video.plan import checked_ranges, sampling_plan
from clipground.video.probe import probe_stream
from clipground.video.pyav_pass import PyAVPass
from clipground.video.source import Source
from clipground.video.timing import Released, released

SKIPPED = "needed by no sampled frame"


def sample(path: Path, fps: float | None, skip: bool, **kwargs) -> tuple:
    """(pixels, times, indices, summary) of one pass."""
    sampler = FrameSampler(path, fps=fps, size=(32, 24), skip_unneeded=skip, **kwargs)
    chunks = list(sampler.chunks())
    return (
        np.concatenate([c.pixels for c in chunks]),
        np.concatenate([c.times_s for c in chunks]),
        np.concatenate([c.indices for c in chunks]),
        sampler.summary(),
    )


def assert_same_as_decoding_all(path: Path, fps: float | None, **kwargs) -> None:
    skipped, full = sample(path, fps, True, **kwargs), sample(path, fps, False, **kwargs)
    np.testing.assert_array_equal(skipped[2], full[2])
    np.testing.assert_array_equal(skipped[1], full[1])
    np.testing.assert_array_equal(skipped[0], full[0])
    assert skipped[3] == full[3]


# ---------------------------------------------------------------------------------------------
# Which packets a plan needs (unit)


def scan_of(decode_order: list[tuple[int, bool]]) -> PacketScan:
    """A scan from (pts, keyframe) pairs in decode order, one tick per frame."""
    pts = np.array([p for p, _ in decode_order], np.int64)
    keys = np.array([k for _, k in decode_order], bool)
    return PacketScan(
        np.sort(pts), np.sort(pts[keys]), int(pts.max()) + 1, True, False, pts, keys
    )


def unneeded_packets(scan: PacketScan, wanted: np.ndarray) -> np.ndarray:
    """Pts, in decode order, of the packets the plan leaves undecoded."""
    return scan.decode_pts[unneeded_mask(scan, wanted)]


def wanting(scan: PacketScan, shown: set[int]) -> np.ndarray:
    return np.isin(scan.pts, sorted(shown))


def test_a_gop_is_needed_up_to_its_last_wanted_packet() -> None:
    scan = scan_of([(0, True), (1, False), (2, False), (3, False), (4, True), (5, False)])
    assert unneeded_packets(scan, wanting(scan, {1})).tolist() == [2, 3, 4, 5]
    assert unneeded_packets(scan, wanting(scan, {1, 4})).tolist() == [2, 3, 5]
    assert unneeded_packets(scan, wanting(scan, set())).tolist() == [0, 1, 2, 3, 4, 5]


def test_b_frames_need_their_later_reference() -> None:
    # decode order I0 P3 B1 B2 | I4 P7 B5 B6: B1 (shown second) needs P3, decoded before it
    scan = scan_of([(0, True), (3, False), (1, False), (2, False),
                    (4, True), (7, False), (5, False), (6, False)])
    assert unneeded_packets(scan, wanting(scan, {1})).tolist() == [2, 4, 7, 5, 6]


def test_an_open_gop_needs_the_whole_gop_before_it() -> None:
    # the second GOP's B2, B3 are shown before its keyframe I4 and refer to the first GOP
    scan = scan_of([(0, True), (1, False), (4, True), (2, False), (3, False), (5, False)])
    assert unneeded_packets(scan, wanting(scan, {5})).tolist() == []
    assert unneeded_packets(scan, wanting(scan, {0})).tolist() == [1, 4, 2, 3, 5]


def test_packets_before_the_first_keyframe_are_always_needed() -> None:
    scan = scan_of([(0, False), (1, False), (2, True), (3, False)])
    assert unneeded_packets(scan, wanting(scan, set())).tolist() == [2, 3]


def test_successor_is_the_next_frame_shown() -> None:
    scan = scan_of([(0, True), (3, False), (1, False), (2, False)])
    assert [scan.successor(p) for p in (0, 1, 2, 3)] == [1, 2, 3, None]


def test_repeated_pts_skip_nothing() -> None:
    scan = scan_of([(0, True), (1, False), (1, False), (3, True)])
    assert unneeded_packets(scan, wanting(scan, set())).tolist() == []


# ---------------------------------------------------------------------------------------------
# Decoding with skipped packets gives the frames decoding everything gives


@pytest.mark.parametrize("fps", [0.7, 2.0, 3.3])
def test_skipping_gives_the_same_frames(encoded: tuple[str, Path], fps: float) -> None:
    path = encoded[1]
    assert_same_as_decoding_all(path, fps)
    pixels, times, indices, summary = sample(path, fps, True)
    assert [index_from_pixels(p) for p in pixels] == indices.tolist()  # right picture, right index
    np.testing.assert_allclose(times, indices / 10)
    assert summary.num_frames == 120


@pytest.mark.parametrize("kwargs", [{"start_s": 3.05}, {"end_s": 7.0}, {"start_s": 2.0, "end_s": 9.5}])
def test_skipping_within_a_time_range(encoded: tuple[str, Path], kwargs: dict) -> None:
    assert_same_as_decoding_all(encoded[1], 1.5, **kwargs)


def test_sparse_samples_of_short_gops_skip_packets(
    encoded: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A keyframe every 12 frames (1.2 s) or more often and a sample every 1.4 s: closed GOPs
    leave whole GOPs and the tail of each sampled one undecoded. (With open GOPs, which tie each
    GOP to the one before, the frames are checked above; how much is skipped depends.)"""
    name, path = encoded
    scan = scan_packets(path)
    starts = np.flatnonzero(scan.decode_key)
    leading = np.minimum.reduceat(scan.decode_pts, starts) < scan.decode_pts[starts]
    assert leading.any() == (name in OPEN_GOPS)  # each kind of stream is what it claims
    if name in OPEN_GOPS:
        return
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        sample(path, 0.7, True)
    assert any(SKIPPED in r.message for r in caplog.records)


def test_every_frame_skips_nothing(encoded: tuple[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        sample(encoded[1], None, True)
    assert not any(SKIPPED in r.message for r in caplog.records)


def test_a_scan_the_frames_contradict_stops_skipping(
    encoded: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A packet missing from the scan is decoded alone amid skipped ones: the pass notices and
    decodes again, skipping nothing, and still hands out each frame once."""
    path = encoded[1]

    def scan_missing_one(path: Path, opener: Opener) -> PacketScan:
        scan = scan_packets(path, opener)
        gone = int(scan.decode_pts[len(scan.decode_pts) * 2 // 3])
        keep = scan.decode_pts != gone
        return PacketScan(scan.pts[scan.pts != gone], scan.keyframe_pts[scan.keyframe_pts != gone],
                          scan.end_pts, scan.complete, scan.reordered, scan.decode_pts[keep],
                          scan.decode_key[keep])

    full = sample(path, 0.7, False)
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        skipped = sample(path, 0.7, True, readers=Readers(scan=scan_missing_one))
    if any(SKIPPED in r.message for r in caplog.records):
        assert any("skipping nothing" in r.message or "decoding every packet" in r.message
                   for r in caplog.records)
    np.testing.assert_array_equal(skipped[2], full[2])
    np.testing.assert_array_equal(skipped[0], full[0])


def test_real_videos_give_the_same_frames() -> None:
    for path in sorted(real_videos_dir().iterdir()):
        if path.suffix == ".md":
            continue
        for fps in (0.5, 2.0):
            assert_same_as_decoding_all(path, fps)


def damaged_copy(path: Path, frame: int, out: Path) -> Path:
    """`path` with the payload of the packet of `frame` (presentation index) overwritten."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = sorted((p.pts, p.pos, p.size) for p in container.demux(stream) if p.size)
    _, pos, size = packets[frame]
    data = bytearray(path.read_bytes())
    data[pos + 8 : pos + size] = bytes(range(256)) * ((size - 8) // 256) + bytes((size - 8) % 256)
    out.write_bytes(bytes(data))
    return out


# Decoding with 16 frame threads, FFmpeg's most by default (on a machine of 16 cores or more):
# frames then come out 16 packets late, so more packets are in flight when skipping starts and at
# each drain. A 16-core GPU machine found the cases below that need it.
SIXTEEN_THREADS = Readers(open=with_frame_threads(16))


@pytest.fixture(params=["default", "16"], ids=["threads-default", "threads-16"])
def frame_threads(request: pytest.FixtureRequest) -> Readers:
    """Readers with FFmpeg's thread count for this machine, then with 16 frame threads."""
    return SIXTEEN_THREADS if request.param == "16" else Readers()


def test_damage_in_a_skipped_packet_is_never_seen(
    make_video_at: Callable[..., Path], tmp_path: Path, frame_threads: Readers
) -> None:
    """At 0.7 frames/s of a 10 fps P-frame video with a keyframe every 12 frames, no frame of the GOP
    72-83 is sampled (71 and 85 are): damage at 77 is never decoded, and the skipping pass returns
    the intact file's frames with their native numbers (decoding everything numbers the frames
    after it one lower)."""
    intact = make_video_at("damage_gop12.mp4", solid_frames(120), fps=10, gop=12, b_frames=0)
    damaged = damaged_copy(intact, 77, tmp_path / "damaged.mp4")
    good = sample(intact, 0.7, True, readers=frame_threads)
    skipped = sample(damaged, 0.7, True, readers=frame_threads)
    np.testing.assert_array_equal(skipped[2], good[2])
    np.testing.assert_array_equal(skipped[0], good[0])
    assert skipped[3].corrupt_packets == 0
    assert sample(damaged, 0.7, False, readers=frame_threads)[3].corrupt_packets == 1  # it is real


def test_damage_in_a_decoded_packet_decodes_as_without_skipping(
    make_video_at: Callable[..., Path], tmp_path: Path, frame_threads: Readers
) -> None:
    """Frame 41 is needed (frame 42 refers to it): the pass stops skipping and decodes again."""
    intact = make_video_at("damage_gop12.mp4", solid_frames(120), fps=10, gop=12, b_frames=0)
    damaged = damaged_copy(intact, 41, tmp_path / "damaged.mp4")
    assert_same_as_decoding_all(damaged, 0.7, readers=frame_threads)


def test_frames_dropped_without_an_error_stop_skipping(
    make_video_at: Callable[..., Path], tmp_path: Path
) -> None:
    """Frame 31 is not needed (the GOP from 24 is sampled at 28), but with 16 frame threads it is
    sent before skipping starts; the threads then drop frames 31-42 with no error, and the drain
    before the first skipped packet comes up short: the pass decodes again, as without skipping."""
    intact = make_video_at("damage_gop12.mp4", solid_frames(120), fps=10, gop=12, b_frames=0)
    damaged = damaged_copy(intact, 31, tmp_path / "damaged.mp4")
    assert_same_as_decoding_all(damaged, 0.7, readers=SIXTEEN_THREADS)
    assert sample(damaged, 0.7, True, readers=SIXTEEN_THREADS)[3].corrupt_packets == 1


# ---------------------------------------------------------------------------------------------
# Pictures no sampled frame needs go back to the decoder at once


HOLDING = DecodeTuning(release_pictures=False)


def assert_same_as_holding(path: Path, fps: float | None, **kwargs) -> None:
    released = sample(path, fps, True, **kwargs)
    held = sample(path, fps, True, tuning=HOLDING, **kwargs)
    for got, want in zip(released[:3], held[:3], strict=True):
        np.testing.assert_array_equal(got, want)
    assert released[3] == held[3]


def pictures_released(path: Path, fps: float | None, ranges: list | None = None) -> int:
    """How many pictures one PyAV pass (as a sampler runs it) gives back before handling them."""
    probed = probe_stream(path)
    plan = sampling_plan(fps, probed.info.avg_fps, checked_ranges(None, None, ranges))
    one = PyAVPass(Source(path, probed, (32, 24)), plan)
    for _ in one.run():
        pass
    return one.counter.released


@pytest.mark.parametrize("fps", [0.7, 2.0, None])
def test_releasing_pictures_gives_the_same_frames(
    encoded: tuple[str, Path], fps: float | None
) -> None:
    path = encoded[1]
    assert_same_as_holding(path, fps)
    assert bool(pictures_released(path, fps)) == (fps is not None)  # at fps None all are wanted
    assert_same_as_holding(path, fps, start_s=2.0, end_s=9.5)
    assert pictures_released(path, fps, ranges=[(2.0, 9.5)])  # the frames before 2 s, at least


def test_real_videos_give_the_same_frames_releasing_pictures() -> None:
    paths = [p for p in sorted(real_videos_dir().iterdir()) if p.suffix != ".md"]
    for path in paths:
        assert_same_as_holding(path, 2.0)
    assert sum(pictures_released(path, 2.0) for path in paths)


def test_a_wanted_frame_released_by_mistake_decodes_again(
    make_video_at: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A picture is let go on the decoder's pts, which `timed` may then change: here packet 4 of
    each GOP carries a pts between those of frames 0 and 1 (as MPEG-4 ASP in AVI gives a frame a
    neighbour's pts), so frame 1, let go as shown over [0.1, 0.2) s, is repaired to [0.05, 0.1)
    s, wanted there. The pass notices, decodes again holding every picture, and hands out what
    holding from the start hands out: frame 1's picture at 0.05 s in each GOP."""
    path, readers, ranges = retimed_gops(make_video_at)
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        again = sample(path, None, True, readers=readers, ranges=ranges)
    assert sum("released early" in r.message for r in caplog.records) == 1  # then it holds all
    held = sample(path, None, True, readers=readers, ranges=ranges, tuning=HOLDING)
    for got, want in zip(again[:3], held[:3], strict=True):
        np.testing.assert_array_equal(got, want)
    assert again[3] == held[3]
    assert [index_from_pixels(p) for p in again[0]] == again[2].tolist() == list(range(1, 120, 12))
    np.testing.assert_allclose(again[1], again[2] / 10 - 0.05)


def retimed_gops(
    make_video_at: Callable[..., Path],
) -> tuple[Path, Readers, list[tuple[float, float]]]:
    """A 10 fps P-frame video with a keyframe every 12 frames, readers that give packet 4 of each
    GOP the pts halfway between frames 0 and 1, and the ranges [0.05, 0.1) s after each keyframe."""
    path = make_video_at("retimed_gop12.mp4", solid_frames(120), fps=10, gop=12, b_frames=0)
    scan = scan_packets(path)
    tick = int(scan.pts[1] - scan.pts[0])  # one frame
    moved = {int(key) + 4 * tick: int(key) + tick // 2 for key in scan.keyframe_pts}
    keys_s = [int(key - scan.pts[0]) // tick / 10 for key in scan.keyframe_pts]
    ranges = [(key_s + 0.05, key_s + 0.1) for key_s in keys_s]
    return path, Readers(open=opener(lambda c: Retimed(c, moved))), ranges


def test_released_frames_keep_what_timing_reads() -> None:
    class Picture:
        def __init__(self, pts: int) -> None:
            self.pts, self.dts, self.duration, self.interlaced_frame = pts, pts - 1, 1, pts == 2

    frames = [Picture(p) for p in (0, 1, 2, 3)]
    out = list(released(frames, lambda pts, next_pts: pts == 0))
    assert out[0] is frames[0] and out[3] is frames[3]  # the last frame is always kept
    assert out[1:3] == [Released(1, 0, 1, False), Released(2, 1, 1, True)]
