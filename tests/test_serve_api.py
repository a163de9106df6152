"""The web API through FastAPI's test client: the CLI's records, media with ranges, previews, the
jobs board, the token, bad requests and every way of naming a file outside the library."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import make_video, real_videos_dir
from fakes import ColourEncoder
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from clipground.cache import EmbeddingCache
from clipground.cli import app as cli
from clipground.model import ModelSpec, load_encoder
from clipground.options import GroundOptions
from clipground.serve import Library, create_app

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "demo.mp4"
RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255)}
runner = CliRunner()


def solid(name: str, n: int) -> list[np.ndarray]:
    return [np.full((48, 64, 3), RGB[name], np.uint8)] * n


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """a.mp4: red 2-4 s of 6; sub/b.mp4: red 3-4 s of 6; c.mp4: white, 4 s."""
    root = tmp_path_factory.mktemp("library")
    (root / "sub").mkdir()
    make_video(root / "a.mp4", solid("blue", 20) + solid("red", 20) + solid("blue", 20), fps=10)
    make_video(
        root / "sub" / "b.mp4", solid("green", 30) + solid("red", 10) + solid("green", 20), fps=10
    )
    make_video(root / "c.mp4", solid("white", 40), fps=10)
    return root


def wait_for_jobs(client: TestClient, timeout_s: float = 120.0) -> list[dict]:
    """Poll /api/jobs until no video is queued or embedding (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = client.get("/api/jobs").json()
        if all(j["state"] in ("done", "failed") for j in jobs):
            return jobs
        time.sleep(0.05)
    raise AssertionError(f"jobs still running after {timeout_s} s: {jobs}")


def ids(client: TestClient) -> dict[str, str]:
    """Video file name -> id."""
    return {Path(v["path"]).name: v["id"] for v in client.get("/api/videos").json()}


@pytest.fixture(scope="module")
def fake(library_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The library served with the colour encoder, every video embedded."""
    cache = EmbeddingCache(tmp_path_factory.mktemp("fake_cache"))
    app = create_app(Library([str(library_dir)]), ColourEncoder(), GroundOptions(), cache)
    with TestClient(app) as client:
        wait_for_jobs(client)
        yield client


# ------------------------------------------------------------------ the CLI's records


@pytest.fixture(scope="module")
def demo(
    library_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Path]]:
    """The sample video and the library served with the demo model, and the cache they share
    with the CLI runs compared against."""
    cache_dir = tmp_path_factory.mktemp("demo_cache")
    encoder = load_encoder(ModelSpec(name="demo", device="cpu"))
    library = Library([str(SAMPLE), str(library_dir)])
    with TestClient(create_app(library, encoder, GroundOptions(), EmbeddingCache(cache_dir))) as c:
        wait_for_jobs(c, 300)
        yield c, cache_dir


def run_cli(cache_dir: Path, *args: str) -> list[dict]:
    """The records a CLI command prints (one JSON object a line), with the demo model."""
    fmt = ["--format", "jsonl"] if args[0] == "match" else []
    result = runner.invoke(
        cli, [*args, *fmt, "--model", "demo", "--device", "cpu", "--cache-dir", str(cache_dir)]
    )
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("texts", [["a red circle"], ["a blue square", "a red circle"]])
def test_match_is_the_cli_record(demo, texts: list[str]) -> None:
    client, cache_dir = demo
    flags = [a for t in texts for a in ("-t", t)]
    expected = run_cli(
        cache_dir, "match", str(SAMPLE), *flags, "--top-k", "3", "--objective", "contrast"
    )
    answer = client.get(
        "/api/match",
        params={
            "video": ids(client)["demo.mp4"],
            "text": texts,
            "top_k": 3,
            "objective": "contrast",
        },
    )
    assert answer.status_code == 200, answer.text
    assert [answer.json()] == expected


def test_match_by_path_is_named_as_the_path_given(demo) -> None:
    client, cache_dir = demo
    expected = run_cli(cache_dir, "match", str(SAMPLE), "-t", "a green triangle")
    answer = client.get("/api/match", params={"path": str(SAMPLE), "text": "a green triangle"})
    assert [answer.json()] == expected


def test_search_is_the_cli_ranking(demo, library_dir: Path) -> None:
    client, cache_dir = demo
    expected = run_cli(
        cache_dir, "search", str(SAMPLE), str(library_dir), "-t", "a red circle", "--top-k", "4"
    )
    answer = client.get("/api/search", params={"text": "a red circle", "top_k": 4})
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected and len(expected) == 4
    assert {r["video"] for r in expected} >= {str(SAMPLE)}


def test_align_is_the_cli_alignment(demo, tmp_path: Path) -> None:
    client, cache_dir = demo
    transcript = tmp_path / "narration.srt"
    transcript.write_text(
        "1\n00:00:01,000 --> 00:00:05,000\nA blue square.\n\n2\n00:00:05,000 --> 00:00:12,000\n"
        "A red circle.\n\n3\n00:00:20,000 --> 00:00:30,000\nA green triangle.\n"
    )
    expected = run_cli(
        cache_dir, "align", str(SAMPLE), "--transcript", str(transcript), "--no-gaps"
    )
    body = {"video": ids(client)["demo.mp4"], "transcript": transcript.read_text(), "gaps": False}
    answer = client.post("/api/align", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected and "mean_iou_vs_cues" in expected[-1]["summary"]


def memo_entry(client: TestClient, video: str, timeout_s: float = 120.0) -> dict:
    """The refine memo's entry for `video` once its fill has ended (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        held = {v["video"]: v for v in client.get("/api/refine-memo").json()["videos"]}
        if video in held and held[video]["fill"] not in ("queued", "filling"):
            return held[video]
        time.sleep(0.1)
    raise AssertionError(f"the fill of {video} did not end within {timeout_s} s")


def test_a_refined_match_is_the_cli_record_first_again_and_from_memory(demo) -> None:
    """With the second pass, the server's frames come from its memo after the first question:
    decoded then, taken from the memo again, then picked from the whole video's table."""
    client, cache_dir = demo
    flags = ("--refine", "--top-k", "3")
    expected = {
        t: run_cli(cache_dir, "match", str(SAMPLE), "-t", t, *flags)
        for t in ("a red circle", "a green triangle")
    }
    video = ids(client)["demo.mp4"]

    def served(text: str) -> list[dict]:
        params = {"video": video, "text": text, "top_k": 3, "refine": True}
        answer = client.get("/api/match", params=params)
        assert answer.status_code == 200, answer.text
        return [answer.json()]

    assert served("a red circle") == expected["a red circle"]
    assert served("a red circle") == expected["a red circle"]
    held = memo_entry(client, video)
    assert held["fill"] == "done" and held["complete"] and held["frames"] == 450
    for text, records in expected.items():
        assert served(text) == records
    assert (
        expected["a red circle"][0]["frames_embedded"] > expected["a red circle"][0]["num_sampled"]
    )


@pytest.fixture(scope="module")
def shapes_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six short videos of the demo model's shapes, each with one captioned segment."""
    from clipground.demo.render import Segment, write_video

    folder = tmp_path_factory.mktemp("shapes")
    shapes = [("circle", "red"), ("square", "blue"), ("triangle", "green"),
              ("circle", "blue"), ("cross", "white"), ("square", "red")]  # fmt: skip
    for i, (shape, colour) in enumerate(shapes):
        segments = [Segment(1.0 + 0.5 * i), Segment(2.0, shape, colour), Segment(1.0)]
        write_video(folder / f"d{i}.mp4", segments, fps=8, size=(96, 64), seed=i)
    return folder


def test_search_goes_through_the_index_as_the_cli_does(
    shapes_library: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On an indexed library the server shortlists through the index as `clipground search`
    does (and says so in its log); with a damaged index both warn alike and scan."""
    import logging

    cache_dir = tmp_path / "cache"
    built = runner.invoke(
        cli, ["index", "build", str(shapes_library), "--model", "demo", "--device", "cpu",
              "--cache-dir", str(cache_dir)],
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    query = ("search", str(shapes_library), "-t", "a red circle", "--top-k", "1")
    expected = run_cli(cache_dir, *query)
    encoder = load_encoder(ModelSpec(name="demo", device="cpu"))
    app = create_app(Library([str(shapes_library)]), encoder, cache=EmbeddingCache(cache_dir))
    with TestClient(app) as client:
        wait_for_jobs(client)
        with caplog.at_level(logging.INFO, logger="clipground"):
            answer = client.get("/api/search", params={"text": "a red circle", "top_k": 1})
        assert answer.status_code == 200 and answer.json() == expected and len(expected) == 1
        assert "index: 5 of 6 indexed videos shortlisted" in caplog.text  # d0 is too short to rank
        assert json.loads(answer.headers.get("x-clipground-warnings", "[]")) == []
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="clipground"):
            every = client.get(
                "/api/search", params={"text": "a red circle", "top_k": 1, "exact": True}
            )
        assert every.json() == run_cli(cache_dir, *query, "--exact")
        assert "shortlisted" not in caplog.text

        vectors = next((cache_dir / "index-v1").rglob("vectors-*.faiss"))
        vectors.write_bytes(vectors.read_bytes()[:100])
        damaged = runner.invoke(
            cli, [*query, "--model", "demo", "--device", "cpu", "--cache-dir", str(cache_dir)]
        )
        assert (
            damaged.exit_code == 0
            and [json.loads(x) for x in damaged.stdout.splitlines()] == expected
        )
        (warning,) = [x for x in damaged.stderr.splitlines() if x.startswith("warning:")]
        # the index this server loaded is whole in its memory: it keeps answering from it
        answer = client.get("/api/search", params={"text": "a red circle", "top_k": 1})
        assert answer.json() == expected and "x-clipground-warnings" not in answer.headers
    app = create_app(Library([str(shapes_library)]), encoder, cache=EmbeddingCache(cache_dir))
    with TestClient(app) as client:  # a server started now reads the damaged file and says so
        wait_for_jobs(client)
        answer = client.get("/api/search", params={"text": "a red circle", "top_k": 1})
        assert answer.json() == expected
        assert json.loads(answer.headers["x-clipground-warnings"]) == [warning[len("warning: ") :]]


# ------------------------------------------------------------------ answers with the fake encoder


def test_videos_are_listed_with_stable_ids(fake, library_dir: Path) -> None:
    videos = fake.get("/api/videos").json()
    assert sorted(Path(v["path"]).relative_to(library_dir).as_posix() for v in videos) == [
        "a.mp4",
        "c.mp4",
        "sub/b.mp4",
    ]
    assert all(v["embedded"] and v["duration_s"] in (4.0, 6.0) for v in videos)
    again = Library([str(library_dir)]).videos()  # a restart gives the same ids
    assert {v.id for v in again} == {v["id"] for v in videos}


def test_search_ranks_the_red_windows_first(fake, library_dir: Path) -> None:
    hits = fake.get("/api/search", params={"text": "red", "top_k": 2}).json()
    assert [(Path(h["video"]).name, h["start_s"], h["end_s"]) for h in hits] == [
        ("a.mp4", 2.0, 4.0),
        ("b.mp4", 3.0, 4.0),
    ]
    assert [h["rank"] for h in hits] == [1, 2] and hits[0]["model"] == "fake-colour"


def test_search_restricted_to_paths(fake, library_dir: Path) -> None:
    only = fake.get("/api/search", params={"text": "red", "path": str(library_dir / "sub")}).json()
    assert {Path(h["video"]).name for h in only} == {"b.mp4"}
    assert only[0]["video"] == str(library_dir / "sub" / "b.mp4")


def test_curve_is_the_plot_s(fake) -> None:
    curve = fake.get(
        "/api/curve", params={"video": ids(fake)["a.mp4"], "text": ["red", "blue"]}
    ).json()
    assert set(curve) == {"times_s", "similarity", "sentences", "duration_s"}
    assert len(curve["times_s"]) == len(curve["similarity"]) == 12 and curve["duration_s"] == 6.0
    red, blue = (np.array(c) for c in curve["sentences"])
    times = np.array(curve["times_s"])
    inside = (times >= 2.0) & (times < 4.0)
    assert red[inside].min() > 0.99 and red[~inside].max() < 0.5 and blue[~inside].min() > 0.99
    single = fake.get("/api/curve", params={"video": ids(fake)["a.mp4"], "text": "red"}).json()
    assert single["sentences"] == [] and single["similarity"] == curve["sentences"][0]


def test_frame_is_the_picture_shown_at_t(fake) -> None:
    for t, colour in ((0.5, "blue"), (2.5, "red"), (6.0, "blue")):  # 6.0: the end shows the last
        answer = fake.get("/api/frame", params={"video": ids(fake)["a.mp4"], "t": t, "width": 32})
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
        with av.open(io.BytesIO(answer.content), format="jpeg_pipe") as picture:
            pixels = next(picture.decode(video=0)).to_ndarray(format="rgb24")
        assert pixels.shape == (24, 32, 3)
        assert np.abs(pixels.reshape(-1, 3).mean(axis=0) - RGB[colour]).max() < 20


def test_export_downloads_the_clip(fake) -> None:
    answer = fake.get(
        "/api/export",
        params={"video": ids(fake)["a.mp4"], "start_s": 2, "end_s": 4, "reencode": True},
    )
    assert answer.status_code == 200 and "a_2.00-4.00s.mp4" in answer.headers["content-disposition"]
    with av.open(io.BytesIO(answer.content)) as clip:
        frames = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]
    assert len(frames) == 20 and all(f.reshape(-1, 3).mean(axis=0)[0] > 200 for f in frames)


def test_openapi_docs(fake) -> None:
    assert fake.get("/docs").status_code == 200
    paths = fake.get("/openapi.json").json()["paths"]
    assert {
        "/api/videos",
        "/api/search",
        "/api/match",
        "/api/align",
        "/api/curve",
        "/api/frame",
        "/api/jobs",
        "/api/export",
        "/media/{video_id}",
    } <= set(paths)


def test_the_page_and_its_files(fake) -> None:
    page = fake.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert fake.get("/static/index.html").status_code == 200


# ------------------------------------------------------------------ media


def test_media_answers_ranges(fake, library_dir: Path) -> None:
    whole = (library_dir / "a.mp4").read_bytes()
    url = f"/media/{ids(fake)['a.mp4']}"
    full = fake.get(url)
    assert (
        full.status_code == 200
        and full.content == whole
        and full.headers["accept-ranges"] == "bytes"
    )
    assert full.headers["content-type"] == "video/mp4"
    part = fake.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"
    tail = fake.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == whole[-50:]
    past = fake.get(url, headers={"Range": f"bytes={len(whole) + 10}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(whole)}"


def test_an_avi_plays_through_a_cached_h264_preview(tmp_path: Path) -> None:
    source = real_videos_dir() / "mpeg4asp_mp3.avi"
    (tmp_path / "lib").mkdir()
    shutil.copy(source, tmp_path / "lib" / "clip.avi")
    cache = EmbeddingCache(tmp_path / "cache")
    app = create_app(
        Library([str(tmp_path / "lib")]), ColourEncoder(), GroundOptions(), cache, background=False
    )
    with TestClient(app) as client:
        url = f"/media/{ids(client)['clip.avi']}"
        first = client.get(url)
        assert first.status_code == 200 and first.headers["content-type"] == "video/mp4"
        previews = list((tmp_path / "cache" / "previews-v1").glob("*.mp4"))
        assert len(previews) == 1 and not list((tmp_path / "cache" / "previews-v1").glob(".tmp-*"))
        with av.open(io.BytesIO(first.content)) as preview:
            video, audio = preview.streams.video[0], preview.streams.audio[0]
            assert (video.codec_context.name, audio.codec_context.name) == ("h264", "aac")
            assert sum(1 for _ in preview.decode(video=0)) == 164  # every frame of the AVI
        stamp = previews[0].stat().st_ino
        part = client.get(url, headers={"Range": "bytes=0-1023"})
        assert part.status_code == 206 and part.content == first.content[:1024]
        assert previews[0].stat().st_ino == stamp  # served from the preview folder, not redone


# ------------------------------------------------------------------ nothing outside the library


@pytest.fixture(scope="module")
def outside(library_dir: Path) -> Path:
    """A real video outside the library, and a symlink to it inside."""
    secret = library_dir.parent / "secret.mp4"
    make_video(secret, solid("red", 10), fps=10)
    link = library_dir / "link.mp4"
    if not link.exists():
        os.symlink(secret, link)
    return secret


def assert_refused(answer, *, json_body: bool = True) -> None:
    assert answer.status_code == 404, answer.text
    assert b"ftyp" not in answer.content and b"root:" not in answer.content  # never a file
    if json_body:
        assert set(answer.json()["error"]) == {"type", "message"}


@pytest.mark.parametrize(
    "url",
    [
        "/media/..%2F..%2F..%2Fetc%2Fpasswd",  # URL-encoded traversal
        "/media/%252e%252e%252f%252e%252e%252fetc%252fpasswd",  # double-encoded
        "/media/%2Fetc%2Fpasswd",  # an absolute path as the id
        "/media/0123456789ab",  # an id that is not one
        "/media/%2e%2e",
        "/static/..%2F..%2F..%2Fetc%2Fpasswd",
        "/static/%252e%252e/%252e%252e/etc/passwd",
    ],
)
def test_traversal_in_the_url_is_404(fake, url: str) -> None:
    assert_refused(fake.get(url), json_body=not url.startswith("/static"))


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",  # absolute, elsewhere
        "{lib}/../secret.mp4",  # `..` out of the library, to a video that exists
        "{lib}/sub/../../secret.mp4",
        "{lib}/link.mp4",  # a symlink inside pointing outside
        "{lib}/%2e%2e/secret.mp4",  # encoded in the value: a name that does not exist
        "{lib}/../nothing.mp4",  # outside and missing: the same answer
        "secret.mp4",  # relative to the server's folder
        "{lib}/a.mp4\x00.txt",
    ],
)
def test_paths_outside_the_library_are_404(
    fake, outside: Path, library_dir: Path, path: str
) -> None:
    path = path.format(lib=library_dir)
    assert_refused(fake.get("/api/match", params={"path": path, "text": "red"}))
    assert_refused(fake.get("/api/frame", params={"path": path}))
    assert_refused(fake.get("/api/export", params={"path": path, "start_s": 0, "end_s": 1}))
    assert_refused(fake.get("/api/search", params={"path": path, "text": "red"}))
    assert_refused(fake.post("/api/align", json={"path": path, "transcript": "red"}))


def test_a_symlink_out_of_the_library_is_not_listed(outside: Path, library_dir: Path) -> None:
    listed = [v.path for v in Library([str(library_dir)]).videos()]
    assert listed and not any("link.mp4" in p or "secret" in p for p in listed)


def test_unknown_ids_are_404_everywhere(fake) -> None:
    for url in (
        "/api/match?video=nope&text=red",
        "/api/curve?video=nope&text=red",
        "/api/frame?video=nope",
        "/api/export?video=nope&start_s=0&end_s=1",
    ):
        assert_refused(fake.get(url))
    assert_refused(fake.post("/api/align", json={"video": "nope", "transcript": "red"}))


# ------------------------------------------------------------------ the token


@pytest.fixture(scope="module")
def guarded(library_dir: Path) -> Iterator[TestClient]:
    app = create_app(Library([str(library_dir)]), ColourEncoder(), token="s3cret", background=False)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("url", ["/", "/api/videos", "/static/index.html", "/docs", "/media/x"])
def test_without_the_token_everything_is_401(guarded, url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "clipground_token=wrong"}):
        answer = guarded.get(url, headers=headers)
        assert answer.status_code == 401 and answer.json()["error"]["type"] == "Unauthorized"


def test_the_token_as_header_query_or_cookie(guarded) -> None:
    assert guarded.get("/api/videos", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    page = guarded.get("/?token=s3cret")
    guarded.cookies.clear()  # the other tests ask without it
    assert page.status_code == 200 and "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=Strict" in page.headers["set-cookie"]
    video = guarded.get("/api/videos", params={"token": "s3cret"}).json()[0]["id"]
    guarded.cookies.clear()
    assert (
        guarded.get(f"/media/{video}?token=s3cret", headers={"Range": "bytes=0-9"}).status_code
        == 206
    )
    guarded.cookies.clear()
    cookie = {"Cookie": "clipground_token=s3cret"}
    assert guarded.get("/static/index.html", headers=cookie).status_code == 200


def test_only_loopback_host_names_when_asked(library_dir: Path) -> None:
    app = create_app(
        Library([str(library_dir)]), ColourEncoder(), allowed_hosts=["127.0.0.1"], background=False
    )
    with (
        TestClient(app, base_url="http://127.0.0.1:8000") as ok,
        TestClient(app, base_url="http://evil.example") as bad,
    ):
        assert ok.get("/api/videos").status_code == 200
        assert bad.get("/api/videos").status_code == 400


# ------------------------------------------------------------------ bad requests


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"text": "  "}, "empty"),
        ({}, "no query text"),
        ({"text": "red", "top_k": 0}, "--top-k"),
        ({"text": "red", "top_k": 10**9}, "--top-k"),
        ({"text": "red", "top_k": "many"}, "top_k"),
        ({"text": "red", "objective": "best"}, "--objective"),
        ({"text": "red", "min_len": 5, "max_len": 1}, "--min-len"),
        ({"text": "red", "fps": 3}, "--fps"),
        ({"text": "red", "model": "ViT-H-14/laion"}, "--model"),
        ({"text": "red", "video": "{id}", "path": "/x"}, "video=ID"),
    ],
)
def test_bad_questions_are_400_with_one_line(fake, params: dict, needle: str) -> None:
    params = {
        k: (v.format(id=ids(fake)["a.mp4"]) if isinstance(v, str) else v) for k, v in params.items()
    }
    params.setdefault("video", ids(fake)["a.mp4"])
    answer = fake.get("/api/match", params=params)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (
        error["type"] == "UsageError"
        and needle in error["message"]
        and "\n" not in error["message"]
    )


def test_a_huge_transcript_is_413(fake) -> None:
    body = json.dumps({"video": ids(fake)["a.mp4"], "transcript": "red\n" * (10 << 18)})
    answer = fake.post("/api/align", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"]["type"] == "UsageError"
    assert fake.get("/api/videos").status_code == 200


def test_bad_align_bodies(fake) -> None:
    video = ids(fake)["a.mp4"]
    for body, needle in (
        ({"video": video, "transcript": "\n\n"}, "holds no sentences"),
        ({"video": video, "transcript": "red\nblue", "spans": "1:0"}, "--span"),
        ({"video": video, "transcript": "red", "normalise": "max"}, "--normalise"),
        ({"video": video, "transcript": "red", "colour": "red"}, "colour"),
        ({"video": video}, "transcript"),
    ):
        answer = fake.post("/api/align", json=body)
        assert answer.status_code == 400 and needle in answer.json()["error"]["message"], (
            answer.text
        )


def test_a_video_that_fails_to_decode_is_422_and_the_server_goes_on(
    tmp_path: Path, library_dir: Path
) -> None:
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    shutil.copy(library_dir / "a.mp4", tmp_path / "a.mp4")
    app = create_app(
        Library([str(tmp_path)]), ColourEncoder(), GroundOptions(), EmbeddingCache(tmp_path / "c")
    )
    with TestClient(app) as client:
        jobs = {j["video"]: j for j in wait_for_jobs(client)}
        broken = ids(client)["broken.mp4"]
        assert jobs[broken]["state"] == "failed" and "broken.mp4" in jobs[broken]["error"]
        for _ in range(2):  # the same answer again, not a retried decode
            answer = client.get("/api/match", params={"video": broken, "text": "red"})
            assert answer.status_code == 422 and answer.json()["error"]["type"] == "VideoError"
        assert client.get("/api/frame", params={"video": broken}).status_code == 422
        assert (
            client.get(
                "/api/match", params={"video": ids(client)["a.mp4"], "text": "red"}
            ).status_code
            == 200
        )
        assert len(client.get("/api/search", params={"text": "red"}).json()) >= 1
        failed = client.get("/api/search", params={"text": "red", "path": str(tmp_path)})
        assert (
            failed.headers["x-clipground-failed"] == "1"
            and "broken.mp4" in failed.headers["x-clipground-warnings"]
        )


# ------------------------------------------------------------------ background embedding


class GatedEncoder(ColourEncoder):
    """The colour encoder, embedding a chunk of frames only when a permit is released."""

    def __init__(self) -> None:
        super().__init__()
        self.permits = threading.Semaphore(0)

    def encode_frames(self, pixels: np.ndarray) -> np.ndarray:
        if not self.permits.acquire(timeout=60):
            raise TimeoutError("no permit to embed within 60 s")
        return super().encode_frames(pixels)


def test_background_embedding_reports_progress_and_the_api_stays_responsive(
    library_dir: Path, tmp_path: Path
) -> None:
    encoder = GatedEncoder()
    options = GroundOptions(batch_size=4)  # 12 samples of a.mp4: 3 chunks
    app = create_app(Library([str(library_dir)]), encoder, options, EmbeddingCache(tmp_path))
    with TestClient(app) as client:
        encoder.permits.release()  # one chunk of the first video
        first = ids(client)["a.mp4"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = {j["video"]: j for j in client.get("/api/jobs").json()}[first]
            if job["frames_done"] == 4:
                break
            time.sleep(0.02)
        assert job == {
            "video": first,
            "state": "embedding",
            "frames_done": 4,
            "frames_total": 12,
            "error": None,
        }
        others = [j["state"] for j in client.get("/api/jobs").json() if j["video"] != first]
        assert others == ["queued", "queued"]
        started = time.monotonic()
        assert (
            client.get("/api/search", params={"text": "red"}).json() == []
        )  # nothing embedded yet
        assert [v["embedded"] for v in client.get("/api/videos").json()] == [False] * 3
        assert time.monotonic() - started < 5  # answered while the embedding waits
        for _ in range(100):
            encoder.permits.release()
        wait_for_jobs(client)
        assert len(client.get("/api/search", params={"text": "red", "top_k": 3}).json()) == 3


def test_a_question_about_a_video_not_embedded_yet_embeds_it(
    library_dir: Path, tmp_path: Path
) -> None:
    app = create_app(
        Library([str(library_dir)]),
        ColourEncoder(),
        GroundOptions(),
        EmbeddingCache(tmp_path),
        background=False,
    )
    with TestClient(app) as client:
        video = ids(client)["b.mp4"]
        assert {j["state"] for j in client.get("/api/jobs").json()} == {"queued"}
        answer = client.get("/api/match", params={"video": video, "text": "red"}).json()
        assert (answer["start_s"], answer["end_s"]) == (3.0, 4.0)
        states = {j["video"]: j["state"] for j in client.get("/api/jobs").json()}
        assert states.pop(video) == "done" and set(states.values()) == {"queued"}
