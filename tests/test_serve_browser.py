"""The page of `clipground serve` in a real browser: Playwright driving Debian's chromium.

A `clipground serve` process (demo model, loopback, a free port) serves a generated library; the
tests use the page as a person would (type, press Enter, click) and check what it shows against
what the CLI prints for the same question. Each view is saved as a screenshot for the docs
(docs/img/serve-*.png).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clipground.cli import app
from clipground.demo.render import Segment, write_video

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(
        f"{CHROMIUM} not found: the browser test needs Debian's chromium (apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, Route, sync_playwright

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "img"
VIEWPORT = {"width": 1200, "height": 840}
SERVER_START_S = 120.0  # python + torch + the demo model, on a loaded CI machine
EMBED_S = 120.0  # the server embeds the library in the background
WAIT_MS = 20_000  # any one thing the page is waited for
DEMO = ["--model", "demo", "--device", "cpu"]
runner = CliRunner()

# The library: 10 fps, 320x180; each scene 3 s or more so a moment plays long enough to watch.
# Plain and gradient backgrounds only: noise would make the screenshots large.
PLAIN, GRADIENT = {"background": "plain"}, {"background": "gradient"}
LIBRARY = {
    "kitchen.mp4": [
        Segment(2.0, **GRADIENT),
        Segment(3.0, "circle", "red", **PLAIN),
        Segment(3.0, "square", "blue", **GRADIENT),
        Segment(2.0, **PLAIN),
        Segment(3.0, "cross", "green", **PLAIN),
    ],
    "garden.mp4": [
        Segment(3.0, "triangle", "yellow", **GRADIENT),
        Segment(2.0, **PLAIN),
        Segment(4.0, "circle", "purple", moving=True, **PLAIN),
        Segment(3.0, "square", "white", **GRADIENT),
    ],
    "street.mp4": [
        Segment(2.0, **PLAIN),
        Segment(3.0, "cross", "orange", **GRADIENT),
        Segment(3.0, "circle", "red", moving=True, **PLAIN),
        Segment(2.0, **GRADIENT),
    ],
}
TRANSCRIPT = "an empty background\na red circle\na blue square\nthere is nothing\na green cross\n"


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three generated demo-domain videos."""
    folder = tmp_path_factory.mktemp("library")
    for seed, (name, segments) in enumerate(LIBRARY.items()):
        write_video(folder / name, segments, fps=10, size=(320, 180), seed=seed)
    return folder


