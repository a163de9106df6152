"""Prove a refactor kept the CLI's output: run every command on fixed inputs, compare two runs.

    python scripts/compare_cli_outputs.py run --source /tmp/cg_base --out /tmp/cg_ref   # before
    python scripts/compare_cli_outputs.py run --source /work/main --out /tmp/cg_new     # after
    python scripts/compare_cli_outputs.py diff /tmp/cg_ref /tmp/cg_new   # exit 1 on any difference

`run` executes `python -m clipground ... --model demo` with PYTHONPATH=SOURCE (it stops unless
`clipground.__file__` lies under SOURCE) on SOURCE/sample_data/demo.mp4 (a transcript is made from
demo.json) and on a 3-video benchmark that SOURCE/scripts/make_benchmark.py writes into OUT/bench
(kept between runs; `--bench DIR` uses another). Commands run in a temporary folder on relative
paths; each chain of them gets a fresh CLIPGROUND_CACHE_DIR; `--jobs` chains run at once. OUT gets
per command NAME.out (stdout), NAME.rc (exit code), NAME.err (error cases: stderr's first line;
progress is not compared), NAME.files (plots and clips written: names and sizes, not bytes) and
NAME.written (a file written, e.g. batch -o); logs/NAME.stderr is not compared. Replaced, as they
differ legitimately: the temporary folder, SOURCE and OUT paths (<WORK>, <SOURCE>, <OUT>),
timings (`seconds` of embed/batch lines; `oldest_s`, `newest_s` of cache info), cache info's
`bytes` (its file memos hold inode and mtime stamps) and cache entry names (the key covers the
demo weights' mtime, which differs between checkouts).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

DEMO, BENCH, TR = "demo.mp4", "bench/videos", "demo.txt"
M = ["--model", "demo"]
VOLATILE = re.compile(r'("(?:seconds|oldest_s|newest_s|bytes)":\s*)-?\d[\d.eE+-]*')
CACHE_KEY = re.compile(r"\b[0-9a-f]{2}/[0-9a-f]{64}\.npz")  # the key covers the weights' mtime


@dataclass(frozen=True)
class Case:
    """One CLI invocation: its arguments after `python -m clipground`, and what to record."""

    name: str
    args: list[str]
    error: bool = False  # record stderr's first line
    files: str | None = None  # folder (relative to the work folder) whose files are listed
    written: str | None = None  # text file the command writes, compared by content


def _art(name: str, *args: str) -> Case:
    """A case writing a plot and/or clips into art/NAME (listed in NAME.files)."""
    return Case(name, [a.replace("@", f"art/{name}") for a in args], files=f"art/{name}")


def _match(name: str, *args: str, error: bool = False) -> Case:
    """`match` on the sample video."""
    return Case(name, ["match", DEMO, *args, *M], error=error)


RED = ["-t", "a red circle"]
CHAINS: dict[str, list[Case]] = {  # chains run in parallel; a chain's cases in order, one cache
    "cache": [  # match fills a fresh cache, embed reads it, clear empties it
        _match("match_default", *RED),
        Case("cache_info_after_match", ["cache", "info"], files="caches/cache/embeddings-v1"),
        Case("embed_demo_cached", ["embed", DEMO, *M]),
        Case("cache_clear", ["cache", "clear"]),
        Case("cache_info_after_clear", ["cache", "info"]),
    ],
    "bench": [  # embed the benchmark, then search and batch it from the cache
        Case("embed_bench", ["embed", BENCH, *M]),
        Case("search_bench", ["search", BENCH, *RED, "--top-k", "4", *M]),
        Case("batch_bench_text_queries", ["batch", BENCH, "--queries", "queries.txt", *M]),
        Case("batch_jsonl_queries_output_file", ["batch", BENCH, "--queries", "queries.jsonl",
                                                 "--top-k", "2", "-o", "batch.jsonl", *M],
             written="batch.jsonl"),
    ],
}
CASES = [
    _match("match_span_ordered_jsonl", *RED, "-t", "a blue square", "-f", "jsonl"),
    _match("match_span_mean", *RED, "-t", "a blue square", "--span-mode", "mean"),
    _match("match_top_k_10_contrast", *RED, "--top-k", "10", "--objective", "contrast"),
    _match("match_objective_mean_table", *RED, "--objective", "mean", "-f", "table"),
    _match("match_refine", *RED, "--refine"),
    _match("match_transcript_span_brute", "--transcript", TR, "--span", "1:2", "--method",
           "brute", "--min-len", "2", "--max-len", "8"),
    _art("match_plot_export", "match", DEMO, "-t", "a green cross", "--plot", "@/curve.png",
         "--export", "@/clips", *M),
    Case("align_default", ["align", DEMO, "--transcript", TR, *M]),
    _art("align_spans_no_gaps_plot_export", "align", DEMO, "--transcript", TR, "--spans",
         "0:1,2,3", "--no-gaps", "--plot", "@/align.png", "--export", "@/clips", *M),
    Case("eval_bench_details", ["eval", "bench/annotations.jsonl", "--videos", BENCH,
                                "--details", *M]),
    Case("err_missing_video", ["match", "missing.mp4", "-t", "x", *M], error=True),
    Case("err_not_a_video", ["match", TR, "-t", "x", *M], error=True),
    _match("err_bad_objective", "-t", "x", "--objective", "nope", error=True),
    _match("err_bad_span", "--transcript", TR, "--span", "4:1", error=True),
    _match("err_empty_text", "-t", " ", error=True),
    _match("err_plot_folder_missing", *RED, "--plot", "no/such.png", error=True),
]
CHAINS.update({c.name: [c] for c in CASES})
CHAINS["help"] = [Case("version", ["--version"])] + [
    Case("_".join(["help", *c]), [*c, "--help"]) for c in (
        [], ["match"], ["align"], ["embed"], ["batch"], ["search"], ["eval"], ["cache", "info"],
        ["cache", "clear"])]


class Runner:
    """Runs the cases of one `run`: inputs in a temporary folder, outputs into `out`."""

    def __init__(self, source: Path, out: Path, work: Path) -> None:
        self.source, self.out, self.work = source, out, work
        subs = {str(work): "<WORK>", os.path.realpath(work): "<WORK>", str(source): "<SOURCE>",
                str(out): "<OUT>"}
        self.subs = sorted(subs.items(), key=lambda kv: -len(kv[0]))

    def env(self, cache: Path) -> dict[str, str]:
        """The environment of every command: SOURCE first on the path, its own cache folder."""
        return {**os.environ, "PYTHONPATH": str(self.source), "CLIPGROUND_CACHE_DIR": str(cache),
                "COLUMNS": "120", "TERM": "dumb"}

    def normalise(self, text: str) -> str:
        """Placeholders for temporary paths and timings."""
        for old, new in self.subs:
            text = text.replace(old, new)
        return VOLATILE.sub(r'\1"<volatile>"', text)

    def check_import(self) -> None:
        """Stop unless `python -m clipground` here would import the package under SOURCE."""
        code = "import clipground, clipground.cli; print(clipground.__file__)"
        got = subprocess.run([sys.executable, "-c", code], check=False, cwd=self.work, text=True,
                             capture_output=True, env=self.env(self.work / "caches" / "check"))
        path = Path(got.stdout.strip()).resolve()
        if got.returncode != 0 or not path.is_relative_to(self.source / "clipground"):
            sys.exit(f"clipground imports from {path or got.stderr}, not {self.source}; stopping")
        print(f"clipground imported from {path}", flush=True)

    def chain(self, name: str, cases: list[Case]) -> None:
        """Run one chain's cases in order, sharing a fresh cache folder."""
        cache = self.work / "caches" / name
        for case in cases:
            started = time.perf_counter()
            if case.files is not None and case.files.startswith("art/"):
                (self.work / case.files).mkdir(parents=True)
            p = subprocess.run([sys.executable, "-m", "clipground", *case.args], check=False,
                               cwd=self.work, capture_output=True, text=True, env=self.env(cache))
            base = self.out / case.name
            base.with_suffix(".out").write_text(self.normalise(p.stdout))
            base.with_suffix(".rc").write_text(f"{p.returncode}\n")
            (self.out / "logs" / f"{case.name}.stderr").write_text(self.normalise(p.stderr))
            if case.error:
                first = (p.stderr.splitlines() or [""])[0]
                base.with_suffix(".err").write_text(self.normalise(first) + "\n")
            if case.files is not None:
                base.with_suffix(".files").write_text(list_files(self.work / case.files))
            if case.written is not None:
                target = self.work / case.written
                text = target.read_text() if target.exists() else "<not written>\n"
                base.with_suffix(".written").write_text(self.normalise(text))
            print(f"{case.name}: exit {p.returncode}, {time.perf_counter() - started:.1f} s",
                  flush=True)


