"""Benchmark clipground.search: exact vs brute force vs multiscale, and multiscale's hit rate.

Run:  python scripts/bench_search.py            (a few minutes on 2 cores)
      python scripts/bench_search.py --quick    (smaller sample sizes, for a smoke test)

Times are the median of repeated calls in one warm process. Where brute force would take too
long (mean at m = 10^5 with U = m is ~5 * 10^9 windows) it is timed on a contiguous slab of
window lengths and extrapolated by window count; such rows say "extrapolated".
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from clipground.search import Window, best_window, best_windows, choose_method

BRUTE_BUDGET = 10**8  # windows brute force scores for real; beyond it, a slab is extrapolated
HIT_TOL = 1e-9  # multiscale "hits" when its score is within this of the exact optimum


def realistic(m: int, min_len: int, max_len: int, rng: np.random.Generator) -> np.ndarray:
    """CLIP-like similarities: AR(1) noise and drift, planted segments, narrow peaks."""
    rho, sigma = rng.uniform(0.5, 0.95), rng.uniform(0.01, 0.03)
    kernel = rho ** np.arange(int(np.ceil(np.log(1e-3) / np.log(rho))))
    noise = np.convolve(rng.normal(0, sigma * np.sqrt(1 - rho**2), m), kernel)[:m]
    drift = np.interp(np.arange(m), np.linspace(0, m, 8), rng.normal(0, 0.01, 8))
    s = 0.2 + noise + drift
    longest = max(min_len, min(max_len, m // 4))
    for _ in range(rng.integers(1, 5)):  # segments of many lengths, min_len .. m/4
        n = int(np.exp(rng.uniform(np.log(min_len), np.log(longest + 1))))
        start = int(rng.integers(0, m - n + 1))
        s[start : start + n] += rng.uniform(0.01, 0.08)
    for _ in range(rng.integers(0, 4)):  # narrow peaks, most shorter than min_len
        n = int(rng.integers(1, max(2, min_len)))
        start = int(rng.integers(0, m - n + 1))
        s[start : start + n] += rng.uniform(0.03, 0.15)
    return s


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median seconds of `repeats` calls (after one warm-up call), and the last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def windows_between(m: int, lo: int, hi: int) -> int:
    """Number of windows with lo..hi samples in a sequence of m."""
    return sum(m - n + 1 for n in range(lo, hi + 1))


def brute_seconds(s: np.ndarray, lo: int, hi: int, objective: str) -> tuple[float, str]:
    """Brute-force time: measured if it fits BRUTE_BUDGET, else extrapolated from a slab."""
    m = s.size
    total = windows_between(m, lo, hi)
    if total <= BRUTE_BUDGET:
        seconds, _ = timed(lambda: best_window(s, min_len=lo, max_len=hi, objective=objective,
                                               method="brute"), 1)
        return seconds, "measured"
    slab_hi = lo
    while windows_between(m, lo, slab_hi) < BRUTE_BUDGET // 20 and slab_hi < hi:
        slab_hi += max(1, (hi - lo) // 1000)
    slab = windows_between(m, lo, slab_hi)
    seconds, _ = timed(lambda: best_window(s, min_len=lo, max_len=slab_hi, objective=objective,
                                           method="brute"), 1)
    note = f"extrapolated x{total / slab:.0f} from lengths {lo}..{slab_hi}"
    return seconds * total / slab, note


def bench_mean(rng: np.random.Generator, sizes: list[int], min_len: int) -> None:
    print(f"\n## mean, exact vs brute force (min_len L = {min_len}; median of repeats)")
    print(f"{'m':>9} {'U':>9} {'exact':>10} {'brute':>11} {'ratio':>9}  brute timing")
    for m in sizes:
        s = realistic(m, min_len, m, rng)
        for max_len in (m, 1000):
            exact, _ = timed(partial(best_window, s, min_len=min_len, max_len=max_len,
                                     objective="mean"), 5)
            if m >= 10**6:
                print(f"{m:>9} {max_len:>9} {exact * 1e3:>8.1f}ms {'-':>11} {'-':>9}  "
                      "exact only")
                continue
            brute, note = brute_seconds(s, min_len, max_len, "mean")
            print(f"{m:>9} {max_len:>9} {exact * 1e3:>8.1f}ms {brute:>10.2f}s "
                  f"{brute / exact:>8.0f}x  {note}")


def bench_contrast(rng: np.random.Generator, sizes: list[int], count: int) -> None:
    print(f"\n## contrast, exact vs multiscale (median over {count} realistic sequences each)")
    print(f"{'m':>9} {'L':>6} {'U':>9} {'exact':>10} {'multiscale':>11} {'ratio':>7} "
          f"{'hits':>6} {'brute (est.)':>13}")
    for m in sizes:
        for min_len, max_len in ((m // 1000, m // 4), (m // 1000, m), (m // 100, m)):
            rows = [contrast_row(realistic(m, min_len, max_len, rng), min_len, max_len)
                    for _ in range(count)]
            exact = statistics.median(r[0] for r in rows)
            multi = statistics.median(r[1] for r in rows)
            hits = sum(r[2] for r in rows)
            brute, _ = brute_seconds(realistic(m, min_len, max_len, rng), min_len, max_len,
                                     "contrast")
            print(f"{m:>9} {min_len:>6} {max_len:>9} {exact * 1e3:>8.1f}ms "
                  f"{multi * 1e3:>9.1f}ms {exact / multi:>6.1f}x {hits:>3}/{count} "
                  f"{brute:>12.1f}s")


def contrast_row(s: np.ndarray, min_len: int, max_len: int) -> tuple[float, float, bool]:
    exact, a = timed(lambda: best_window(s, min_len=min_len, max_len=max_len, objective="contrast"), 2)
    multi, b = timed(lambda: best_window(s, min_len=min_len, max_len=max_len, objective="contrast",
                                         method="multiscale"), 2)
    return exact, multi, abs(a.score - b.score) <= HIT_TOL


@dataclass
class Miss:
    """One multiscale miss, for the failure breakdown."""

    min_len: int
    max_len: int
    exact: Window
    multiscale: Window


def bench_hit_rate(rng: np.random.Generator, m: int, count: int, objective: str) -> None:
    print(f"\n## multiscale exact-hit rate, {objective}: {count} realistic sequences, m = {m}")
    print("   L drawn from m/2000 .. m/100, U from m/20, m/4, m; noise, drift, planted")
    print("   segments L .. m/4 long, narrow peaks; a hit is a score within 1e-9 of exact")
    hits, t_exact, t_multi, misses, by_case = 0, 0.0, 0.0, [], Counter()
    for _ in range(count):
        min_len = int(rng.choice([max(1, m // 2000), m // 1000, m // 500, m // 200, m // 100]))
        max_len = int(rng.choice([m // 20, m // 4, m]))
        s = realistic(m, min_len, max_len, rng)
        kwargs = {"min_len": min_len, "max_len": max_len, "objective": objective}
        start = time.perf_counter()
        a = best_window(s, **kwargs)
        t_exact += time.perf_counter() - start
        start = time.perf_counter()
        b = best_window(s, **kwargs, method="multiscale")
        t_multi += time.perf_counter() - start
        hit = abs(a.score - b.score) <= HIT_TOL
        hits += hit
        by_case[(min_len, max_len, hit)] += 1
        if not hit:
            misses.append(Miss(min_len, max_len, a, b))
    print(f"   hits {hits}/{count} = {hits / count:.1%}; total time exact {t_exact:.1f}s, "
          f"multiscale {t_multi:.2f}s: multiscale {t_exact / t_multi:.1f}x faster")
    report_misses(misses, by_case)


def report_misses(misses: list[Miss], by_case: Counter) -> None:
    if not misses:
        return
    cases = sorted({(x.min_len, x.max_len) for x in misses})
    print("   misses by (L, U): " + ", ".join(
        f"({lo},{hi}): {by_case[lo, hi, False]}/{by_case[lo, hi, False] + by_case[lo, hi, True]}"
        for lo, hi in cases))
    gaps = sorted((x.exact.score - x.multiscale.score) / abs(x.exact.score) for x in misses)
    print(f"   relative score gap of misses: median {statistics.median(gaps):.1e}, "
          f"max {gaps[-1]:.1e}")
    for x in misses[:8]:
        where = "near-whole" if x.exact.length > 0.9 * (x.exact.end_sample + 1) else "local"
        print(f"   L={x.min_len} U={x.max_len} exact {x.exact} multiscale {x.multiscale} "
              f"[{where}]")


def bench_top_k(rng: np.random.Generator, m: int) -> None:
    print(f"\n## top-5 (nms_iou 0.3), m = {m}, contrast")
    for min_len, max_len in ((m // 1000, m // 4), (m // 100, m)):
        s = realistic(m, min_len, max_len, rng)
        for method in ("exact", "multiscale"):
            seconds, found = timed(partial(best_windows, s, min_len=min_len, max_len=max_len,
                                           objective="contrast", top_k=5, method=method), 2)
            print(f"   L={min_len} U={max_len} {method:>10}: {seconds * 1e3:7.1f}ms  "
                  + " ".join(f"[{w.start_sample},{w.end_sample}]={w.score:.4f}" for w in found))


def bench_pipeline_top_k(rng: np.random.Generator, sizes: list[int]) -> None:
    """What `ground` asks for after embedding a video: its 5 candidates (NMS 0.3, which also drops
    windows mostly inside a chosen one), lengths 1 sample to half the video (the default
    --max-fraction); and 20, what it asked for when nested windows were dropped after the search
    (5 candidates x a pool of 4)."""
    print("\n## top-5 and top-20 (nms_iou 0.3), L = 1, U = m/2: one `ground` search of an m-sample video")
    for m in sizes:
        s = realistic(m, 1, m // 2, rng)
        for objective in ("balanced", "contrast", "mean"):
            times = [timed(partial(best_windows, s, min_len=1, max_len=m // 2, objective=objective,
                                   top_k=k, nms_iou=0.3), 5)[0] for k in (5, 20)]
            print(f"   m={m} {objective:>8}: top-5 {times[0] * 1e3:7.1f}ms, top-20 {times[1] * 1e3:7.1f}ms")


def bench_choice(sizes: list[int]) -> None:
    print("\n## choose_method(m, min_len=m/1000, objective)")
    for m in sizes:
        picks = [f"{objective}: {choose_method(m, min_len=m // 1000, objective=objective)}"
                 for objective in ("balanced", "contrast", "mean")]
        print(f"   m={m}: " + "; ".join(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples, for a smoke test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# bench_search: numpy {np.__version__}, {os.cpu_count()} CPUs, load average {load}")
    big = 10**4 if args.quick else 10**5
    bench_mean(rng, [10**4, big] if args.quick else [10**4, 10**5, 10**6], min_len=100)
    bench_contrast(rng, [10**4, big], count=3 if args.quick else 10)
    bench_top_k(rng, big)
    bench_pipeline_top_k(rng, [600, 3600] if args.quick else [600, 3600, 7200])
    for objective in ("contrast", "balanced"):
        bench_hit_rate(rng, big, 50 if args.quick else (1000 if objective == "contrast" else 100), objective)
        if not args.quick:
            bench_hit_rate(rng, 10**6, 20 if objective == "contrast" else 10, objective)
    bench_hit_rate(rng, 10**4, 20 if args.quick else 200, "mean")
    bench_choice([10**4, 10**5, 10**6])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\ntotal bench time {time.perf_counter() - started:.0f}s (load average now {load})")


if __name__ == "__main__":
    main()