def serve_command(library: Path, port: int, *options: str) -> list[str]:
    """`clipground serve` on loopback with the demo model."""
    where = ["--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, "-m", "clipground", "serve", str(library), *DEMO, *where, *options]


@contextlib.contextmanager
def running_server(
    library: Path, folder: Path, *options: str, token: str | None = None
) -> Iterator[str]:
    """A `clipground serve` process (its cache and log in `folder`) until the block ends: its URL."""
    port = _free_port()
    log = folder / f"serve-{port}.log"
    # Not the person's $CLIPGROUND_TOKEN (it would guard this server), nor their cache.
    env = {
        k: v for k, v in os.environ.items() if k not in ("CLIPGROUND_SERVER", "CLIPGROUND_TOKEN")
    }
    env["CLIPGROUND_CACHE_DIR"] = str(folder / "cache")
    with log.open("wb") as out:
        command = serve_command(library, port, *options)
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(base, process, log, token)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def serve_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The servers' embedding cache and logs (shared: a second server finds the library cached)."""
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def server(library: Path, serve_dir: Path) -> Iterator[str]:
    """The base URL of a running `clipground serve` over the library."""
    with running_server(library, serve_dir) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    """A fresh page on the server, once the library is listed and embedded; it fails the test on
    any uncaught script error."""
    with open_page(browser, server) as page:
        wait_until_embedded(page)
        yield page


@contextlib.contextmanager
def open_page(
    browser: Browser, url: str, prepare: Callable[[Page], None] | None = None
) -> Iterator[Page]:
    """A page in a new browser context at `url` (`prepare(page)` first: routes), listed; the
    block fails on any uncaught script error in it."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if prepare is not None:
        prepare(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()
    assert not errors, f"script errors in the page: {errors}"


def wait_until_embedded(page: Page) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('#video-list .badge-embedded').length === {len(LIBRARY)}",
        timeout=EMBED_S * 1000,
    )


# ---------------------------------------------------------------------------- tests


def test_search_shows_the_clis_answer_and_plays_it(page: Page, library: Path) -> None:
    page.fill("#search-text", "a red circle")
    page.press("#search-text", "Enter")
    page.wait_for_selector(".card")
    expected = cli_lines("search", str(library), "-t", "a red circle", "--top-k", "5")
    cards = page.locator(".card")
    assert cards.count() == len(expected)
    for i, record in enumerate(expected):  # every card, in order: video, time range
        assert cards.nth(i).locator(".card-name").inner_text() == Path(record["video"]).name
        assert cards.nth(i).locator(".range").inner_text() == time_range(
            record["start_s"], record["end_s"]
        )
    _wait_for_thumbnails(page)
    assert page.locator(".card").first.locator("img").count() == 4
    screenshot(page, "search")

    best = expected[0]
    cards.first.click()
    _wait_playing(page, past_s=best["start_s"] + 0.3)
    assert best["start_s"] - 0.05 <= current_time(page) <= best["end_s"] + 0.05
    assert page.inner_text("#player-title") == Path(best["video"]).name


def test_the_player_stops_at_the_end_loops_and_seeks_from_the_curve(
    page: Page, library: Path
) -> None:
    best = cli_lines("search", str(library), "-t", "a red circle", "--top-k", "5")[0]
    start_s, end_s = best["start_s"], best["end_s"]
    page.fill("#search-text", "a red circle")
    page.press("#search-text", "Enter")
    page.locator(".card").first.click()
    _wait_playing(page, past_s=start_s + 0.1)
    # Without "loop", playback stops at the window's end.
    page.wait_for_function(
        f"(v => v.paused && Math.abs(v.currentTime - {end_s}) < 0.1)(document.getElementById('video'))",
        timeout=(end_s - start_s + 10) * 1000,
    )
    # With it, playback goes on inside the window, past its length.
    page.check("#loop")
    page.click("#replay")
    _wait_playing(page, past_s=start_s + 0.1)
    page.wait_for_timeout((end_s - start_s + 1.0) * 1000)
    assert page.evaluate("!document.getElementById('video').paused")
    assert start_s - 0.05 <= current_time(page) <= end_s + 0.05
    page.uncheck("#loop")

    # A click on the curve seeks there, and the playhead follows.
    page.wait_for_selector("#curve[data-query]")
    duration = float(page.get_attribute("#curve", "data-duration"))
    target_s = round(0.8 * duration, 1)
    click_curve_at(page, target_s)
    page.wait_for_function(
        f"Math.abs(document.getElementById('video').currentTime - {target_s}) < 0.15"
    )
    head_x = page.evaluate(
        "new DOMMatrix(getComputedStyle(document.getElementById('curve-playhead')).transform).m41"
    )
    assert abs(head_x - curve_x(page, current_time(page))) < 2

    # The view for the docs: paused in the middle of the moment.
    page.evaluate("document.getElementById('video').pause()")
    click_curve_at(page, (start_s + end_s) / 2)
    _wait_seeked(page)
    screenshot(page, "player")


def test_match_view_shows_candidates_and_each_sentences_window(page: Page, library: Path) -> None:
    video = library / "kitchen.mp4"
    sentences = ["a red circle", "then a blue square"]
    expected = cli_json(
        "match", str(video), *[a for s in sentences for a in ("-t", s)], "--top-k", "5"
    )
    page.click("#tab-video")
    page.get_by_role("radio", name="kitchen.mp4").check()
    page.fill("#match-text", "\n".join(sentences))
    page.click("#match-form button[type=submit]")
    page.wait_for_selector("#match-result .candidates .moment")

    assert time_range(expected["start_s"], expected["end_s"]) in page.inner_text("#match-status")
    candidates = page.locator("#match-result .candidates .range").all_inner_texts()
    assert candidates == [time_range(c["start_s"], c["end_s"]) for c in expected["candidates"]]
    windows = page.locator("#match-result .sentences .range").all_inner_texts()
    assert windows == [time_range(s["start_s"], s["end_s"]) for s in expected["sentences"]]
    # The answer plays at once, inside its window.
    _wait_playing(page, past_s=expected["start_s"] + 0.1)
    assert expected["start_s"] - 0.05 <= current_time(page) <= expected["end_s"] + 0.05

    page.evaluate("document.getElementById('video').pause()")
    page.wait_for_selector("#curve[data-query]")
    click_curve_at(page, expected["sentences"][0]["start_s"] + 1.0)
    _wait_seeked(page)
    screenshot(page, "match")


def test_align_view_from_an_uploaded_transcript(page: Page, library: Path, tmp_path: Path) -> None:
    video = library / "kitchen.mp4"
    transcript = tmp_path / "transcript.txt"
    transcript.write_text(TRANSCRIPT)
    *expected, summary = cli_lines("align", str(video), "--transcript", str(transcript))
    assert "summary" in summary
    page.click("#tab-video")
    page.get_by_role("radio", name="kitchen.mp4").check()
    page.click("#tab-align")
    page.set_input_files("#align-file", str(transcript))
    page.wait_for_function("document.getElementById('align-text').value.includes('a green cross')")
    page.click("#align-form button[type=submit]")
    page.wait_for_selector("#align-result .segment")

    segments = page.locator("#align-result .segment")
    assert segments.count() == len(expected)
    ranges = page.locator("#align-result .sentences .range").all_inner_texts()
    assert ranges == [time_range(r["start_s"], r["end_s"]) for r in expected]
    # A click on a sentence plays its segment.
    second = expected[1]
    page.locator("#align-result .sentences .moment").nth(1).click()
    _wait_playing(page, past_s=second["start_s"] + 0.1)
    assert second["start_s"] - 0.05 <= current_time(page) <= second["end_s"] + 0.05

    page.evaluate("document.getElementById('video').pause()")
    page.wait_for_selector("#curve[data-query]")
    click_curve_at(page, (second["start_s"] + second["end_s"]) / 2)
    _wait_seeked(page)
    screenshot(page, "align")


def test_search_lists_the_videos_it_left_out(page: Page, library: Path) -> None:
    # garden (12 s) and street (10 s) are shorter than the shortest window asked for.
    page.fill("#search-text", "a red circle")
    page.click("#search-form summary")
    page.fill("#search-form input[name=min_len]", "12.5")
    page.press("#search-text", "Enter")
    page.click("#search-warnings summary")
    left_out = page.locator("#search-warnings li").all_inner_texts()
    assert sorted(Path(w.split(" ")[0]).name for w in left_out) == ["garden.mp4", "street.mp4"]
    assert all("shorter than" in w for w in left_out)
    names = page.locator(".card .card-name").all_inner_texts()
    assert names and set(names) == {"kitchen.mp4"}


def test_an_api_error_is_shown_in_the_page(page: Page) -> None:
    page.click("#tab-video")
    page.get_by_role("radio", name="street.mp4").check()
    page.fill("#match-text", "a red circle")
    page.click("#panel-match summary")
    page.fill("#panel-match input[name=min_len]", "100")
    page.click("#match-form button[type=submit]")
    page.wait_for_selector("#error:not([hidden])")
    assert "shorter than" in page.inner_text("#error-text")
    page.click("#error-close")
    assert page.locator("#error").is_hidden()
    # The page still works after the error.
    page.fill("#panel-match input[name=min_len]", "")
    page.click("#match-form button[type=submit]")
    page.wait_for_selector("#match-result .candidates .moment")


def test_embedding_progress_is_shown_and_the_page_stays_usable(
    browser: Browser, server: str
) -> None:
    # The server's embedding is over in a second here; to watch the page follow a long one, its
    # /api/jobs and /api/videos answers are replaced by those of a server midway (the contract's
    # shapes, with the real ids), until `finished` is set.
    with open_page(browser, server) as first:
        wait_until_embedded(first)  # the real list, with every duration known
    videos = json_get(server + "api/videos")
    busy, queued, done = (v["id"] for v in videos)
    finished = False
    polls: list[float] = []

    def jobs(route: Route) -> None:
        polls.append(time.monotonic())
        states = [
            {
                "video": busy,
                "state": "embedding",
                "frames_done": 10,
                "frames_total": 40,
                "error": None,
            },
            {
                "video": queued,
                "state": "queued",
                "frames_done": 0,
                "frames_total": None,
                "error": None,
            },
            {"video": done, "state": "done", "frames_done": 26, "frames_total": 26, "error": None},
        ]
        if finished:
            states = [{**job, "state": "done"} for job in states]
        route.fulfill(json=states)

    def listed(route: Route) -> None:
        pending = {busy, queued} if not finished else set()
        route.fulfill(json=[{**v, "embedded": v["id"] not in pending} for v in videos])

    def fake_midway(page: Page) -> None:
        page.route("**/api/jobs", jobs)
        page.route("**/api/videos", listed)

    with open_page(browser, server, fake_midway) as page:
        page.wait_for_selector("#jobs:not([hidden])")
        assert "1 of 3 done" in page.inner_text("#jobs-title")
        rows = page.locator("#jobs-list li")
        assert rows.count() == 2  # the videos not done yet
        progress = rows.first.locator("progress")
        assert (progress.get_attribute("value"), progress.get_attribute("max")) == ("10", "40")
        assert "10 / 40 frames" in rows.first.inner_text()
        assert "queued" in rows.nth(1).inner_text()
        assert page.inner_text("#library-summary") == "3 videos · 1 embedded"
        badges = page.locator("#video-list .badge").all_inner_texts()
        assert sorted(badges) == ["embedded", "embedding 25%", "queued"]

        # Meanwhile the page answers questions.
        page.fill("#search-text", "a red circle")
        page.press("#search-text", "Enter")
        page.wait_for_selector(".card")
        assert "2 videos still embedding" in page.inner_text("#search-status")

        finished = True
        page.wait_for_selector("#jobs", state="hidden")
        wait_until_embedded(page)
        assert page.inner_text("#library-summary") == "3 videos"
        # Nothing left to follow: the polling stops.
        seen = len(polls)
        page.wait_for_timeout(2500)
        assert len(polls) == seen


def test_a_server_with_a_token_is_used_through_the_link_it_prints(
    browser: Browser, library: Path, serve_dir: Path
) -> None:
    token = "a-token-for-the-test"
    with running_server(library, serve_dir, "--token", token, token=token) as base:
        with open_page(browser, f"{base}?token={token}") as page:
            wait_until_embedded(page)
            page.fill("#search-text", "a red circle")
            page.press("#search-text", "Enter")
            page.wait_for_selector(".card")
            _wait_for_thumbnails(page)
            page.locator(".card").first.click()
            _wait_playing(page, past_s=0.1)
            page.wait_for_selector("#curve[data-query]")
        # Without it, nothing is served, the page included.
        context = browser.new_context()
        try:
            response = context.new_page().goto(base)
            assert response is not None and response.status == 401
        finally:
            context.close()


# ---------------------------------------------------------------------------- helpers


def clock(seconds: float) -> str:
    """m:ss.s (h:mm:ss.s from an hour) as the page prints it, rounded half up to a tenth first
    as JavaScript's Math.round rounds."""
    tenths = math.floor(max(0.0, seconds) * 10 + 0.5)
    hours, minutes, rest = tenths // 36000, tenths % 36000 // 600, (tenths % 600) / 10
    return f"{hours}:{minutes:02d}:{rest:04.1f}" if hours else f"{minutes}:{rest:04.1f}"


def time_range(start_s: float, end_s: float) -> str:
    return f"{clock(start_s)} – {clock(end_s)}"


def cli_lines(*args: str) -> list[dict]:
    """The JSON lines a CLI command prints, run here with the demo model."""
    result = runner.invoke(app, [*args, *DEMO])
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def cli_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, *DEMO])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def json_get(url: str) -> list[dict]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def current_time(page: Page) -> float:
    return page.evaluate("document.getElementById('video').currentTime")