def list_files(root: Path) -> str:
    """`relative/path size` per file under root, sorted (a plot's or clip's bytes may vary)."""
    if not root.exists():
        return "<missing>\n"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return CACHE_KEY.sub("<key>.npz", "".join(f"{p.relative_to(root)} {p.stat().st_size}\n"
                                               for p in files))


def make_inputs(source: Path, out: Path, bench: Path | None, work: Path) -> None:
    """The sample video and its transcript, the benchmark and the queries files, in `work`."""
    shutil.copy(source / "sample_data" / "demo.mp4", work / DEMO)
    segments = json.loads((source / "sample_data" / "demo.json").read_text())
    (work / TR).write_text("".join(f"{s['caption']}\n" for s in segments if s["caption"]))
    if bench is None:
        bench = out / "bench"
        if not (bench / "annotations.jsonl").exists():
            print(f"writing the benchmark into {bench}", flush=True)
            subprocess.run([sys.executable, str(source / "scripts" / "make_benchmark.py"),
                            str(bench), "--num-videos", "3", "--workers", "2"], check=True,
                           env={**os.environ, "PYTHONPATH": str(source)}, stdout=subprocess.DEVNULL)
    for item in ("videos", "annotations.jsonl", "charades.txt"):
        copy = shutil.copytree if (bench / item).is_dir() else shutil.copy
        copy(bench / item, work / "bench" / item)
    digests = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(work / 'bench')}\n"
               for p in sorted((work / "bench").rglob("*")) if p.is_file()]
    (out / "bench.sha256").write_text("".join(digests))
    (work / "queries.txt").write_text("a red circle\nthe green cross\na yellow circle.\n")
    (work / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in (
        {"id": "span", "query": ["there is a yellow cross", "then a cyan triangle."]},
        {"id": "one", "query": "a blue square moving around", "video": f"{BENCH}/v000.mp4"},
        {"id": "gone", "query": "a red circle", "video": "missing.mp4"})))


