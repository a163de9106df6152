"""Benchmark index-backed library search against the exact scan on a synthetic archive.

The library is frame embeddings, as the cache holds them (no video is decoded), generated one
video at a time from its own seed, so that any size fits in memory: only the index and one video
are held. A frame is a D-dimensional unit vector made of a component all frames share (CLIP
embeddings of one archive are alike: cosine about 0.5), one per video (its topic) and one that
wanders in time (an AR(1) walk, restarted at shot cuts every 5 s on average: neighbouring samples
at 2/s have cosine about 0.96, samples a minute apart about 0.65). Each query stands for a visual
concept (a random direction g). It is planted in 14 videos: a moment of 4-30 s whose frames are
pulled towards g, from clearly to faintly (the ground truth). In 10 other videos g is there
throughout, faintly (videos about the topic: they contrast little). The text embedding is mostly a
direction of its own that no frame has (CLIP's modality gap) plus some g: a frame that shows the
concept scores 0.1-0.25 above the others, whose similarities spread about 0.04.

Videos last 30 s to 30 min (log-normal, median 3 min). `--vectors` counts indexed vectors: with
2-s segments at 2 frames/s the library has four times as many frame embeddings.

One pass over the library builds the index (trained on the first vectors, then added in chunks)
and runs the exact scan (`batch.LibrarySearch` over every video: today's `search`) for the scanned
queries. Then, per query, the index-backed search: stage 1 (`LibraryIndex.shortlist`) and stage 2
(`LibrarySearch` over the shortlisted videos). Times count the searches only: generating a video
is not timed; refinement (which decodes video) is left out of both. Reading the cache, which the
scan does for every video and the index-backed search for the shortlisted ones, is counted only
with `--cache-dir`: every video is then written there as a real cache entry (2 KiB a frame) and
the reads are timed apart (`speedup_with_cache_reads_*`).

Figures: recall (the share of the scan's top-k windows that the index-backed top-k holds: same
video, IoU >= 0.5; the share of queries that hold all of them; how many of the scan's windows are
in videos stage 1 did not shortlist), stage-1 latency per query (one
query at a time, over `--latency-queries` queries), the end-to-end speed-up over the scan per
query, and the index's bytes per indexed vector (faiss's serialised size, as stored, and the exact
vectors' bytes on disk beside product codes); then the seconds `index update` spends on the index
itself to add 3 videos and drop one. Each index is written as `index build` writes it and read back
before it is searched, so a product-coded one ranks its candidates by exact vectors memory-mapped
from disk (`--candidates-per-hit`, 0 to compare with the codes' own ranking).
End to end on real files, through the CLI: scripts/bench_library_e2e.py.

Run:  python scripts/bench_library.py            (1M indexed vectors, 4M frames; about 5 min)
      python scripts/bench_library.py --cache-dir /tmp/bench-cache   (the same, the cache's reads
                                        counted: writes 8 GB there; remove it afterwards)
      python scripts/bench_library.py --vectors 50000 --queries 20 --compare   (about 4 min:
                                        what to index: segment length, raw vs centred vectors,
                                        index type; one pass, one scan shared)
      python scripts/bench_library.py --vectors 10000000 --queries 5   (about 30 min, most of
                                        it generating, scanning and indexing 40M frames)
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from clipground.batch import Hit, LibrarySearch
from clipground.cache import EmbeddingCache
from clipground.index import (
    IndexStore,
    LibraryIndex,
    Pooled,
    SegmentVectors,
    require_faiss,
    segment_vectors,
)
from clipground.index import library as index_library
from clipground.index.exact import DTYPE as EXACT_DTYPE
from clipground.index.exact import ExactRows
from clipground.index.segments import segment_means
from clipground.index.vectors import choose_factory, compressed, lists_for, train_size
from clipground.numeric import temporal_iou
from clipground.options import GroundOptions
from clipground.types import DecodeSummary, VideoEmbedding

FPS = 2.0
NATIVE_FPS = 30.0
SHOT_S = 5.0  # mean shot length
RHO = 0.97  # AR(1) step correlation between neighbouring samples within a shot
SHARE = {"common": 0.5, "topic": 0.2, "time": 0.3}  # variance of each component of a frame
GAP = 0.7  # weight of the text-only direction in a query (the rest is its concept)
PLANTED, TOPICAL = 14, 10  # videos per query with a moment of it, and about it throughout
CHUNK = 1 << 16  # vectors added to faiss at once


@dataclass(frozen=True)
class Plant:
    """A concept pulled into frames first..last of a video, with this strength."""

    concept: int
    first: int
    last: int
    strength: float


@dataclass
class Archive:
    """The synthetic library: video lengths, shared directions, where the queries are planted."""

    dim: int
    seed: int
    lengths: np.ndarray  # (V,) samples per video
    common: np.ndarray  # (D,)
    concepts: np.ndarray  # (Q, D)
    texts: np.ndarray  # (Q, D) float32: the query embeddings
    gap: np.ndarray  # (D,) the text side of the modality gap
    plants: dict[int, list[Plant]] = field(default_factory=dict)

    def video(self, v: int) -> np.ndarray:
        """Video `v`'s frame embeddings (n, D) float32, the same on every call."""
        rng = np.random.default_rng([self.seed, v])
        n = int(self.lengths[v])
        topic = _unit(rng.standard_normal(self.dim))
        noise = rng.standard_normal((n, self.dim)) / math.sqrt(self.dim)
        cuts = rng.random(n) < 1 / (SHOT_S * FPS)
        walk, z, step = np.empty((n, self.dim)), noise[0], math.sqrt(1 - RHO**2)
        for t in range(n):  # AR(1) with unit stationary variance, restarted at shot cuts
            z = noise[t] if t == 0 or cuts[t] else RHO * z + step * noise[t]
            walk[t] = z
        frames = _unit(
            math.sqrt(SHARE["common"]) * self.common
            + math.sqrt(SHARE["topic"]) * topic
            + math.sqrt(SHARE["time"]) * walk
        )
        for p in self.plants.get(v, []):
            rows = slice(p.first, p.last + 1)
            frames[rows] = _unit(frames[rows] + p.strength * self.concepts[p.concept])
        return frames.astype(np.float32)

    def embedding(self, v: int, frames: np.ndarray) -> VideoEmbedding:
        """Video `v` as the cache would hand it over."""
        n, step = len(frames), NATIVE_FPS / FPS
        return VideoEmbedding(
            video=name(v),
            embeddings=frames,
            times_s=np.arange(n) / FPS,
            indices=(np.arange(n) * step).astype(np.int64),
            summary=DecodeSummary(int(n * step), n / FPS, NATIVE_FPS, 0, "pyav"),
            sample_fps=FPS,
            model="synthetic",
        )

    def planted(self, q: int) -> list[tuple[str, float, float]]:
        """Query `q`'s planted moments: (video, start s, end s)."""
        return [
            (name(v), p.first / FPS, (p.last + 1) / FPS)
            for v, plants in self.plants.items()
            for p in plants
            if p.concept == q and p.last - p.first + 1 < self.lengths[v]
        ]


