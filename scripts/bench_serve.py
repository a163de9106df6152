"""`clipground serve` against the cold CLI: latency of /api/search and /api/match on a cached library
with the model warm, the `--server` client's wall time, and throughput under concurrent clients.

    python scripts/bench_serve.py [--seconds 600] [--duration 60] [--clients 8] [--requests 30]
        [--cli-runs 3] [--model demo] [--load-refine auto|off] [--skip-latency] [--work DIR]

The library is a generated 10-minute video (bench_pipeline.make_video: 320x180, 10 fps, objects in
segments of 5-40 s) and the sample video, embedded into a cache in --work first (not timed). Then:

`clipground serve LIB` is started (a subprocess on 127.0.0.1); then, with the default refinement
(the 10-minute video gets the dense second pass) and without it (`--no-refine` / `refine=false`):

1. with the refinement only, the server's memo of the second pass's frames, in the order a user
   meets it: the first refined question about the video (nothing remembered: its frames are
   decoded and embedded), the same question again at once (its frames remembered, while the
   background fill of the video's other frames runs), how long the fill takes, then
2. --requests sequential requests of each endpoint, cycling through 5 different questions: the
   server's own time (its Server-Timing header) and the wall time seen by the client (with the
   refinement: the steady state, every frame remembered);
3. the cold CLI (`clipground match VIDEO -t ...`, `clipground search LIB -t ...`, a new process
   each: imports and model load included, the embedding read from the cache), --cli-runs each;
   every question's answer from the server is checked against the CLI's;
4. the `--server` client (`clipground match ... --server URL`, a new process each).

Last, --clients threads ask /api/match and /api/search in turn (--load-refine: with the default
refinement, or without) for --duration seconds: requests per second, errors, and the server's
resident memory, sampled every second (reported every 10 s, and its maximum).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_pipeline import make_video

CLI = [sys.executable, "-m", "clipground"]
QUERIES = ["a red circle", "a blue square", "a green triangle", "a yellow star", "a red square"]


def cli(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall seconds, stdout) of one CLI run in a new process."""
    started = time.perf_counter()
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - started, done.stdout


