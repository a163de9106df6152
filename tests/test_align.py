"""align.py against an exhaustive reference, and its edge cases."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video, solid_frames
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from clipground import align as A
from clipground import pipeline as AP
from clipground.cli import app
from clipground.errors import UsageError
from clipground.types import DecodeSummary, VideoEmbedding
from clipground.text import Cue


def brute(
    scores: np.ndarray, lo: list[int], hi: list[int], gaps: bool, penalty: float
) -> float | None:
    """The best objective over every ordered segmentation, enumerated (None: none is allowed)."""
    values = [
        A.segmentation_value(scores, bounds, penalty)
        for bounds in _segmentations(scores.shape[1], lo, hi, gaps, 0)
    ]
    return max(values, default=None)


def _segmentations(n: int, lo, hi, gaps: bool, t: int):
    """Every list of (start, end inclusive), one per remaining sentence, placed from sample t."""
    if not lo:
        if gaps or t == n:
            yield []
        return
    for start in range(t, n) if gaps else [t]:
        for length in range(lo[0], hi[0] + 1):
            if start + length <= n:
                for rest in _segmentations(n, lo[1:], hi[1:], gaps, start + length):
                    yield [(start, start + length - 1), *rest]


def check(segments: list[A.Segment], n: int, lo, hi, gaps: bool) -> None:
    assert all(a.end_sample < b.start_sample for a, b in itertools.pairwise(segments))
    assert all(lo[i] <= s.length <= hi[i] for i, s in enumerate(segments))
    assert segments[-1].end_sample <= n - 1
    if not gaps:
        assert segments[0].start_sample == 0 and segments[-1].end_sample == n - 1
        assert all(a.end_sample + 1 == b.start_sample for a, b in itertools.pairwise(segments))


problems = st.integers(1, 4).flatmap(
    lambda k: st.tuples(
        st.just(k),
        st.integers(k, 8),
        st.lists(st.integers(1, 3), min_size=k, max_size=k),
        st.lists(st.integers(0, 4), min_size=k, max_size=k),
        st.booleans(),
        st.sampled_from([0.0, 0.3, 1.5]),
        st.sampled_from([0.0, 0.5, -0.7]),
        st.integers(0, 2**31 - 1),
        st.sampled_from([1, 10**9]),
    )
)


@settings(max_examples=250, deadline=None)
@given(problems)
def test_matches_exhaustive_search(problem) -> None:
    k, n, lo, extra, gaps, penalty, threshold, seed, table = problem
    hi = [a + b for a, b in zip(lo, extra)]
    raw = np.random.default_rng(seed).normal(size=(k, n))
    scores = A.normalise(raw) - threshold
    expected = brute(scores, lo, hi, gaps, penalty)
    options = {"allow_gaps": gaps, "gap_penalty": penalty, "threshold": threshold}
    if expected is None:
        with pytest.raises(UsageError):
            A.align(raw, lo, hi, table_entries=table, **options)
        return
    segments = A.align(raw, lo, hi, table_entries=table, **options)
    check(segments, n, lo, hi, gaps)
    got = A.segmentation_value(scores, [(s.start_sample, s.end_sample) for s in segments], penalty)
    assert got == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("gaps", [False, True])
def test_divide_and_conquer_equals_the_table_on_bigger_inputs(gaps: bool) -> None:
    rng = np.random.default_rng(7)
    raw = rng.normal(size=(9, 300)).cumsum(axis=1)  # smooth rows: long, contested segments
    lo, hi = [5] * 9, [80] * 9
    full = A.align(raw, lo, hi, gaps, 0.1)
    small = A.align(raw, lo, hi, gaps, 0.1, table_entries=50)
    scores = A.normalise(raw)

    def value(segments: list[A.Segment]) -> float:
        return A.segmentation_value(scores, [(s.start_sample, s.end_sample) for s in segments], 0.1)

    assert value(small) == pytest.approx(value(full), abs=1e-9)
    check(small, 300, lo, hi, gaps)


def test_recovers_planted_segments_in_clip_like_similarities() -> None:
    # every cosine ~0.25, each sentence 0.05 higher on its own frames: raw sums would not care
    rng = np.random.default_rng(0)
    bounds = [(0, 29), (30, 44), (45, 99), (100, 119)]
    sim = 0.25 + 0.01 * rng.normal(size=(4, 120))
    for i, (s, e) in enumerate(bounds):
        sim[i, s : e + 1] += 0.05
    got = [(s.start_sample, s.end_sample) for s in A.align(sim)]
    assert got == bounds


def test_gaps_leave_background_unassigned() -> None:
    sim = np.full((2, 20), 0.2)
    sim[0, 3:8] = 0.3
    sim[1, 12:16] = 0.3
    segments = A.align(sim, allow_gaps=True)
    assert [(s.start_sample, s.end_sample) for s in segments] == [(3, 7), (12, 15)]
    assert all(s.score > 0 for s in segments)
    tiled = A.align(sim)
    assert tiled[0].start_sample == 0 and tiled[-1].end_sample == 19


def test_threshold_keeps_only_the_samples_that_stand_out() -> None:
    sim = np.full((1, 12), 0.2)
    sim[0, 4:8] = [0.25, 0.4, 0.4, 0.25]  # a weak shoulder around a strong core
    assert [(s.start_sample, s.end_sample) for s in A.align(sim, allow_gaps=True)] == [(4, 7)]
    core = A.align(sim, allow_gaps=True, threshold=1.0)
    assert [(s.start_sample, s.end_sample) for s in core] == [(5, 6)]
    assert core[0].score == pytest.approx(A.normalise(sim)[0, 5])  # reported without threshold
    assert [(s.start_sample, s.end_sample) for s in A.align(sim, threshold=1.0)] == [(0, 11)]  # tiling: no effect


def test_raw_normalisation_keeps_values() -> None:
    sim = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(A.normalise(sim, "raw"), sim)
    assert [(s.start_sample, s.end_sample) for s in A.align(sim, normalisation="raw")] == [(0, 0), (1, 2)]


def test_flat_rows_do_not_divide_by_zero() -> None:
    segments = A.align(np.full((3, 6), 0.25))
    assert [s.length for s in segments] and all(s.score == 0.0 for s in segments)


def test_per_sentence_lengths_are_honoured() -> None:
    sim = np.zeros((2, 10))
    sim[0] = 1.0  # sentence 0 wants everything
    segments = A.align(sim, min_len=[1, 4], max_len=[6, 10])
    assert segments[0].length == 6 and segments[1].length == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_len": 4}, "need at least 12 samples"),
        ({"max_len": 2}, "cannot cover"),
        ({"min_len": 0}, "min_len must be >= 1"),
        ({"min_len": 3, "max_len": 2}, "below min_len"),
        ({"min_len": [1, 1]}, "2 values for 3 sentences"),
        ({"gap_penalty": -1.0, "allow_gaps": True}, "gap_penalty"),
        ({"normalisation": "softmax"}, "normalisation must be one of"),
    ],
)
def test_bad_arguments_raise_usage_errors(kwargs, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        A.align(np.zeros((3, 10)), **kwargs)


@pytest.mark.parametrize("sim", [np.zeros((0, 3)), np.zeros(4), [[np.nan, 0.0]], [["a"]]])
def test_bad_similarities_raise_usage_errors(sim) -> None:
    with pytest.raises(UsageError):
        A.align(sim)


def test_sliding_max_matches_a_direct_loop() -> None:
    rng = np.random.default_rng(1)
    for width in (1, 2, 3, 7, 20):
        x = rng.integers(0, 5, size=20).astype(float)  # ties on purpose
        best, arg = A._sliding_max(x, width)
        for i in range(20 - width + 1):
            assert best[i] == x[i : i + width].max() and x[arg[i]] == best[i]
            assert i <= arg[i] < i + width


# ---------------------------------------------------------------- pipeline and command line

runner = CliRunner()


def planted_embedding(labels: list[int], dim: int = 8) -> VideoEmbedding:
    """Samples every 0.5 s of a 25 fps video (every 12.5th frame); sample i shows labels[i]."""
    rng = np.random.default_rng(0)
    topics = np.linalg.qr(rng.normal(size=(dim, dim)))[0]  # orthonormal topic directions
    frames = 0.3 * topics[labels] + 0.05 * rng.normal(size=(len(labels), dim))
    frames /= np.linalg.norm(frames, axis=1, keepdims=True)
    n = len(labels)
    indices = np.round(np.arange(n) * 12.5).astype(np.int64)
    summary = DecodeSummary(
        num_frames=int(np.ceil(n * 12.5)),
        duration_s=n / 2,
        native_fps=25.0,
        corrupt_packets=0,
        backend="pyav",
    )
    return VideoEmbedding(
        "v.mp4", frames.astype(np.float32), indices / 25.0, indices, summary, 2.0, "fake"
    )


def test_align_embedded_maps_samples_to_frames_and_seconds() -> None:
    labels = [0] * 6 + [1] * 10 + [2] * 4
    embedded = planted_embedding(labels)
    topics = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 8)))[0]
    spans = AP.spans_from_cues([Cue("zero"), Cue("one"), Cue("two")])
    options = AP.AlignOptions(allow_gaps=False)
    result = AP.align_embedded(embedded, spans, topics[:3].astype(np.float32), options)
    got = [
        (s.moment.start_s, s.moment.end_s, s.moment.start_frame, s.moment.end_frame)
        for s in result.spans
    ]
    assert got == [(0.0, 3.0, 0, 74), (3.0, 8.0, 75, 199), (8.0, 10.0, 200, 249)]
    assert result.total_score > 0 and result.num_sampled == 20


def test_gaps_leave_background_samples_to_no_sentence() -> None:
    labels = [3] * 2 + [0] * 4 + [3] * 3 + [1] * 6 + [2] * 5  # topic 3: no sentence's
    embedded = planted_embedding(labels)
    topics = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 8)))[0]
    spans = AP.spans_from_cues([Cue("zero"), Cue("one"), Cue("two")])
    result = AP.align_embedded(embedded, spans, topics[:3].astype(np.float32), AP.AlignOptions())
    got = [(s.moment.start_s, s.moment.end_s) for s in result.spans]
    t = embedded.times_s  # samples 2-5, 9-14 and 15-19
    assert got == [(t[2], t[6]), (t[9], t[15]), (t[15], 10.0)] and result.allow_gaps


def test_similarity_rows_equal_search_similarity() -> None:
    from clipground.search import similarity

    embedded = planted_embedding([0, 1, 2, 3, 4])
    text = np.random.default_rng(2).normal(size=(3, 8)).astype(np.float32)
    expected = np.stack([similarity(embedded.embeddings, row) for row in text])
    np.testing.assert_allclose(AP.similarity_rows(embedded, text), expected, atol=1e-12)


def test_spans_group_sentences_in_order() -> None:
    cues = [Cue("a.", 0.0, 1.0), Cue("b.", 1.0, 2.0), Cue("c.", 2.0, 3.0), Cue("d.", 3.0, 4.0)]
    spans = AP.spans_from_cues(cues, "0:1, 3")
    assert [(s.first, s.last, s.text, s.cue_start_s, s.cue_end_s) for s in spans] == [
        (0, 1, "a. b.", 0.0, 2.0),
        (3, 3, "d.", 3.0, 4.0),
    ]
    for bad in ("1:2,2:3", "2,1", "0:9", "x"):
        with pytest.raises(UsageError):
            AP.spans_from_cues(cues, bad)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """4 s at 25 fps, distinct solid colours, with audio."""
    return make_video(
        tmp_path_factory.mktemp("align") / "clip.mp4", solid_frames(100), fps=25, audio=True
    )


@pytest.fixture
def run_align(tiny_clip: str, video: Path, tmp_path: Path):
    """`clipground align VIDEO --transcript FILE ARGS`: tiny model, CPU, cache under tmp_path."""

    def run(transcript: Path, *args: str, target: Path | None = None):
        common = ["--transcript", str(transcript), "--model", tiny_clip, "--device", "cpu"]
        common += ["--cache-dir", str(tmp_path / "cache")]
        return runner.invoke(app, ["align", str(target or video), *common, *args])

    return run


def lines(result) -> tuple[list[dict], dict]:
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return records[:-1], records[-1]["summary"]


def test_align_command_prints_ordered_tiling_segments(run_align, tmp_path: Path) -> None:
    transcript = tmp_path / "t.txt"
    transcript.write_text("a red circle\n\n  a blue square \nthen a green cross\n")
    result = run_align(transcript, "--no-gaps")
    assert result.exit_code == 0, result.stderr
    rows, summary = lines(result)
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert [r["text"] for r in rows] == ["a red circle", "a blue square", "then a green cross"]
    assert {"index", "text", "start_frame", "end_frame", "start_s", "end_s", "score"} <= set(
        rows[0]
    )
    assert rows[0]["start_frame"] == 0 and rows[-1]["end_frame"] == 99
    for a, b in itertools.pairwise(rows):
        assert a["end_frame"] + 1 == b["start_frame"] and a["end_s"] == b["start_s"]
    assert summary["spans"] == 3 and summary["num_sampled"] == 8 and not summary["allow_gaps"]
    assert "mean_iou_vs_cues" not in summary and result.stderr == ""
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # the embedding is cached


def test_align_reports_subtitle_timing_and_groups_spans(run_align, tmp_path: Path) -> None:
    srt = tmp_path / "t.srt"
    srt.write_text(
        "1\n00:00:00,000 --> 00:00:01,000\nred\n\n2\n00:00:01,000 --> 00:00:02,500\n"
        "<i>blue</i>\n\n3\n00:00:02,500 --> 00:00:04,000\ngreen\n"
    )
    result = run_align(srt, "--spans", "0:1,2", "--fps", "5")  # gaps are the default
    assert result.exit_code == 0, result.stderr
    rows, summary = lines(result)
    assert [(r["text"], r["sentences"]) for r in rows] == [("red blue", [0, 1]), ("green", [2, 2])]
    assert (rows[0]["cue_start_s"], rows[0]["cue_end_s"]) == (0.0, 2.5)
    assert rows[0]["end_frame"] < rows[1]["start_frame"]
    assert 0.0 <= summary["mean_iou_vs_cues"] <= 1.0 and summary["allow_gaps"]


def test_align_exports_and_plots(run_align, tmp_path: Path) -> None:
    transcript = tmp_path / "t.txt"
    transcript.write_text("one\ntwo\n")
    result = run_align(
        transcript, "--export", str(tmp_path / "clips"), "--plot", str(tmp_path / "a.png")
    )
    assert result.exit_code == 0, result.stderr
    rows, summary = lines(result)
    assert all(Path(r["clip"]).is_file() for r in rows) and len({r["clip"] for r in rows}) == 2
    assert Path(summary["plot"]).stat().st_size > 10_000


@pytest.mark.parametrize(
    "args, text, code, match",
    [
        ((), "a\n" * 9, 2, "9 sentences need at least 9 samples, the video has 8"),
        (("--spans", "1:0"), "a\nb\n", 2, "--span"),
        (("--min-len", "3", "--max-len", "1"), "a\n", 2, "above --max-len"),
        (("--normalise", "softmax"), "a\n", 2, "--normalise"),
        (("--plot", "x.svg"), "a\n", 2, ".png"),
    ],
)
def test_align_usage_errors(
    run_align, tmp_path: Path, args, text: str, code: int, match: str
) -> None:
    transcript = tmp_path / "t.txt"
    transcript.write_text(text)
    result = run_align(transcript, *args)
    assert result.exit_code == code and match in result.stderr and result.stdout == ""


def test_align_bad_files(run_align, tmp_path: Path) -> None:
    missing = run_align(tmp_path / "none.txt")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    (tmp_path / "t.txt").write_text("a\n")
    bad_video = run_align(tmp_path / "t.txt", target=tmp_path / "none.mp4")
    assert bad_video.exit_code == 3 and "no such file" in bad_video.stderr


def test_alignment_records_compare_with_subtitle_timing() -> None:
    from clipground.output import alignment_records
    from clipground.types import Moment

    spans = [AP.Span(0, 0, ("a.",), 0.0, 2.0), AP.Span(1, 2, ("b.", "c."), 2.0, 4.0)]
    moments = [Moment(0, 24, 0.0, 1.0, 0.5), Moment(25, 99, 1.0, 4.0, 1.25)]
    alignment = AP.Alignment(
        video="v.mp4",
        spans=tuple(AP.AlignedSpan(i, s, m) for i, (s, m) in enumerate(zip(spans, moments))),
        total_score=3.0,
        normalisation="zscore",
        allow_gaps=True,
        model="m",
        decoder="pyav",
        native_fps=25.0,
        num_frames=100,
        duration_s=4.0,
        sample_fps=2.0,
        num_sampled=8,
    )
    first, second, summary = alignment_records(alignment, [Path("c0.mp4"), Path("c1.mp4")])
    assert first == {
        "index": 0,
        "text": "a.",
        "start_frame": 0,
        "end_frame": 24,
        "start_s": 0.0,
        "end_s": 1.0,
        "score": 0.5,
        "sentences": [0, 0],
        "cue_start_s": 0.0,
        "cue_end_s": 2.0,
        "clip": "c0.mp4",
    }
    assert second["text"] == "b. c." and second["sentences"] == [1, 2]
    assert summary["summary"]["mean_iou_vs_cues"] == pytest.approx((0.5 + 2 / 3) / 2, abs=1e-6)