def name(v: int) -> str:
    return f"v{v:07d}"


def archive(frames: int, dim: int, queries: int, seed: int) -> Archive:
    """Plan an archive of about `frames` frame embeddings with `queries` planted queries."""
    rng = np.random.default_rng(seed)
    lengths = []
    while sum(lengths) < frames:  # log-normal, median 3 min, 30 s to 30 min
        minutes = float(np.clip(rng.lognormal(math.log(3.0), 0.9), 0.5, 30.0))
        lengths.append(int(minutes * 60 * FPS))
    concepts = _unit(rng.standard_normal((queries, dim)))
    gap = _unit(rng.standard_normal(dim))  # the text side of the modality gap
    texts = _unit(GAP * gap + (1 - GAP) * concepts).astype(np.float32)
    common = _unit(rng.standard_normal(dim))
    a = Archive(dim, seed, np.array(lengths), common, concepts, texts, gap)
    for q in range(queries):
        videos = rng.choice(len(lengths), size=PLANTED + TOPICAL, replace=False)
        for v in videos[:PLANTED]:  # moments of 4-30 s, from clear to faint
            length = min(lengths[v], int(rng.uniform(4, 30) * FPS))
            first = int(rng.integers(0, lengths[v] - length + 1))
            plant = Plant(q, first, first + length - 1, float(rng.uniform(0.25, 0.8)))
            a.plants.setdefault(int(v), []).append(plant)
        for v in videos[PLANTED:]:
            a.plants.setdefault(int(v), []).append(Plant(q, 0, lengths[v] - 1, 0.3))
    return a


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# -- the pass over the library: the indexes and the exact scan ---------------------------------