def get(url: str) -> tuple[float, float, bytes]:
    """(wall ms, server ms, body) of one GET."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as answer:
        body = answer.read()
        timing = answer.headers.get("server-timing", "")
    wall = (time.perf_counter() - started) * 1000
    server = (
        float(re.search(r"dur=([\d.]+)", timing).group(1)) if "dur=" in timing else float("nan")
    )
    return wall, server, body


def start_server(library: Path, model: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`clipground serve` on a free loopback port; its URL once every video is embedded."""
    server = subprocess.Popen(
        [*CLI, "serve", str(library), "--model", model, "--port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert server.stderr is not None
    line = server.stderr.readline()
    found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
    if not found:
        server.kill()
        raise SystemExit(f"the server did not start: {line}")
    threading.Thread(target=lambda: server.stderr.read(), daemon=True).start()  # keep draining
    url = found.group(1)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        jobs = json.loads(get(f"{url}/api/jobs")[2])
        if all(j["state"] in ("done", "failed") for j in jobs):
            return server, url
        time.sleep(0.5)
    raise SystemExit("the server did not finish embedding within 30 minutes")


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def latency(url: str, path: str, params: list[list[tuple[str, str]]], n: int) -> dict[str, float]:
    """Median and p90 of `n` sequential requests (cycling through `params`)."""
    walls, servers = [], []
    for i in range(n):
        wall, server, _ = get(f"{url}{path}?{urllib.parse.urlencode(params[i % len(params)])}")
        walls.append(wall)
        servers.append(server)
    q = statistics.quantiles
    return {
        "server_ms_median": round(statistics.median(servers), 1),
        "server_ms_p90": round(q(servers, n=10)[-1], 1),
        "wall_ms_median": round(statistics.median(walls), 1),
    }


def load(
    url: str, requests: list[str], clients: int, seconds: float, pid: int
) -> dict[str, object]:
    """`clients` threads cycling through `requests` for `seconds`; memory sampled each second."""
    stop = time.monotonic() + seconds
    done, errors, memory = [0] * clients, [0] * clients, []

    def client(k: int) -> None:
        i = k
        while time.monotonic() < stop:
            try:
                get(url + requests[i % len(requests)])
                done[k] += 1
            except Exception:  # noqa: BLE001 (counted, the figure reports them)
                errors[k] += 1
            i += clients

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    while time.monotonic() < stop:
        memory.append(rss_mb(pid))
        time.sleep(1.0)
    for t in threads:
        t.join(timeout=300)
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": sum(done),
        "per_second": round(sum(done) / seconds, 1),
        "errors": sum(errors),
        "rss_mb_every_10s": [round(m) for m in memory[::10]] + [round(memory[-1])],
        "rss_mb_max": round(max(memory)),
    }


def memo_figures(url: str, vid: str) -> tuple[dict[str, object], dict[str, object]]:
    """The memo as a user meets it: the first refined question about the video, the same again,
    and the fill of the rest; (figures, the first answer)."""
    first = urllib.parse.urlencode([("video", vid), ("text", QUERIES[0])])
    _, first_ms, body = get(f"{url}/api/match?{first}")
    _, again_ms, again = get(f"{url}/api/match?{first}")
    assert again == body, "the remembered answer differs from the first"
    started = time.monotonic()
    while (held := memo_entry(url, vid))["fill"] in ("queued", "filling"):
        if time.monotonic() - started > 1800:
            raise SystemExit("the fill did not end within 30 minutes")
        time.sleep(0.2)
    figures = {
        "first_question_ms": round(first_ms, 1),
        "same_question_again_ms": round(again_ms, 1),
        "fill_s_after_it": round(time.monotonic() - started, 1),
        "fill": held["fill"],
        "frames_remembered": held["frames"],
        "memo_mb": round(held["bytes"] / 2**20, 2),
    }
    return figures, json.loads(body)


def memo_entry(url: str, vid: str) -> dict[str, object]:
    """The server's refine memo entry for one video (an empty one before its first question)."""
    held = {v["video"]: v for v in json.loads(get(f"{url}/api/refine-memo")[2])["videos"]}
    return held.get(vid, {"fill": "queued", "frames": 0, "bytes": 0})


def mode_figures(
    url: str,
    video: Path,
    library: Path,
    vid: str,
    refine: bool,
    args: argparse.Namespace,
    env: dict[str, str],
) -> dict[str, object]:
    """Memo (with the refinement), API, cold CLI and `--server` client figures."""
    figures, first = memo_figures(url, vid) if refine else ({}, None)
    extra = [] if refine else [("refine", "false")]
    match_params = [[("video", vid), ("text", q), *extra] for q in QUERIES]
    search_params = [[("text", q), ("top_k", "5"), *extra] for q in QUERIES]
    api_match = latency(url, "/api/match", match_params, args.requests)
    api_search = latency(url, "/api/search", search_params, args.requests)
    model = ["--model", args.model, *([] if refine else ["--no-refine"])]
    match_args = ["match", str(video), "-t", QUERIES[0], *model]
    search_args = ["search", str(library), "-t", QUERIES[0], "--top-k", "5", *model]
    cold_match = [cli(match_args, env) for _ in range(args.cli_runs)]
    cold_search = [cli(search_args, env) for _ in range(args.cli_runs)]
    served = json.loads(get(f"{url}/api/match?{urllib.parse.urlencode(match_params[0])}")[2])
    assert served == json.loads(cold_match[0][1]), "the server's match differs from the CLI's"
    assert first in (None, served), "the first answer differs from the remembered one"
    for q, params in zip(QUERIES[1:], match_params[1:]):
        expected = json.loads(cli([*match_args[:3], q, *model], env)[1])
        assert json.loads(get(f"{url}/api/match?{urllib.parse.urlencode(params)}")[2]) == expected
    hits = json.loads(get(f"{url}/api/search?{urllib.parse.urlencode(search_params[0])}")[2])
    assert hits == [json.loads(x) for x in cold_search[0][1].splitlines()], "search differs"
    client = [cli([*match_args, "--server", url], env)[0] for _ in range(args.cli_runs)]
    cold_s = statistics.median(t for t, _ in cold_match)
    return {
        **figures,
        "api_match": api_match,
        "api_search": api_search,
        "cold_cli_match_s": round(cold_s, 2),
        "cold_cli_search_s": round(statistics.median(t for t, _ in cold_search), 2),
        "match_speedup_vs_cold_cli": round(cold_s * 1000 / api_match["server_ms_median"], 1),
        "server_client_match_s": round(statistics.median(client), 3),
        "server_client_match_s_runs": [round(t, 3) for t in client],
    }


def make_library(args: argparse.Namespace) -> tuple[Path, Path]:
    """The generated long video and the sample, in --work/library."""
    library = args.work / "library"
    library.mkdir(parents=True, exist_ok=True)
    video = library / f"long_{int(args.seconds)}s.mp4"
    make_video(video, args.seconds, (320, 180), 10, seed=5)
    (library / "sample.mp4").write_bytes((ROOT / "sample_data" / "demo.mp4").read_bytes())
    return library, video


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=600.0, help="length of the generated video")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of the concurrent load")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=30, help="sequential requests per endpoint")
    p.add_argument("--cli-runs", type=int, default=3)
    p.add_argument("--model", default="demo")
    p.add_argument(
        "--load-refine", choices=("auto", "off"), default="auto", help="the load's questions"
    )
    p.add_argument("--skip-latency", action="store_true", help="the load alone")
    p.add_argument("--work", type=Path, default=ROOT / "bench_out" / "serve")
    args = p.parse_args()

    library, video = make_library(args)
    env = {**os.environ, "CLIPGROUND_CACHE_DIR": str(args.work / "cache")}
    env.pop("CLIPGROUND_SERVER", None)
    cli(["embed", str(library), "--model", args.model, "--quiet"], env)  # fill the cache, untimed
    server, url = start_server(library, args.model, env)
    try:
        ids = {Path(v["path"]).name: v["id"] for v in json.loads(get(f"{url}/api/videos")[2])}
        vid = ids[video.name]
        figures: dict[str, object] = {"video_s": args.seconds, "model": args.model}
        for name, refine in (("refine_auto", True), ("refine_off", False)):
            if not args.skip_latency:
                figures[name] = mode_figures(url, video, library, vid, refine, args, env)
        extra = "&refine=false" if args.load_refine == "off" else ""
        mix = [f"/api/match?video={vid}&text={urllib.parse.quote(q)}{extra}" for q in QUERIES]
        mix += [f"/api/search?top_k=5&text={urllib.parse.quote(q)}{extra}" for q in QUERIES]
        figures["load_refine"] = args.load_refine
        figures["load"] = load(url, mix, args.clients, args.duration, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
