"""Batch jobs end to end: corrupt videos, crashes and hangs, resume after kill -9, search, embed.

The tiny random-weight model stands in for CLIP. Worker processes fork from one forkserver per
test session, so only the first test that needs workers pays for importing torch there.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video, solid_frames
from typer.testing import CliRunner

from clipground import batch, engine
from clipground.cli import app
from clipground.model import ModelSpec
from clipground.pipeline import GroundOptions, embed_video
from clipground.types import DecodeSummary, VideoEmbedding

GOOD = [f"v{i}.mp4" for i in range(6)]
BAD = ["bad.mp4", "empty.mp4", "trunc.mp4"]
runner = CliRunner()


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """Six good clips (one in a subfolder), three broken files and a non-video."""
    root = tmp_path_factory.mktemp("library")
    (root / "sub").mkdir()
    for i, name in enumerate(GOOD):
        folder = root / "sub" if i == 5 else root
        make_video(folder / name, solid_frames(40 + 10 * i), fps=20)
    (root / "bad.mp4").write_bytes(b"this is not a video\n" * 50)
    (root / "empty.mp4").write_bytes(b"")
    whole = (root / "v3.mp4").read_bytes()
    (root / "trunc.mp4").write_bytes(whole[: len(whole) // 4])
    (root / "notes.txt").write_text("not a video, not picked up\n")
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cli(tiny_clip: str, cache_dir: Path):
    """Run a batch command with the tiny model on the CPU and the module's cache."""

    def invoke(command: str, *args: str, input: str | None = None):
        extra = ["--model", tiny_clip, "--device", "cpu", "--cache-dir", str(cache_dir)]
        return runner.invoke(app, [command, *args, *extra], input=input)

    return invoke


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def _paths(library: Path, names: list[str]) -> set[str]:
    return {str(library / ("sub" if n == "v5.mp4" else "") / n) for n in names}


@pytest.fixture(scope="module")
def first_run(
    library: Path, tiny_clip: str, cache_dir: Path, tmp_path_factory
) -> tuple[object, Path]:
    """`batch` over the whole folder with two queries: the cache starts empty."""
    queries = tmp_path_factory.mktemp("q") / "queries.txt"
    queries.write_text("a red square\n\nsomething green\n")
    out = queries.parent / "out.jsonl"
    args = [
        "batch",
        str(library),
        "--queries",
        str(queries),
        "--output",
        str(out),
        "--model",
        tiny_clip,
        "--device",
        "cpu",
        "--cache-dir",
        str(cache_dir),
    ]
    return runner.invoke(app, args), out


def test_batch_answers_good_videos_and_records_bad_ones(first_run, library: Path) -> None:
    result, out = first_run
    assert result.exit_code == 1, result.stderr  # some items failed, the others completed
    assert result.stdout == ""  # everything went to --output
    records = _lines(out.read_text())
    answers = [r for r in records if "error" not in r]
    errors = [r for r in records if "error" in r]
    assert {(r["video"], r["id"]) for r in answers} == {
        (v, q) for v in _paths(library, GOOD) for q in ("q0", "q1")
    }
    assert len(answers) == 12
    assert {r["query"][0] for r in answers} == {"a red square", "something green"}
    for r in answers:
        assert 0 <= r["start_frame"] <= r["end_frame"] < r["num_frames"] and r["candidates"]
    assert {r["video"] for r in errors} == _paths(library, BAD) and len(errors) == 3
    for r in errors:
        assert set(r) == {"video", "error"} and set(r["error"]) == {"type", "message"}
        assert r["video"] in r["error"]["message"]


def test_embed_reports_cached_videos(cli, library: Path, first_run) -> None:
    result = cli("embed", str(library), "--glob", "v*.mp4")
    assert result.exit_code == 0, result.stderr
    lines = _lines(result.stdout)
    assert {r["video"] for r in lines} == _paths(library, GOOD)
    assert all(r["cached"] is True and r["frames"] > 0 and r["seconds"] >= 0 for r in lines)
    assert cli("embed", str(library), "--glob", "v*.mp4", "--quiet").stdout == ""


