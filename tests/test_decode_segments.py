"""Tests for decoding a video cut into segments at once: the same frames as one decoder."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import OPEN_GOPS, index_from_pixels, real_videos_dir, solid_frames
from test_skip_packets import damaged_copy, retimed_gops, scan_of

from clipground.video import DecodeTuning, FrameSampler, Readers, open_video, scan_packets
from clipground.video.segments import cuts, split

CUT = "segments at once"
SHORT = DecodeTuning(segment_min_s=0.0)  # segments of any length: the test videos (<= 20 s) are cut


def sample(path: Path, fps: float | None, workers: int, **kwargs) -> tuple:
    """(pixels, times, indices, summary) of one pass, in presentation order (segments of any
    length unless `tuning` says otherwise)."""
    kwargs.setdefault("tuning", SHORT)
    sampler = FrameSampler(path, fps=fps, size=(32, 24), chunk_size=4, **kwargs)
    chunks = list(sampler.chunks_unordered(workers))  # 1: `chunks()`
    indices = np.concatenate([c.indices for c in chunks])
    order = np.argsort(indices, kind="stable")
    return (
        np.concatenate([c.pixels for c in chunks])[order],
        np.concatenate([c.times_s for c in chunks])[order],
        indices[order],
        sampler.summary(),
    )


def assert_same_as_one_decoder(path: Path, fps: float | None, workers: int, **kwargs) -> None:
    cut, one = sample(path, fps, workers, **kwargs), sample(path, fps, 1, **kwargs)
    np.testing.assert_array_equal(cut[2], one[2])
    np.testing.assert_array_equal(cut[1], one[1])
    np.testing.assert_array_equal(cut[0], one[0])
    assert cut[3] == one[3]


def segments_logged(caplog: pytest.LogCaptureFixture) -> int:
    found = [r.getMessage() for r in caplog.records if CUT in r.getMessage()]
    return int(found[-1].split("decoding ")[1].split()[0]) if found else 1


# ---------------------------------------------------------------------------------------------
# Where to cut (unit)


def test_cuts_fall_on_keyframes_and_balance_the_work() -> None:
    scan = scan_of([(i, i % 10 == 0) for i in range(100)])  # ten GOPs of ten P-frames
    # nearest to 25, 50 and 75 frames of work (ties: the earlier)
    assert cuts(scan, np.ones(100, bool), parts=4, min_ticks=1) == [20, 50, 70]


def test_cuts_keep_their_minimum_length() -> None:
    scan = scan_of([(i, i % 10 == 0) for i in range(100)])
    found = cuts(scan, np.ones(100, bool), parts=8, min_ticks=30)
    assert found and all(b - a >= 30 for a, b in zip([0, *found], [*found, 100]))


def test_a_keyframe_with_leading_pictures_is_no_cut() -> None:
    """Decode order I0 P3 B1 B2 | I6 B4 B5 P9 B7 B8 | I12 ...: B4 and B5 are shown before I6 and
    refer to the GOP before; the cut at 6 would separate them from it. The GOP at 12 is closed."""
    order = [(0, True), (3, False), (1, False), (2, False), (6, True), (4, False), (5, False),
             (9, False), (7, False), (8, False), (12, True), (15, False), (13, False), (14, False)]
    scan = scan_of(order)
    assert cuts(scan, np.ones(len(order), bool), parts=2, min_ticks=1) == [12]


def test_repeated_pts_are_never_cut() -> None:
    scan = scan_of([(i // 2, i % 10 == 0) for i in range(100)])
    assert cuts(scan, np.ones(100, bool), parts=4, min_ticks=1) == []


def test_split_cuts_each_range_at_the_segment_bounds() -> None:
    assert split(((0.0, np.inf),), [2.0, 5.0]) == [
        ((0.0, 2.0),), ((2.0, 5.0),), ((5.0, np.inf),)
    ]
    assert split(((1.0, 3.0), (4.0, 4.5), (6.0, 9.0)), [2.0, 5.0]) == [
        ((1.0, 2.0),), ((2.0, 3.0), (4.0, 4.5)), ((6.0, 9.0),)
    ]
    assert split(((6.0, 9.0),), [2.0, 5.0]) == [((6.0, 9.0),)]  # empty segments dropped


# ---------------------------------------------------------------------------------------------
# Decoding in segments gives the frames one decoder gives


@pytest.mark.parametrize("fps", [0.7, 2.0, None])
def test_segments_give_the_same_frames(
    encoded: tuple[str, Path], fps: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    name, path = encoded
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        assert_same_as_one_decoder(path, fps, workers=3)
    pixels, times, indices, summary = sample(path, fps, 3)
    assert [index_from_pixels(p) for p in pixels] == indices.tolist()  # right picture, right index
    np.testing.assert_allclose(times, indices / 10)
    assert summary.num_frames == 120
    if name not in OPEN_GOPS:  # closed GOPs of 12 frames: the video is cut
        assert segments_logged(caplog) == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"start_s": 3.05}, {"end_s": 7.0}, {"ranges": [(0.5, 2.0), (4.0, 4.5), (8.0, 11.0)]}],
)
def test_segments_within_time_ranges(encoded: tuple[str, Path], kwargs: dict) -> None:
    assert_same_as_one_decoder(encoded[1], 2.0, workers=2, **kwargs)


def test_real_videos_give_the_same_frames(caplog: pytest.LogCaptureFixture) -> None:
    cut = set()
    for path in sorted(real_videos_dir().iterdir()):
        if path.suffix == ".md":
            continue
        for fps in (0.5, 2.0):
            caplog.clear()
            with caplog.at_level(logging.DEBUG, logger="clipground.video"):
                assert_same_as_one_decoder(path, fps, workers=2)
            if segments_logged(caplog) == 2:
                cut.add(path.name)
    # The screen recording, the rotated iPhone clip, the MKV and the MJPEG camera clip have
    # keyframes to cut at; the others have one keyframe, or leading pictures.
    assert len(cut) >= 4, cut


@pytest.mark.parametrize("fps", [None, 2.0])
def test_damage_in_a_segment_numbers_frames_by_the_file(
    make_video_at: Callable[..., Path], tmp_path: Path, caplog: pytest.LogCaptureFixture,
    fps: float | None,
) -> None:
    """Frame 77 (GOP 72-83) does not decode. Both ways give the same pictures at the same times;
    one decoder numbers the frames after it by the frames that decoded (one lower), segments
    (which seek) by their place in the file, as the pictures of the intact GOPs say."""
    intact = make_video_at("damage_gop12.mp4", solid_frames(120), fps=10, gop=12, b_frames=0)
    damaged = damaged_copy(intact, 77, tmp_path / "damaged.mp4")
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        cut = sample(damaged, fps, 3)
    one = sample(damaged, fps, 1)
    assert segments_logged(caplog) == 3
    np.testing.assert_array_equal(cut[0], one[0])
    np.testing.assert_array_equal(cut[1], one[1])
    intact_gops = (cut[2] < 72) | (cut[2] >= 84)  # 78-83 refer to the damaged frame
    assert [index_from_pixels(p) for p in cut[0][intact_gops]] == cut[2][intact_gops].tolist()
    assert cut[2][cut[2] < 77].tolist() == one[2][one[2] < 77].tolist()
    assert (cut[3].corrupt_packets, one[3].corrupt_packets) == (1, 1)
    assert (cut[3].num_frames, one[3].num_frames) == (120, 119)
    assert "follow the file's packets" in caplog.text


def test_a_short_video_is_not_cut(
    encoded: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """...and its first frames and packet scan are not made twice: the one decoder checks the
    scan made to find the cuts against the frames it decodes anyway. So the file is opened three
    times: to probe it, to scan its packets, and to decode it (first frames included)."""
    default = DecodeTuning()  # segments of 10 s at least; the video is 12 s long
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        assert_same_as_one_decoder(encoded[1], 2.0, workers=4, tuning=default)
    assert segments_logged(caplog) == 1
    opens: list[Path] = []
    scans: list[Path] = []
    readers = Readers(
        open=lambda path: opens.append(path) or open_video(path),
        scan=lambda path, opener: scans.append(path) or scan_packets(path, opener),
    )
    sample(encoded[1], 0.7, 4, tuning=default, readers=readers)
    assert (len(opens), len(scans)) == (3, 1)


def test_a_frame_released_by_mistake_in_a_segment_decodes_again(
    make_video_at: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Each segment's pass restarts on its own (see test_skip_packets) and stays exact: here each
    GOP has a frame released by mistake, so each of the three segments decodes again."""
    path, readers, ranges = retimed_gops(make_video_at)
    expected = sample(path, None, 1, readers=readers, ranges=ranges)
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        got = sample(path, None, 3, readers=readers, ranges=ranges)
    assert segments_logged(caplog) == 3
    assert sum("released early" in r.message for r in caplog.records) == 3
    for a, b in zip(got[:3], expected[:3], strict=True):
        np.testing.assert_array_equal(a, b)
    assert got[3] == expected[3]


