"""A real `clipground serve` on loopback, and `match|search|align --server URL` printing byte for byte
what the standalone commands print, with the same exit codes, without importing torch, open_clip
or av."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video
from typer.testing import CliRunner

from clipground.cli import app as cli

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "demo.mp4"
MODEL = ("--model", "demo", "--device", "cpu")
runner = CliRunner()


@dataclass(frozen=True)
class Served:
    url: str
    work: Path  # the commands' folder: lib/ is served, narration files beside it
    cache: Path


def solid(rgb: tuple[int, int, int], n: int) -> list[np.ndarray]:
    return [np.full((48, 64, 3), rgb, np.uint8)] * n


def make_library(work: Path) -> None:
    lib = work / "lib"
    (lib / "sub").mkdir(parents=True)
    (lib / "bad").mkdir()
    shutil.copy(SAMPLE, lib / "demo.mp4")
    make_video(lib / "a.mp4", solid((0, 0, 255), 20) + solid((255, 0, 0), 20), fps=10)
    make_video(lib / "sub" / "b.mp4", solid((0, 255, 0), 30) + solid((255, 0, 0), 10), fps=10)
    (lib / "bad" / "broken.mp4").write_bytes(b"not a video at all\n" * 100)
    make_video(work / "outside.mp4", solid((255, 0, 0), 10), fps=10)
    (work / "narration.txt").write_text("A blue square.\nA red circle.\nA green triangle.\n")
    (work / "narration.srt").write_text(
        "1\n00:00:01,000 --> 00:00:05,000\nA blue square.\n\n"
        "2\n00:00:05,000 --> 00:00:12,000\nA red circle.\n"
    )


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)


def wait_for(server: subprocess.Popen, lines: queue.Queue, timeout_s: float) -> str:
    """The server's address from its stderr, once its jobs are all done (bounded waits)."""
    deadline = time.monotonic() + timeout_s
    found = None
    while found is None:
        if server.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the server did not start: {list(lines.queue)}")
        with contextlib.suppress(queue.Empty):
            found = re.search(r"at (http://127\.0\.0\.1:\d+)/", lines.get(timeout=0.5))
    address = found.group(1)
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{address}/api/jobs", timeout=30) as answer:
            if all(j["state"] in ("done", "failed") for j in json.load(answer)):
                return address
        time.sleep(0.2)
    raise AssertionError(f"the server at {address} did not finish embedding in {timeout_s} s")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("served")
    make_library(work)
    cache = work / "cache"
    command = [sys.executable, "-m", "clipground", "serve", "lib", *MODEL, "--port", "0",
               "--cache-dir", str(cache)]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(server.stderr, lines), daemon=True).start()
    try:
        yield Served(wait_for(server, lines, 300), work, cache)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)


def standalone(served: Served, monkeypatch: pytest.MonkeyPatch, args: list[str]):
    """The command run here, in the same folder, reading the cache the server wrote."""
    monkeypatch.chdir(served.work)
    monkeypatch.setenv("CLIPGROUND_CACHE_DIR", str(served.cache))
    return runner.invoke(cli, args)


def remote(served: Served, args: list[str], *extra: str) -> subprocess.CompletedProcess:
    """The command run as a new process with --server (and `extra` python flags)."""
    return subprocess.run(
        [sys.executable, *extra, "-m", "clipground", *args, "--server", served.url],
        cwd=served.work,
        capture_output=True,
        check=False,
        timeout=120,
    )