def test_resume_keeps_answers_and_retries_errors(cli, library: Path, first_run) -> None:
    _, out = first_run
    before = _lines(out.read_text())
    queries = out.parent / "queries.txt"
    result = cli("batch", str(library), "--queries", str(queries), "--output", str(out), "--resume")
    assert result.exit_code == 1  # the broken files fail again
    after = _lines(out.read_text())
    assert [r for r in after if "error" not in r] == [r for r in before if "error" not in r]
    assert sorted(r["video"] for r in after if "error" in r) == sorted(_paths(library, BAD))


def test_search_ranks_windows_across_the_library(cli, library: Path, first_run) -> None:
    result = cli(
        "search", str(library), "--glob", "v*.mp4", "--text", "a red square", "--top-k", "4"
    )
    assert result.exit_code == 0, result.stderr
    hits = _lines(result.stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3, 4]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    _, out = first_run
    best = max(
        (r for r in _lines(out.read_text()) if r.get("id") == "q0"), key=lambda r: r["score"]
    )
    assert (hits[0]["video"], hits[0]["start_frame"], hits[0]["score"]) == (
        best["video"],
        best["start_frame"],
        best["score"],
    )


def test_fail_fast_stops_at_the_first_failure(cli, library: Path) -> None:
    broken = [str(library / "bad.mp4"), str(library / "empty.mp4")]
    assert len(_lines(cli("batch", *broken, "-t", "x").stdout)) == 2
    result = cli("batch", *broken, "-t", "x", "--fail-fast")
    assert result.exit_code == 1
    assert [r["video"] for r in _lines(result.stdout)] == broken[:1]


def test_queries_from_stdin_as_json_lines(cli, library: Path) -> None:
    video = str(library / "v0.mp4")
    lines = [
        json.dumps({"id": "door", "query": ["he opens the door.", "he walks in."], "video": video}),
        json.dumps({"query": "anything"}),
    ]
    result = cli("batch", str(library / "v1.mp4"), "--queries", "-", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    got = {(r["video"], r["id"]) for r in _lines(result.stdout)}
    assert got == {(video, "door"), (video, "q1"), (str(library / "v1.mp4"), "q1")}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["-t", "x", "--queries", "q.txt"], "--text"),
        ([], "--text"),
        (["-t", "x", "--resume"], "--output"),
        (["--queries", "-"], "not JSON"),
        (["-t", "x", "--workers", "0"], "--workers"),
    ],
)
def test_usage_errors(cli, library: Path, args: list[str], needle: str) -> None:
    result = cli("batch", str(library / "v0.mp4"), *args, input='{"query": "x"}\n{oops\n')
    assert result.exit_code == 2, result.stderr
    assert result.stdout == "" and needle in result.stderr