def test_decord_is_not_cut(encoded: tuple[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """--decoder decord decodes in one pass (where decord is not installed, PyAV's one pass)."""
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        assert_same_as_one_decoder(encoded[1], 2.0, workers=2, decoder="decord")
    assert segments_logged(caplog) == 1


# ---------------------------------------------------------------------------------------------
# The pipeline


def test_embedding_in_segments_gives_the_same_embedding_and_answer(
    make_video_at: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    from fakes import ColourEncoder

    from clipground.pipeline import GroundOptions, embed_video, ground

    red = [(200, 0, 0) if 184 <= i <= 316 else (0, 0, 0) for i in range(500)]
    frames = [np.full((32, 48, 3), colour, np.uint8) for colour in red]
    path = make_video_at("red_gop25.mp4", frames, fps=25, gop=25)
    short = functools.partial(FrameSampler, tuning=SHORT)
    one = embed_video(path, ColourEncoder(), GroundOptions(fps=2, decode_workers=1), sampler=short)
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        options = GroundOptions(fps=2, decode_workers=4)
        cut = embed_video(path, ColourEncoder(), options, sampler=short)
    assert segments_logged(caplog) == 4
    np.testing.assert_array_equal(cut.indices, one.indices)
    np.testing.assert_array_equal(cut.times_s, one.times_s)
    np.testing.assert_array_equal(cut.embeddings, one.embeddings)
    assert cut.summary == one.summary
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="clipground.video"):
        options = GroundOptions(fps=1, refine=True, decode_workers=4)
        cut = ground(path, "red", ColourEncoder(), options, sampler=short)
    options = GroundOptions(fps=1, refine=True, decode_workers=1)
    one = ground(path, "red", ColourEncoder(), options, sampler=short)
    assert sum(CUT in r.getMessage() for r in caplog.records) == 2  # the coarse pass and the refine pass
    assert (cut.best.start_frame, cut.best.end_frame) == (184, 316)
    assert cut.candidates == one.candidates and cut.frames_embedded == one.frames_embedded