class CacheReads:
    """The cache's part of a search (--cache-dir): every video's embedding is written there as an
    entry of the real cache as the library streams by; reading entries back is timed."""

    def __init__(self, root: str) -> None:
        self.cache = EmbeddingCache(root)

    @staticmethod
    def key(video: str) -> str:
        return hashlib.sha256(video.encode()).hexdigest()

    def put(self, embedded: VideoEmbedding) -> None:
        self.cache.put(self.key(embedded.video), embedded)

    def read_s(self, videos: list[str]) -> float:
        """Seconds to read (and checksum) these videos' entries."""
        started = time.perf_counter()
        for video in videos:
            if self.cache.get(self.key(video), video) is None:
                raise SystemExit(f"the entry of {video} is missing from {self.cache.root}")
        return time.perf_counter() - started


@dataclass
class Build:
    """One index being built as the library streams by."""

    label: str
    segment: int  # samples per segment
    raw: bool  # unit segment means (for comparison) instead of clipground's centred ones
    index: LibraryIndex
    pending: list[Pooled] = field(default_factory=list)
    seconds: float = 0.0

    def take(self, v: int, frames: np.ndarray) -> None:
        """Pool a video; train once enough vectors wait, then add in chunks."""
        started = time.perf_counter()
        if self.raw:
            vectors = _unit(segment_means(frames, self.segment))
        else:
            vectors = segment_vectors(frames, self.segment)
        self.pending.append(Pooled(name(v), "-", "-", len(frames), vectors.astype(np.float16)))
        waiting = sum(len(p.vectors) for p in self.pending)
        wanted = train_size(self.index.factory) if not self.index.vectors.index.is_trained else 0
        if waiting >= max(CHUNK, wanted):
            self.flush()
        self.seconds += time.perf_counter() - started

    def flush(self) -> None:
        """Train on what waits (the first time), then add it."""
        if not self.pending:
            return
        vectors = self.index.vectors
        if not vectors.index.is_trained:
            sample = np.concatenate([p.vectors for p in self.pending]).astype(np.float32)
            vectors.train(sample[: train_size(self.index.factory)])
        self.index.add(self.pending)
        self.pending = []


def stream(
    a: Archive, builds: list[Build], scanned: int, top_k: int, reads: CacheReads | None = None
) -> tuple[list[list[Hit]], list[float], float]:
    """One pass: every video into every index, into every scanned query's exact ranking, and
    into the cache if `reads`. Returns the scan's hits and seconds per query (the cache's reads
    not counted), and the seconds spent generating."""
    options = GroundOptions(top_k=top_k)
    rankings = [LibrarySearch(["q"], a.texts[q][None, :], options, top_k) for q in range(scanned)]
    scan_s, generating = [0.0] * scanned, 0.0
    for v in range(len(a.lengths)):
        started = time.perf_counter()
        frames = a.video(v)
        embedded = a.embedding(v, frames)
        generating += time.perf_counter() - started
        if reads is not None:
            reads.put(embedded)
        for b in builds:
            b.take(v, frames)
        for q, ranking in enumerate(rankings):
            started = time.perf_counter()
            ranking.add(embedded)
            scan_s[q] += time.perf_counter() - started
    for b in builds:
        started = time.perf_counter()
        b.flush()
        b.seconds += time.perf_counter() - started
    exact = []
    for q, ranking in enumerate(rankings):
        started = time.perf_counter()
        exact.append(ranking.hits())
        scan_s[q] += time.perf_counter() - started
    return exact, scan_s, generating