def test_every_command_has_help() -> None:
    for command in (
        ["embed"],
        ["batch"],
        ["search"],
        ["cache"],
        ["cache", "info"],
        ["cache", "clear"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.stdout


def test_find_videos_recurses_by_extension_or_glob(library: Path) -> None:
    found = batch.find_videos([str(library)])
    assert set(found) == _paths(library, GOOD + BAD)
    assert set(batch.find_videos([str(library)], glob="v[0-2].mp4")) == _paths(library, GOOD[:3])
    assert batch.find_videos([str(library / "missing.mp4")]) == [str(library / "missing.mp4")]


# ---------------------------------------------------------------------------------------------
# Resume after kill -9


def _run_cli(args: list[str], stderr_path: str) -> None:
    """In a child process: run the CLI (its stdout is not used: results go to --output)."""
    with open(stderr_path, "w") as sys.stderr:
        try:
            app(args, standalone_mode=False)
        except SystemExit:
            pass


def test_kill_9_then_resume_yields_every_pair_once(
    tiny_clip: str, library: Path, cache_dir: Path, tmp_path: Path, first_run
) -> None:
    queries = tmp_path / "many.txt"
    queries.write_text("".join(f"query number {i}\n" for i in range(60)))
    out = tmp_path / "out.jsonl"
    args = [
        "batch",
        str(library),
        "--glob",
        "v*.mp4",
        "--queries",
        str(queries),
        "--output",
        str(out),
        "--model",
        tiny_clip,
        "--device",
        "cpu",
        "--cache-dir",
        str(cache_dir),
        "--quiet",
    ]
    child = multiprocessing.get_context("forkserver").Process(
        target=_run_cli, args=(args, str(tmp_path / "err"))
    )
    child.start()
    deadline = time.monotonic() + 120
    while child.is_alive() and time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 20:
            break
        time.sleep(0.002)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    total = 6 * 60
    done_at_kill = out.read_bytes().count(b"\n")
    assert 20 <= done_at_kill < total, (done_at_kill, (tmp_path / "err").read_text())
    with out.open("ab") as f:  # a writer killed mid-line leaves a torn line: resume must cut it
        f.write(b'{"video": "torn')
    result = runner.invoke(app, args[:-1] + ["--resume"])
    assert result.exit_code == 0, result.stderr
    records = _lines(out.read_text())
    keys = [(r["video"], r["id"]) for r in records]
    assert len(keys) == len(set(keys)) == total
    assert set(keys) == {(v, f"q{i}") for v in _paths(library, GOOD) for i in range(60)}


# ---------------------------------------------------------------------------------------------
# Worker isolation: crashes and hangs


def _chaos_embed(video: str, encoder, options, progress=None):
    """Crash or hang on files named so; embed the others normally."""
    name = Path(video).name
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("hang"):
        time.sleep(3600)
    return embed_video(video, encoder, options, progress)


def _load_fake(spec: ModelSpec):
    from fakes import ColourEncoder

    return ColourEncoder()


def test_a_crash_or_hang_fails_one_video_and_the_job_goes_on(library: Path, tmp_path: Path) -> None:
    for name in ("crash.mp4", "hang.mp4"):
        (tmp_path / name).write_bytes((library / "v0.mp4").read_bytes())
    videos = [
        str(library / "v0.mp4"),
        str(tmp_path / "crash.mp4"),
        str(library / "v1.mp4"),
        str(tmp_path / "hang.mp4"),
        str(library / "v2.mp4"),
    ]
    setup = engine.WorkerSetup(
        ModelSpec("fake"), GroundOptions(fps=5), load=_load_fake, embed=_chaos_embed
    )
    started = time.monotonic()
    outcomes = {o.video: o for o in engine.EmbedPool(setup, workers=2, timeout_s=3).run(videos)}
    assert set(outcomes) == set(videos)
    assert outcomes[str(tmp_path / "crash.mp4")].error.type == "WorkerDied"
    assert "SIGSEGV" in outcomes[str(tmp_path / "crash.mp4")].error.message
    assert outcomes[str(tmp_path / "hang.mp4")].error.type == "Timeout"
    for name in ("v0.mp4", "v1.mp4", "v2.mp4"):
        embedded = outcomes[str(library / name)].embedded
        assert embedded is not None and len(embedded.indices) > 0
    assert time.monotonic() - started < 60  # the hang was cut at 3 s, not waited out


# ---------------------------------------------------------------------------------------------
# Ranking across the library


def _random_embedding(rng: np.random.Generator, name: str, n: int) -> VideoEmbedding:

    e = rng.standard_normal((n, 8)).astype(np.float32)
    return VideoEmbedding(
        name,
        e / np.linalg.norm(e, axis=1, keepdims=True),
        np.arange(n) / 2.0,
        np.arange(n, dtype=np.int64) * 10,
        DecodeSummary(10 * n, n / 2.0, 20.0, 0, "pyav"),
        2.0,
        "fake",
    )


@pytest.mark.parametrize(
    ("top_k", "samples", "count"),
    [(1, (3, 30), 25), (3, (3, 30), 25), (10, (3, 30), 25), (10, (300, 700), 12)],
)  # the long videos take the exact search's branch and bound, the short ones enumeration
def test_library_search_equals_ranking_every_window(
    top_k: int, samples: tuple[int, int], count: int
) -> None:
    from dataclasses import replace

    from clipground.pipeline import ground_samples

    rng = np.random.default_rng(top_k + samples[0])
    videos = [
        _random_embedding(rng, f"v{i:02d}.mp4", int(rng.integers(*samples))) for i in range(count)
    ]
    videos += [
        replace(videos[3], video="copy-of-v03.mp4"),
        replace(videos[7], video="a-copy-of-v07.mp4"),
    ]  # ties
    text = _random_embedding(rng, "q", 1).embeddings
    options = GroundOptions(top_k=top_k)
    ranking = batch.LibrarySearch(["q"], text, options, top_k)
    everything = []
    for e in videos:
        ranking.add(e)
        g = ground_samples(e, ["q"], text, options)
        everything += [(-m.score, e.video, m.start_frame, m.end_frame) for m in g.candidates]
    got = [(-h.score, h.video, h.moment.start_frame, h.moment.end_frame) for h in ranking.hits()]
    assert got == sorted(everything)[:top_k]


def test_resume_refuses_a_file_it_did_not_write(cli, library: Path, tmp_path: Path) -> None:
    precious = tmp_path / "notes.jsonl"
    precious.write_text('{"title": "my notes"}\n')
    result = cli("batch", str(library / "v0.mp4"), "-t", "x", "-o", str(precious), "--resume")
    assert result.exit_code == 2 and "refusing" in result.stderr
    assert precious.read_text() == '{"title": "my notes"}\n'


def test_batch_export_cuts_a_clip_per_answer(cli, library: Path, tmp_path: Path) -> None:
    import av

    result = cli(
        "batch",
        str(library / "v1.mp4"),
        str(library / "v2.mp4"),
        "-t",
        "x",
        "--export",
        str(tmp_path / "clips"),
        "--reencode",
    )
    records = _lines(result.stdout)
    assert result.exit_code == 0 and len(records) == 2
    for record in records:
        clip = Path(record["clip"])
        assert clip.parent == tmp_path / "clips" and clip.name.startswith(
            Path(record["video"]).stem
        )
        with av.open(str(clip)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert frames == record["end_frame"] - record["start_frame"] + 1


@pytest.mark.parametrize("refine", ["--refine", "--no-refine"])
def test_batch_answers_as_match_does(library: Path, cli, refine: str) -> None:
    """`batch` refines the boundaries as `match` does (and not when told not to)."""
    video = str(library / "v2.mp4")
    batched = cli("batch", video, "--text", "a red square", refine)
    matched = cli("match", video, "--text", "a red square", refine, "--format", "jsonl")
    assert batched.exit_code == 0 and matched.exit_code == 0, batched.output + matched.output
    (b,), (m,) = _lines(batched.stdout), _lines(matched.stdout)
    keys = (
        "start_frame",
        "end_frame",
        "start_s",
        "end_s",
        "score",
        "frames_embedded",
        "candidates",
    )
    assert {k: b[k] for k in keys} == {k: m[k] for k in keys}
    refined = b["frames_embedded"] > b["num_sampled"]
    assert refined == (refine == "--refine")


@pytest.mark.parametrize("refine", ["--refine", "--no-refine"])
def test_search_refines_hits_as_match_does(library: Path, cli, refine: str) -> None:
    """`search` refines each hit's boundaries as `match` does (and not when told not to): the
    hits in one video are `match`'s candidates, frame for frame and score for score."""
    video = str(library / "v3.mp4")
    found = cli("search", video, "--text", "a red square", "--top-k", "3", refine)
    matched = cli(
        "match", video, "--text", "a red square", "--top-k", "3", refine, "--format", "jsonl"
    )
    assert found.exit_code == 0 and matched.exit_code == 0, found.output + matched.output
    hits, (m,) = _lines(found.stdout), _lines(matched.stdout)
    keys = ("start_frame", "end_frame", "start_s", "end_s", "score")
    expected = sorted(m["candidates"], key=lambda c: -c["score"])
    assert [{k: h[k] for k in keys} for h in hits] == [{k: c[k] for k in keys} for c in expected]
    assert (m["frames_embedded"] > m["num_sampled"]) == (refine == "--refine")


def test_search_keeps_first_pass_hits_that_cannot_be_refined(
    tiny_clip: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Cached first passes of videos that are gone (or changed) since: refining cannot decode them,
    a warning says so, and the first-pass hits stand."""
    from clipground.model import ModelSpec, load_encoder

    rng = np.random.default_rng(5)
    videos = [_random_embedding(rng, f"gone-{i}.mp4", 20) for i in range(3)]
    text = _random_embedding(rng, "q", 1).embeddings
    ranking = batch.LibrarySearch(["q"], text, GroundOptions(top_k=2, refine=True), 2)
    for embedded in videos:
        ranking.add(embedded)
    encoder = load_encoder(ModelSpec(name=tiny_clip, device="cpu"))
    with caplog.at_level(logging.WARNING):
        assert ranking.hits(encoder) == ranking.hits()
    assert "boundaries not refined" in caplog.text


@pytest.mark.parametrize("command", ["batch", "search"])
def test_timeout_bounds_the_refine_pass_and_the_first_pass_answer_stands(
    library: Path, cli, command: str
) -> None:
    """The refine pass runs in this process: --timeout bounds it too. Past it, the pass is given up
    with a warning and the job goes on with the first pass's answer. The video is cached (by the
    first call), so no worker runs; the second pass cannot decode anything within a microsecond.
    (A decoder that never returns is given up the same way: tests/test_refine.py injects one.)"""
    video = str(library / "v2.mp4")
    expected = _lines(cli(command, video, "--text", "a red square", "--no-refine").stdout)
    result = cli(command, video, "--text", "a red square", "--refine", "--timeout", "1e-06")
    assert result.exit_code == 0, result.output
    assert "boundaries not refined" in result.stderr
    assert "longer than --timeout 1e-06 s" in result.stderr
    assert _lines(result.stdout) == expected


def test_default_threads_are_a_share_of_the_cores() -> None:
    assert engine.default_threads(1, cpu_count=lambda: 2) == 2  # decoders share: two model streams
    assert engine.default_threads(2, cpu_count=lambda: 2) == 1
    assert engine.default_threads(4, cpu_count=lambda: 2) == 1
    assert engine.default_threads(3, cpu_count=lambda: 16) == 5
    assert engine.default_threads(1, cpu_count=lambda: None) == 1


# ---------------------------------------------------------------------------------------------
# Answers: typed in batch, records built in output


def test_each_answer_becomes_its_record() -> None:
    """A video that failed: one record for all its queries. A query it cannot answer (longer than
    the video): that pair's error. Otherwise the pair's grounding, under the query's id."""
    from fakes import ColourEncoder

    from clipground.output import answer_record, grounding_record
    from clipground.types import EmbedOutcome, ItemError

    rng = np.random.default_rng(0)
    embedded = _random_embedding(rng, "v.mp4", 20)  # 10 s
    text = _random_embedding(rng, "q", 1).embeddings
    short, long = batch.Query("short", ("q",)), batch.Query("long", ("q", "r"))
    asked = [batch.EncodedQuery(short, text), batch.EncodedQuery(long, np.vstack([text, text]))]
    options = GroundOptions(min_len_s=8.0, refine=False)  # two sentences need 16 s

    failed = EmbedOutcome("bad.mp4", None, ItemError("VideoError", "bad.mp4: not a video"))
    (whole,) = batch.answer_video(failed, asked, options, ColourEncoder())
    assert whole.query is None and answer_record(whole) == {
        "video": "bad.mp4",
        "error": {"type": "VideoError", "message": "bad.mp4: not a video"},
    }

    ok, bad = batch.answer_video(EmbedOutcome("v.mp4", embedded), asked, options, ColourEncoder())
    assert ok.error is None and ok.grounding is not None
    assert list(answer_record(ok)) == ["id", *grounding_record(ok.grounding)]
    assert answer_record(ok)["id"] == "short"
    assert bad.grounding is None and bad.error is not None
    record = answer_record(bad)
    assert list(record) == ["video", "id", "query", "error"]
    assert record["id"] == "long" and record["query"] == ["q", "r"]