def run(source: Path, out: Path, bench: Path | None, jobs: int) -> int:
    """Write every case's outputs into `out` (emptied first, except its bench/)."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    if {p.name for p in out.iterdir()} - {"bench"} and not (out / "bench.sha256").exists():
        sys.exit(f"{out} holds files that are not a previous run's; choose another --out")
    for p in out.iterdir():
        if p.name != "bench":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    (out / "logs").mkdir()
    with tempfile.TemporaryDirectory(prefix="cg-compare-") as tmp:
        work = Path(tmp)
        (work / "bench").mkdir()
        make_inputs(source, out, bench, work)
        runner = Runner(source, out, work)
        runner.check_import()
        order = sorted(CHAINS.items(), key=lambda kv: kv[0] not in ("cache", "bench"))
        with ThreadPoolExecutor(jobs) as pool:
            for future in [pool.submit(runner.chain, n, cs) for n, cs in order]:
                future.result()
    print(f"{sum(map(len, CHAINS.values()))} commands in {time.perf_counter() - started:.0f} s;"
          f" outputs in {out}")
    return 0


def diff(a: Path, b: Path, context: int = 40) -> int:
    """Compare two `run` folders file by file (logs/ and bench/ aside); 1 if any differs."""
    names = sorted({p.name for d in (a, b) for p in d.iterdir() if p.is_file()})
    by_case: dict[str, list[str]] = {}
    for name in names:
        by_case.setdefault(name.rsplit(".", 1)[0], []).append(name)
    different = 0
    for case, files in by_case.items():
        lines: list[str] = []
        for name in files:
            if not (a / name).exists() or not (b / name).exists():
                lines.append(f"  {name}: only in {b if not (a / name).exists() else a}")
                continue
            old, new = (a / name).read_text(), (b / name).read_text()
            if old != new:
                delta = list(difflib.unified_diff(old.splitlines(), new.splitlines(),
                                                  str(a / name), str(b / name), lineterm=""))
                lines += [f"  {d}" for d in delta[:context]]
                lines += [f"  ... {len(delta) - context} more lines"] if len(delta) > context else []
        different += bool(lines)
        print(f"{case}: {'DIFFERENT' if lines else 'same'}", *lines, sep="\n")
    print(f"{len(by_case) - different} same, {different} different")
    return 1 if different else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run `run` or `diff`."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run every command, saving outputs into --out")
    r.add_argument("--source", type=Path, required=True, help="tree holding clipground/")
    r.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    r.add_argument("--bench", type=Path, help="an existing benchmark (default: OUT/bench)")
    r.add_argument("--jobs", type=int, default=2, help="chains of commands run at once")
    d = sub.add_parser("diff", help="compare two --out folders")
    d.add_argument("a", type=Path)
    d.add_argument("b", type=Path)
    args = p.parse_args(argv)
    if args.command == "diff":
        return diff(args.a, args.b)
    bench = args.bench.resolve() if args.bench else None
    return run(args.source.resolve(), args.out.resolve(), bench, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