# -- the index-backed search and the figures -------------------------------------------------


@dataclass(frozen=True)
class Stage1:
    """How stage 1 shortlists: videos and segments per window asked, and (product codes) the
    candidates per window asked that the exact vectors rank (0: the codes rank)."""

    videos_per_hit: int
    segments_per_hit: int
    candidates_per_hit: int

    def shortlist(self, b: Build, query: np.ndarray, top_k: int) -> list[str]:
        return b.index.shortlist(
            query, top_k, videos_per_hit=self.videos_per_hit,
            segments_per_hit=self.segments_per_hit, candidates_per_hit=self.candidates_per_hit,
        )  # fmt: skip


def indexed_search(
    a: Archive, b: Build, q: int, top_k: int, stage1: Stage1
) -> tuple[list[Hit], float, float, int, list[str]]:
    """Stage 1 then stage 2 for query `q`: hits, stage-1 seconds, total seconds, samples searched,
    the shortlist (regenerating the shortlisted videos is not timed)."""
    query = a.texts[q][None, :]
    started = time.perf_counter()
    paths = stage1.shortlist(b, query, top_k)
    first = time.perf_counter() - started
    ranking = LibrarySearch(["q"], query, GroundOptions(top_k=top_k), top_k)
    total, samples = first, 0
    for path in paths:
        v = int(path[1:])
        embedded = a.embedding(v, a.video(v))
        samples += len(embedded.indices)
        started = time.perf_counter()
        ranking.add(embedded)
        total += time.perf_counter() - started
    started = time.perf_counter()
    hits = ranking.hits()
    return hits, first, total + time.perf_counter() - started, samples, list(paths)


def matched(exact: list[Hit], found: list[Hit]) -> int:
    """How many of the scan's hits the index-backed ones hold (same video, IoU >= 0.5)."""
    return sum(
        any(
            h.video == f.video
            and temporal_iou((h.moment.start_s, h.moment.end_s), (f.moment.start_s, f.moment.end_s))
            >= 0.5
            for f in found
        )
        for h in exact
    )


def stage1_latency(
    a: Archive, b: Build, stage1: Stage1, count: int, top_k: int, seed: int
) -> list[float]:
    """Stage-1 seconds of `count` queries asked one at a time (the planted ones, then new ones)."""
    rng = np.random.default_rng(seed + 1)
    extra = _unit(GAP * a.gap + (1 - GAP) * _unit(rng.standard_normal((count, a.dim))))
    queries = np.concatenate([a.texts, extra.astype(np.float32)])[:count]
    times = []
    for query in queries:
        started = time.perf_counter()
        stage1.shortlist(b, query[None, :], top_k)
        times.append(time.perf_counter() - started)
    return times


def warm_up(a: Archive, b: Build, args: argparse.Namespace) -> None:
    """Ask the latency queries once, untimed, so that the exact vectors' rows they read are in the
    page cache for every setting alike (the first setting measured would pay for it alone)."""
    stage1 = Stage1(*(_ints(v)[0] for v in (
        args.videos_per_hit, args.segments_per_hit, args.candidates_per_hit)))  # fmt: skip
    stage1_latency(a, b, stage1, args.latency_queries, args.top_k, args.seed)