SAME = [
    ["match", "lib/a.mp4", "-t", "red", *MODEL],
    ["match", "lib/demo.mp4", "-t", "a red circle", "-t", "a blue square", "--top-k", "3", *MODEL],
    [
        "match",
        "./lib/demo.mp4",
        "-t",
        "a red circle",
        "-f",
        "jsonl",
        "--objective",
        "mean",
        "--min-len",
        "2",
        *MODEL,
    ],
    ["match", "lib/demo.mp4", "-t", "a red circle", "-f", "table", *MODEL],
    [
        "match",
        "lib/demo.mp4",
        "--transcript",
        "narration.txt",
        "--span",
        "1:2",
        "--span-mode",
        "mean",
        *MODEL,
    ],
    [
        "search",
        "lib/demo.mp4",
        "lib/sub",
        "./lib/a.mp4",
        "-t",
        "a red circle",
        "--top-k",
        "4",
        *MODEL,
    ],
    ["search", "lib/sub/", "lib/a.mp4", "-t", "a red circle", "--nms-iou", "0.1", *MODEL],
    ["search", "lib/demo.mp4", "lib/sub", "lib/a.mp4", "-t", "a red circle", "--exact", *MODEL],
    ["align", "lib/demo.mp4", "--transcript", "narration.srt", *MODEL],
    [
        "align",
        "lib/demo.mp4",
        "--transcript",
        "narration.txt",
        "--no-gaps",
        "--spans",
        "0:1,2",
        *MODEL,
    ],
]


@pytest.mark.parametrize("args", SAME, ids=[" ".join(a[:6]) for a in SAME])
def test_the_server_prints_what_the_command_prints(served, monkeypatch, args: list[str]) -> None:
    alone = standalone(served, monkeypatch, args)
    asked = remote(served, args)
    assert alone.exit_code == 0, alone.stderr
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout == alone.stdout_bytes and asked.stdout.strip()
    assert asked.stderr == b""


ERRORS = [  # the same exit code and the same one-line error
    (["match", "lib/demo.mp4", "-t", "  ", *MODEL], 2),
    (["match", "lib/demo.mp4", "-t", "x", "--top-k", "0", *MODEL], 2),
    (["match", "lib/demo.mp4", "-t", "x", "--format", "yaml", *MODEL], 2),
    (["match", "lib/demo.mp4", "-t", "x", "--transcript", "narration.txt", *MODEL], 2),
    (["match", "lib/demo.mp4", "--transcript", "narration.txt", "--span", "5:9", *MODEL], 2),
    (["align", "lib/demo.mp4", "--transcript", "nothing.txt", *MODEL], 2),
    (["align", "lib/demo.mp4", "--transcript", "narration.txt", "--spans", "2:1", *MODEL], 2),
    (["match", "lib/bad/broken.mp4", "-t", "x", *MODEL], 3),
]


@pytest.mark.parametrize(("args", "code"), ERRORS, ids=[" ".join(a[:5]) for a, _ in ERRORS])
def test_errors_are_the_command_s(served, monkeypatch, args: list[str], code: int) -> None:
    alone = standalone(served, monkeypatch, args)
    asked = remote(served, args)
    assert (alone.exit_code, asked.returncode) == (code, code), asked.stderr
    assert asked.stdout == b"" and asked.stderr.decode() == alone.stderr
    assert len(asked.stderr.splitlines()) == 1 and asked.stderr.startswith(b"error: ")


def test_a_search_where_a_video_fails_exits_1_with_the_others_answered(served, monkeypatch) -> None:
    args = ["search", "lib/bad", "lib/sub", "-t", "a red circle", *MODEL]
    alone = standalone(served, monkeypatch, args)
    asked = remote(served, args)
    assert (alone.exit_code, asked.returncode) == (1, 1)
    assert asked.stdout == alone.stdout_bytes and b"lib/sub/b.mp4" in asked.stdout
    assert b"warning: " in asked.stderr and b"broken.mp4" in asked.stderr


@pytest.mark.parametrize(
    "video", ["outside.mp4", "lib/missing.mp4", "lib/../outside.mp4", "/etc/passwd"]
)
def test_a_video_outside_the_served_folders_is_refused_as_a_missing_one(served, video: str) -> None:
    asked = remote(served, ["match", video, "-t", "red"])
    assert asked.returncode == 3 and asked.stdout == b""
    assert asked.stderr.decode() == f"error: {video}: no such video among those served here\n"


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--fps", "3"], "--fps"),
        (["--model", "ViT-B-32"], "--model"),
        (["--plot", "x.png"], "--plot"),
        (["--no-cache"], "--no-cache"),
    ],
)
def test_what_the_server_cannot_honour_is_a_usage_error(
    served, flags: list[str], needle: str
) -> None:
    asked = remote(served, ["match", "lib/a.mp4", "-t", "red", *flags])
    assert asked.returncode == 2 and needle in asked.stderr.decode()
    assert len(asked.stderr.splitlines()) == 1