def curve_x(page: Page, t_s: float) -> float:
    """Where time `t_s` lies on the curve, in CSS pixels from its left edge (its plot's extent
    is published on the canvas)."""
    data = page.eval_on_selector("#curve", "c => ({...c.dataset})")
    left, right, duration = (float(data[k]) for k in ("plotLeft", "plotRight", "duration"))
    return left + t_s / duration * (right - left)


def click_curve_at(page: Page, t_s: float) -> None:
    box = page.locator("#curve").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + curve_x(page, t_s), box["y"] + box["height"] / 2)


def _wait_playing(page: Page, past_s: float) -> None:
    """Until the video plays past `past_s` (so it decodes, and it started where it should)."""
    page.wait_for_function(
        "(v => v.readyState >= 2 && !v.paused && v.currentTime >= "
        f"{past_s})(document.getElementById('video'))"
    )


def _wait_seeked(page: Page) -> None:
    page.wait_for_function(
        "(v => !v.seeking && v.readyState >= 2)(document.getElementById('video'))"
    )


def screenshot(page: Page, name: str) -> None:
    """Save the view as docs/img/serve-NAME.png, the pointer parked on the header and the
    player's controls settled; the file is left as it is when the page looks the same (chromium's
    rasterisation is not bit-exact from run to run), so that a test run leaves the docs alone."""
    page.mouse.move(5, 5)
    page.wait_for_timeout(600)
    path = SCREENSHOTS / f"serve-{name}.png"
    taken = page.screenshot()
    if not (path.is_file() and _nearly_equal(path.read_bytes(), taken)):
        path.write_bytes(taken)


def _nearly_equal(png_a: bytes, png_b: bytes, tolerance: int = 12) -> bool:
    """Same size, and no pixel differs by more than `tolerance` levels in any channel (the
    run-to-run noise is a few levels on a few dozen pixels; a change to the page is more)."""
    import io

    import numpy as np
    from PIL import Image

    a, b = (np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in (png_a, png_b))
    return a.shape == b.shape and int(np.abs(a.astype(int) - b).max()) <= tolerance


def _wait_for_thumbnails(page: Page) -> None:
    page.wait_for_function(
        "[...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(base: str, process: subprocess.Popen, log: Path, token: str | None) -> None:
    """Until the server answers /api/videos; its log in the failure if it dies or never does."""
    request = urllib.request.Request(base + "api/videos")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"clipground serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"clipground serve did not answer in {SERVER_START_S:.0f} s:\n{log.read_text()}")