def figures(
    a: Archive,
    b: Build,
    exact: list[list[Hit]],
    scan_s: list[float],
    args: argparse.Namespace,
    stage1: Stage1,
    reads: CacheReads | None = None,
    read_all_s: float = 0.0,
) -> dict:
    """One JSON-ready line of figures for one index and shortlist size; with `reads`, also the
    speed-up with the cache's reads counted: every entry for the scan (`read_all_s`, as each
    `search --exact` reads them all), the shortlist's for the index-backed search."""
    found = asked = whole = unlisted = 0
    speedups, totals, shares, with_reads = [], [], [], []
    for q, hits in enumerate(exact):
        got, _, total, samples, paths = indexed_search(a, b, q, args.top_k, stage1)
        n = matched(hits, got)
        found, asked, whole = found + n, asked + len(hits), whole + (n == len(hits))
        unlisted += sum(h.video not in paths for h in hits)
        speedups.append(scan_s[q] / total)
        if reads is not None:
            with_reads.append((scan_s[q] + read_all_s) / (total + reads.read_s(paths)))
        totals.append(total)
        shares.append(samples / int(a.lengths.sum()))
    latency = stage1_latency(a, b, stage1, args.latency_queries, args.top_k, args.seed)
    size = len(b.index.vectors.to_bytes())
    count = b.index.vectors.count
    exact_rows = b.index.exact.rows if b.index.exact is not None else 0
    cache = {}
    if with_reads:
        cache = {
            "cache_read_all_s": round(read_all_s, 1),
            "speedup_with_cache_reads_median": round(statistics.median(with_reads), 1),
            "speedup_with_cache_reads_min": round(min(with_reads), 1),
        }
    return {
        "setting": b.label,
        "factory": b.index.factory,
        "nprobe": b.index.vectors.visited_lists(),
        "videos_per_hit": stage1.videos_per_hit,
        "segments_per_hit": stage1.segments_per_hit,
        "candidates_per_hit": stage1.candidates_per_hit,
        "indexed_vectors": count,
        "bytes_per_indexed_vector": round(size / count, 1),
        "exact_bytes_on_disk_per_vector": round(
            exact_rows * a.dim * EXACT_DTYPE.itemsize / count, 1
        ),
        "build_s": round(b.seconds, 1),
        "window_recall": round(found / asked, 4),
        "queries_all_found": f"{whole}/{len(exact)}",
        "missed_videos_not_shortlisted": unlisted,
        "stage1_ms_median": round(1000 * statistics.median(latency), 2),
        "stage1_ms_p95": round(1000 * _p95(latency), 2),
        "searched_samples_share_median": round(statistics.median(shares), 4),
        "scan_s_median": round(statistics.median(scan_s), 3),
        "indexed_s_median": round(statistics.median(totals), 3),
        "speedup_median": round(statistics.median(speedups), 1),
        "speedup_min": round(min(speedups), 1),
        **cache,
    }


def persisted(b: Build, root: str, faiss) -> IndexStore:
    """Write the index as `index build` does and search the copy read back, as `search` does:
    exact vectors, if any, then come from their memory-mapped file."""
    store = IndexStore(root, {"bench": b.label})
    store.save(b.index)
    b.index = store.load(faiss)
    return store


def update_seconds(a: Archive, store: IndexStore, segment: int, faiss, added: int = 3) -> float:
    """What `index update` spends on the index itself when `added` videos are new and one is
    deleted: read it (checksummed), remove the one, add the others, write it back atomically
    (exact vectors appended). The new videos are copies of the first ones under new paths."""
    new = []
    for v in range(added):
        vectors = segment_vectors(a.video(v), segment).astype(np.float16)
        new.append(Pooled(f"new{v}", "-", "-", int(a.lengths[v]), vectors))
    started = time.perf_counter()
    current = store.load(faiss)
    current.remove([name(added)])
    current.add(new)
    store.save(current)
    return time.perf_counter() - started