@pytest.mark.parametrize("flags", [["--engine", "ray"], ["--address", "auto"]])
def test_the_engine_is_the_server_s(served, flags: list[str]) -> None:
    asked = remote(served, ["search", "lib/a.mp4", "-t", "red", *flags])
    assert asked.returncode == 2 and flags[0] in asked.stderr.decode()
    assert len(asked.stderr.splitlines()) == 1


def test_no_server_there_is_exit_6(served) -> None:
    asked = subprocess.run(
        [
            sys.executable,
            "-m",
            "clipground",
            "match",
            "lib/a.mp4",
            "-t",
            "red",
            "--server",
            "http://127.0.0.1:9",
        ],
        cwd=served.work,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert asked.returncode == 6 and asked.stderr.startswith(b"error: cannot reach the server")


def test_the_server_from_the_environment(served) -> None:
    asked = subprocess.run(
        [sys.executable, "-m", "clipground", "match", "lib/a.mp4", "-t", "red", "-f", "jsonl"],
        cwd=served.work,
        capture_output=True,
        check=False,
        timeout=60,
        env={**os.environ, "CLIPGROUND_SERVER": served.url},
    )
    assert asked.returncode == 0 and json.loads(asked.stdout)["video"] == "lib/a.mp4"


def test_the_client_imports_neither_torch_nor_open_clip_nor_av(served) -> None:
    asked = remote(served, ["match", "lib/a.mp4", "-t", "red"], "-X", "importtime")
    assert asked.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in asked.stderr.decode().splitlines()}
    heavy = {m for m in imported if m.split(".")[0] in ("torch", "open_clip", "av", "torchvision")}
    assert "clipground.client" in imported and heavy == set()


# ------------------------------------------------------------------ the serve command itself


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.20", False),
        ("example.com", False),
    ],
)
def test_only_loopback_goes_without_a_token(host: str, loopback: bool) -> None:
    from clipground.cli.serve import is_loopback

    assert is_loopback(host) is loopback


def test_a_taken_port_is_a_usage_error(tmp_path: Path) -> None:
    make_video(tmp_path / "a.mp4", solid((255, 0, 0), 10), fps=10)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["serve", str(tmp_path), "--port", str(port), *MODEL])
    assert result.exit_code == 2 and result.stderr.startswith(
        f"error: cannot listen on 127.0.0.1:{port}"
    )


def test_missing_paths_are_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["serve", str(tmp_path / "nothing"), *MODEL])
    assert result.exit_code == 2 and "nothing" in result.stderr


@pytest.fixture
def guarded_url(tmp_path: Path) -> Iterator[str]:
    """A server with a token (uvicorn in a thread, on loopback, the colour encoder)."""
    import uvicorn
    from fakes import ColourEncoder

    from clipground.serve import Library, create_app

    make_video(tmp_path / "a.mp4", solid((0, 0, 255), 20) + solid((255, 0, 0), 20), fps=10)
    app = create_app(Library([str(tmp_path)]), ColourEncoder(), token="s3cret")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        listener.close()


def test_the_client_carries_the_token_from_the_environment(
    guarded_url: str, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "clipground", "match", "a.mp4", "-t", "red", "-f", "jsonl",
               "--server", guarded_url]  # fmt: skip
    without = subprocess.run(command, cwd=tmp_path, capture_output=True, check=False, timeout=60)
    assert without.returncode == 6 and b"wants a token" in without.stderr
    env = {**os.environ, "CLIPGROUND_TOKEN": "s3cret"}
    with_token = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, check=False, timeout=60
    )
    assert with_token.returncode == 0, with_token.stderr
    record = json.loads(with_token.stdout)
    assert (record["video"], record["start_s"], record["end_s"], record["model"]) == (
        "a.mp4",
        2.0,
        4.0,
        "fake-colour",
    )