def planted_share(a: Archive, exact: list[list[Hit]]) -> float:
    """Share of the scan's hits that overlap a planted moment (how much of the top-k is signal)."""
    inside = total = 0
    for q, hits in enumerate(exact):
        moments = a.planted(q)
        for h in hits:
            total += 1
            inside += any(
                h.video == v and h.moment.start_s < e and s < h.moment.end_s for v, s, e in moments
            )
    return inside / max(total, 1)


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, math.ceil(0.95 * len(values)) - 1)]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def builds(args: argparse.Namespace, faiss) -> list[Build]:
    """The indexes to build: clipground's (2-s centred segments, factory by size) unless told
    otherwise; with --compare, segment lengths x raw/centred x index types."""
    options = [(args.segment_s, False, f) for f in (args.factory or "").split(";")]
    if args.compare:
        options = [(2.0, True, "IDMap2,Flat")]
        for segment_s in (0.5, 2.0, 4.0):
            count = math.ceil(args.vectors * 2.0 / segment_s)
            for codes in ("Flat", "SQ8", f"PQ{args.dim // 4}np"):
                factory = "IDMap2,Flat" if codes == "Flat" else f"IVF{lists_for(count)},{codes}"
                options.append((segment_s, False, factory))
    found = []
    for segment_s, raw, factory in options:
        segment = max(1, round(segment_s * FPS))
        factory = factory or choose_factory(math.ceil(args.vectors * 2.0 / segment_s), args.dim)
        vectors = SegmentVectors.create(factory, args.dim, faiss)
        label = f"{'raw' if raw else 'centred'} {segment_s:g}s {factory}"
        exact = ExactRows(args.dim) if compressed(factory) else None
        found.append(Build(label, segment, raw, LibraryIndex(vectors, segment, exact=exact)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--vectors",
        type=int,
        default=1_000_000,
        help="indexed vectors (2-s segments); frame embeddings are 4x as many",
    )
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=10, help="queries the exact scan answers")
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument(
        "--videos-per-hit",
        default=str(index_library.VIDEOS_PER_HIT),
        help="videos stage 1 keeps per window asked; comma-separated to compare",
    )
    parser.add_argument(
        "--nprobe", default="0", help="IVF lists visited (0: as search does); comma-separated"
    )
    parser.add_argument(
        "--segments-per-hit",
        default=str(index_library.SEGMENTS_PER_HIT),
        help="segments stage 1 asks faiss for, per window asked; comma-separated",
    )
    parser.add_argument(
        "--candidates-per-hit",
        default=str(index_library.CANDIDATES_PER_HIT),
        help="product codes: segments faiss proposes per window asked, for the exact vectors to "
        "rank; 0: the codes rank; comma-separated",
    )
    parser.add_argument("--segment-s", type=float, default=2.0)
    parser.add_argument(
        "--factory", default=None, help="faiss factory (default: by size); several separated by ';'"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="build several indexes in the one pass (see builds())",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="also write every video to a cache here (4M frames: 8 GB) and count its reads",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    faiss = require_faiss()
    started = time.perf_counter()
    a = archive(args.vectors * round(2.0 * FPS), args.dim, args.queries, args.seed)
    indexes = builds(args, faiss)
    reads = CacheReads(args.cache_dir) if args.cache_dir else None
    exact, scan_s, generating = stream(a, indexes, args.queries, args.top_k, reads)
    read_all_s = reads.read_s([name(v) for v in range(len(a.lengths))]) if reads else 0.0
    written = tempfile.TemporaryDirectory(prefix="bench-index-")
    stores = [
        persisted(b, os.path.join(written.name, str(i)), faiss) for i, b in enumerate(indexes)
    ]
    print(
        json.dumps(
            {
                "frames": int(a.lengths.sum()),
                "videos": len(a.lengths),
                "hours": round(a.lengths.sum() / FPS / 3600, 1),
                "generating_s": round(generating, 1),
                "scan_s_median": round(statistics.median(scan_s), 3),
                "scan_hits_on_planted_moments": round(planted_share(a, exact), 3),
            }
        ),
        flush=True,
    )
    for b in indexes:
        warm_up(a, b, args)
        for nprobe in _ints(args.nprobe):
            b.index.vectors.nprobe = nprobe or None
            for stage1 in itertools.product(
                _ints(args.videos_per_hit), _ints(args.segments_per_hit),
                _ints(args.candidates_per_hit),
            ):  # fmt: skip
                line = figures(a, b, exact, scan_s, args, Stage1(*stage1), reads, read_all_s)
                print(json.dumps(line), flush=True)
    if not args.compare:
        seconds = update_seconds(a, stores[0], indexes[0].segment, faiss)
        print(json.dumps({"update_3_added_1_deleted_s": round(seconds, 2)}), flush=True)
    print(json.dumps({"total_s": round(time.perf_counter() - started, 1)}))
    written.cleanup()


if __name__ == "__main__":
    main()
