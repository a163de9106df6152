"""The vector index (`clipground index`, index-backed `search`): build, update, stale vectors,
corrupt indexes, atomic writes, faiss missing.

The library half runs on colour videos with the fake colour encoder (passed in); the command-line
half on a few generated videos with the shipped demo model.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video
from fakes import ColourEncoder
from typer.testing import CliRunner

from clipground import index
from clipground.batch import LibrarySearch
from clipground.cache import EmbeddingCache
from clipground.cli import app
from clipground.errors import UsageError, VectorIndexError
from clipground.index.exact import ExactRows
from clipground.options import GroundOptions
from clipground.pipeline import embed_cached, encode_query
from clipground.types import EmbedOutcome, ItemError

faiss = index.require_faiss()  # the `index` extra, which `test` includes
runner = CliRunner()
OPTIONS = GroundOptions()  # 2 samples/s: 4 samples a segment
GREY = (170, 170, 170)  # the fake encoder puts it as far from red as from green or blue


def colour_video(path: Path, moment: tuple[int, int, int], at_s: float) -> Path:
    """A 9-s grey video at 10 fps with 4 s of `moment` colour from `at_s`: a moment as long as
    two segments (one shorter may straddle two segments and count for half in stage 1)."""
    frames = []
    for i in range(90):
        colour = moment if at_s <= i / 10 < at_s + 4.0 else GREY
        frames.append(np.full((32, 32, 3), colour, np.uint8))
    return make_video(path, frames, fps=10)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Eight 9-s videos, each with a moment of a colour: red, orange, magenta, green, spring
    green, blue, violet, yellow (to the fake encoder, each query's matches differ clearly)."""
    moments = [(255, 0, 0), (255, 140, 0), (255, 0, 255), (0, 255, 0),
               (0, 255, 150), (0, 0, 255), (140, 0, 255), (255, 255, 0)]
    folder = tmp_path / "library"
    folder.mkdir()
    for i, colour in enumerate(moments):
        colour_video(folder / f"v{i}.mp4", colour, at_s=0.6 * i)
    return folder


@pytest.fixture
def cache(tmp_path: Path) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "cache")


def embedder(encoder: ColourEncoder, cache: EmbeddingCache):
    """What the CLI passes as `embed` (Embedder.run), with the fake encoder in this process."""

    def run(videos: Sequence[str]) -> Iterator[EmbedOutcome]:
        for video in videos:
            try:
                embedded, hit = embed_cached(video, encoder, OPTIONS, cache)
            except Exception as exc:  # noqa: BLE001 - a video that fails is an error outcome
                yield EmbedOutcome(video, None, ItemError.from_exception(exc))
                continue
            yield EmbedOutcome(video, embedded, cached=hit)

    return run


def videos_of(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob("*.mp4"))


def build(videos: Sequence[str], cache: EmbeddingCache, rebuild: bool = True) -> index.IndexReport:
    encoder = ColourEncoder()
    run = embedder(encoder, cache)
    return index.update_index(videos, cache, encoder, OPTIONS, run, faiss, rebuild=rebuild)


def load(cache: EmbeddingCache) -> index.LibraryIndex:
    from clipground.cache import setting_parts

    return index.IndexStore(cache.root, setting_parts(ColourEncoder(), OPTIONS)).load(faiss)


def all_ids(lib: index.LibraryIndex) -> set[int]:
    """Every id the faiss index holds (an exact index returns them all for k = count)."""
    _, ids = lib.vectors.search(np.ones((1, lib.dim), np.float32), lib.vectors.count)
    return {int(i) for i in ids.ravel() if i >= 0}


def expected_ids(lib: index.LibraryIndex) -> set[int]:
    return {int(i) for v in lib.videos.values() for i in v.ids}


# -- building and what the index holds --------------------------------------------------------


def test_build_indexes_every_video_by_segments(library: Path, cache: EmbeddingCache) -> None:
    videos = videos_of(library)
    report = build(videos, cache)
    assert (report.added, report.removed, report.kept, report.failed) == (8, 0, 0, 0)
    info = report.info
    assert info.videos == 8 and info.vectors == 8 * 5  # 18 samples a video: 4, 4, 4, 4, 2
    assert info.factory == "IDMap2,Flat" and info.segment_s == 2.0 and info.model == "fake-colour"
    assert Path(info.path).parent == cache.root / index.INDEX_DIR
    lib = load(cache)
    assert set(lib.videos) == {os.path.abspath(v) for v in videos}
    assert all_ids(lib) == expected_ids(lib)
    for video in lib.videos.values():
        assert video.key == cache.key(video.path, ColourEncoder(), OPTIONS)
        bounds = [lib.locate(int(i))[1:] for i in video.ids]
        assert bounds == [(0, 3), (4, 7), (8, 11), (12, 15), (16, 17)]


def test_the_sidecar_maps_ids_to_videos_and_samples(library: Path, cache: EmbeddingCache) -> None:
    report = build(videos_of(library), cache)
    sidecar = json.loads((Path(report.info.path) / "index.json").read_text())
    assert sidecar["factory"] == "IDMap2,Flat" and sidecar["segment_samples"] == 4
    assert sidecar["setting"]["model"] == "fake-colour" and sidecar["setting"]["fps"] == 2.0
    first = sidecar["videos"][0]
    assert set(first) == {"path", "key", "checksum", "samples", "first_id", "segments"}
    assert (Path(report.info.path) / sidecar["vectors_file"]).stat().st_size == sidecar["vectors_bytes"]


def test_segment_vectors_are_means_minus_the_video_mean() -> None:
    rows = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    got = index.segment_vectors(rows, 4)
    expected = np.stack([rows[0:4].mean(0), rows[4:8].mean(0), rows[8:10].mean(0)]) - rows.mean(0)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert index.segment_samples(2.0) == 4 and index.segment_samples(0.2) == 1


def test_the_factory_grows_with_the_library() -> None:
    assert index.choose_factory(1_000, 512) == "IDMap2,Flat"
    assert index.choose_factory(100_000, 512).endswith(",SQ8")
    big = index.choose_factory(1_000_000, 512)
    assert big.startswith("IVF") and big.endswith(",PQ128x4fs")


def test_a_query_visits_half_the_lists_and_at_least_1024() -> None:
    def visited(factory: str, nprobe: int | None = None) -> int | None:
        vectors = index.SegmentVectors.create(factory, 32, faiss)
        vectors.nprobe = nprobe
        return vectors.visited_lists()

    assert visited("IVF4096,PQ8x4fs") == 2048
    assert visited("IVF2048,PQ8x4fs") == visited("IVF1024,SQ8") == 1024
    assert visited("IVF64,SQ8") == 64
    assert visited("IVF4096,PQ8x4fs", nprobe=300) == 300
    assert visited("IDMap2,Flat") is None


def test_exact_vectors_rank_what_the_product_codes_propose() -> None:
    """With codes of 2 bits per 8 dimensions faiss ranks 40 random segments almost blindly;
    ranking its proposals by their exact vectors gives the exact ranking of videos."""
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((40, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pooled = [index.Pooled(f"/v{i}", "k", "c", 16, vectors[4 * i : 4 * i + 4]) for i in range(10)]
    sample = rng.standard_normal((160, 32)).astype(np.float32)  # 39 a centroid, faiss asks
    lossy = index.LibraryIndex(index.SegmentVectors.create("IDMap,PQ4x2", 32, faiss), 4,
                               exact=ExactRows(32))
    lossy.vectors.train(sample / np.linalg.norm(sample, axis=1, keepdims=True))
    lossy.add(pooled)
    codes_wrong = 0
    for q in range(10):
        query = vectors[4 * q + 1] + 0.3 * rng.standard_normal(32).astype(np.float32)
        query /= np.linalg.norm(query)
        best = np.argsort(-(vectors @ query), kind="stable") // 4
        exact = list(dict.fromkeys(f"/v{v}" for v in best[:4]))  # the best 4 segments' videos
        ask = {"videos_per_hit": 2, "segments_per_hit": 2}
        assert lossy.shortlist(query[None, :], 2, candidates_per_hit=20, **ask) == exact
        codes_wrong += lossy.shortlist(query[None, :], 2, candidates_per_hit=0, **ask) != exact
    assert codes_wrong >= 3  # the codes alone do get it wrong


def test_videos_too_short_to_rank_by_contrast_always_reach_stage_two() -> None:
    """A video of two segments whose moment lies across their boundary has segment vectors of
    zero (each segment's mean is the video's), so no query ranks it; it is shortlisted anyway,
    after the ranked videos, and only when `among` allows it."""
    rng = np.random.default_rng(5)
    moment = rng.standard_normal(16).astype(np.float32)
    moment /= np.linalg.norm(moment)
    empty = rng.standard_normal(16).astype(np.float32) * 0.05  # the same empty frame around it
    samples = np.stack([empty, empty, moment, moment, moment, moment, empty, empty])
    short = index.segment_vectors(samples, 4)  # 2 segments, both equal to the mean: zero
    assert np.abs(short).max() < 1e-6
    pooled = [index.Pooled("/short", "k", "c", 8, short)]
    for i in range(6):  # longer videos, each with a weak claim on the query
        v = rng.standard_normal((5, 16)).astype(np.float32) * 0.1
        v[2] += 0.2 * moment
        pooled.append(index.Pooled(f"/long{i}", "k", "c", 20, v))
    built = index.LibraryIndex.build(pooled, 4, faiss, dim=16, factory="IDMap2,Flat")
    ranked = built.shortlist(moment[None, :], 1, videos_per_hit=2)
    assert len(ranked) == 3 and "/short" not in ranked[:2] and ranked[-1] == "/short"
    assert "/short" not in built.shortlist(moment[None, :], 1, among={"/long0", "/long1"})


@pytest.mark.parametrize("factory", ["IVF4,PQ8np", "IVF4,PQ8x4fs"])  # byte codes, fast scan
def test_exact_vectors_are_stored_beside_product_codes_and_grow_in_place(
    tmp_path: Path, factory: str
) -> None:
    rng = np.random.default_rng(4)

    def pooled(name: str, n: int) -> index.Pooled:
        v = rng.standard_normal((n, 32)).astype(np.float32)
        return index.Pooled(name, "k", "c", 4 * n, (v / np.linalg.norm(v, axis=1)[:, None]))

    first = [pooled(f"/v{i}", 30) for i in range(12)]  # 360 vectors: PQ needs 256 x 39 to train
    store = index.IndexStore(tmp_path, {"model": "m"})
    built = index.LibraryIndex.build(first, 4, faiss, dim=32, factory=factory)
    info = store.save(built)
    assert info.exact_bytes == 360 * 32 * 2
    (exact_file,) = store.folder.glob("exact-*.f16")
    loaded = store.load(faiss)
    np.testing.assert_allclose(loaded.exact(np.array([0, 359])),
                               np.stack([first[0].vectors[0], first[11].vectors[29]]), atol=1e-3)
    reader = store.load(faiss)  # a reader of this generation, kept while the index grows
    loaded.remove(["/v0"])
    loaded.add([pooled("/new", 5)])
    assert store.save(loaded).exact_bytes == 365 * 32 * 2
    assert list(store.folder.glob("exact-*.f16")) == [exact_file]  # appended, not rewritten
    again = store.load(faiss)
    np.testing.assert_allclose(again.exact(np.arange(360)), reader.exact(np.arange(360)))
    query = first[5].vectors[3][None, :].astype(np.float32)
    assert again.shortlist(query, 1)[0] == "/v5"
    assert again.shortlist(query, 1, among={"/v0", "/v1", "/new"}) == ["/v1", "/new"]  # v0 is gone
    np.testing.assert_allclose(again.exact(np.array([364])), loaded.exact(np.array([364])))
    # another writer committed since `reader` was loaded: its rows go to a new file
    reader.add([pooled("/other", 2)])
    store.save(reader)
    assert sorted(p.name for p in store.folder.glob("exact-*.f16")) != [exact_file.name]
    np.testing.assert_allclose(store.load(faiss).exact(np.array([360, 361])),
                               reader.exact(np.array([360, 361])))
    exact_file = store.folder / json.loads(store.sidecar.read_text())["exact_file"]
    with exact_file.open("r+b") as f:
        f.truncate(100)
    with pytest.raises(VectorIndexError, match="corrupt"):
        store.load(faiss)


# -- index-backed search ----------------------------------------------------------------------


def scan_hits(videos: Sequence[str], cache: EmbeddingCache, text: str, top_k: int) -> list:
    encoder = ColourEncoder()
    query = encode_query(encoder, [text])
    options = replace(OPTIONS, top_k=top_k)
    ranking = LibrarySearch([text], query, options, top_k)
    for video in videos:
        ranking.add(embed_cached(video, encoder, options, cache)[0])
    return ranking.hits()


def candidates(videos: Sequence[str], cache: EmbeddingCache, text: str, top_k: int, **kw):
    encoder = ColourEncoder()
    query = encode_query(encoder, [text])
    options = replace(OPTIONS, **kw)
    return index.index_candidates(videos, cache, encoder, options, query, top_k)


@pytest.mark.parametrize("text", ["red", "green", "blue"])
@pytest.mark.parametrize("top_k", [1, 2])
def test_index_backed_search_finds_the_scans_hits(
    library: Path, cache: EmbeddingCache, text: str, top_k: int
) -> None:
    videos = videos_of(library)
    build(videos, cache)
    found = candidates(videos, cache, text, top_k)
    assert found is not None and found.indexed == 8
    assert found.shortlisted == len(found.videos) == min(index.VIDEOS_PER_HIT * top_k, 8)
    assert top_k > 1 or found.shortlisted < 8  # a query for one window leaves videos out
    assert scan_hits(found.videos, cache, text, top_k) == scan_hits(videos, cache, text, top_k)


def test_videos_the_index_lacks_are_searched_too(library: Path, cache: EmbeddingCache) -> None:
    videos = videos_of(library)
    build(videos[:6], cache)
    found = candidates(videos, cache, "red", 1)
    assert found is not None and found.indexed == 6
    assert found.videos[-2:] == tuple(videos[6:])  # after the shortlist, every one not indexed


def test_a_part_of_the_indexed_library_is_searched_alone(
    library: Path, cache: EmbeddingCache
) -> None:
    videos = videos_of(library)
    build(videos, cache)
    part = videos[3:6]  # no red among them
    found = candidates(part, cache, "red", 1)
    assert found is not None and set(found.videos) <= set(part) and found.videos
    assert scan_hits(found.videos, cache, "red", 1) == scan_hits(part, cache, "red", 1)


def test_no_index_or_the_mean_objective_means_a_scan(library: Path, cache: EmbeddingCache) -> None:
    videos = videos_of(library)
    assert candidates(videos, cache, "red", 1) is None
    build(videos, cache)
    assert candidates(videos, cache, "red", 1, objective="mean") is None
    assert candidates(videos, cache, "red", 1, fps=1.0) is None  # another rate: another index


# -- update: new, changed, deleted and re-embedded videos -------------------------------------


def test_update_adds_new_videos_and_leaves_no_stale_vectors(
    library: Path, cache: EmbeddingCache, tmp_path: Path
) -> None:
    videos = videos_of(library)
    build(videos, cache)
    encoder = ColourEncoder()
    new = str(colour_video(library / "new.mp4", (255, 40, 40), at_s=2.0))
    os.remove(videos[0])  # deleted
    colour_video(Path(videos[1]), (40, 255, 40), at_s=1.0)  # changed in place: another key
    key = cache.key(videos[2], encoder, OPTIONS)  # re-embedded: the same key, another entry
    embedded = cache.get(key, videos[2])
    cache.put(key, replace(embedded, embeddings=embedded.embeddings[::-1].copy()))

    report = build(videos_of(library), cache, rebuild=False)

    assert (report.added, report.removed, report.kept, report.failed) == (3, 3, 5, 0)
    assert not report.trained  # in place: an exact index still suits the library
    lib = load(cache)
    assert set(lib.videos) == {os.path.abspath(v) for v in videos_of(library)}
    assert all_ids(lib) == expected_ids(lib) and lib.vectors.count == 8 * 5
    assert lib.videos[os.path.abspath(videos[1])].key == cache.key(videos[1], encoder, OPTIONS)
    assert lib.videos[os.path.abspath(videos[2])].checksum == cache.checksum(key)
    assert candidates([new], cache, "red", 1).videos == (new,)


def test_a_loaded_index_is_kept_until_an_update_commits_another(
    library: Path, cache: EmbeddingCache
) -> None:
    videos = videos_of(library)
    build(videos[:3], cache)
    store, loaded = index.IndexStore(cache.root, store_setting()), index.LoadedIndexes()
    first = loaded.load(store, faiss)
    assert loaded.load(store, faiss) is first and len(first.videos) == 3
    build(videos, cache, rebuild=False)
    again = loaded.load(store, faiss)
    assert again is not first and set(again.videos) == {os.path.abspath(v) for v in videos}
    store.sidecar.write_text("{")  # damaged after loading: said so, not answered from memory
    with pytest.raises(VectorIndexError, match="corrupt"):
        loaded.load(store, faiss)


def test_update_without_changes_keeps_everything(library: Path, cache: EmbeddingCache) -> None:
    videos = videos_of(library)
    before = build(videos, cache)
    report = build(videos[:2], cache, rebuild=False)  # videos outside PATHS stay indexed
    assert (report.added, report.removed, report.kept) == (0, 0, 8)
    assert report.info.vectors == before.info.vectors


def test_a_video_named_twice_is_indexed_once(library: Path, cache: EmbeddingCache) -> None:
    videos = videos_of(library)
    report = build([*videos, os.path.relpath(videos[0])], cache)
    assert report.added == 8 and load(cache).vectors.count == 8 * 5


def test_a_video_that_fails_is_reported_and_not_indexed(
    library: Path, cache: EmbeddingCache
) -> None:
    (library / "broken.mp4").write_bytes(b"not a video" * 10)
    report = build(videos_of(library), cache)
    assert report.failed == 1 and report.info.videos == 8


def test_nothing_to_index_is_a_usage_error(tmp_path: Path, cache: EmbeddingCache) -> None:
    with pytest.raises(UsageError, match="nothing to index"):
        build([], cache)


# -- unsound indexes and atomic writes --------------------------------------------------------


def vectors_file(report: index.IndexReport) -> Path:
    return next(Path(report.info.path).glob("vectors-*.faiss"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "sidecar", "other-model"])
def test_an_unsound_index_is_detected(
    library: Path, cache: EmbeddingCache, damage: str
) -> None:
    videos = videos_of(library)
    report = build(videos, cache)
    folder, target = Path(report.info.path), vectors_file(report)
    data = bytearray(target.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "sidecar":
        (folder / "index.json").write_text('{"format": 1, "videos": [')
    else:
        sidecar = json.loads((folder / "index.json").read_text())
        sidecar["setting"]["model"] = "another-model"
        (folder / "index.json").write_text(json.dumps(sidecar))
    message = {"flip": "checksum", "truncate": "checksum", "sidecar": "corrupt",
               "other-model": "another model"}[damage]
    with pytest.raises(VectorIndexError, match=message):
        candidates(videos, cache, "red", 1)
    rebuilt = build(videos, cache, rebuild=False)  # update starts afresh, with a warning
    assert rebuilt.trained and rebuilt.added == 8 and load(cache).vectors.count == 40


def test_writes_are_atomic_for_readers(library: Path, cache: EmbeddingCache) -> None:
    """A reader loading while a writer saves two indexes in turn always gets a whole one."""
    videos = videos_of(library)
    small = load_after(build(videos[:3], cache), cache)
    large = load_after(build(videos, cache), cache)
    store = index.IndexStore(cache.root, store_setting())
    seen, errors, stop = set(), [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.add(len(store.load(faiss).videos))
            except VectorIndexError as exc:  # a torn file would fail its checksum
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(30):
        store.save(small)
        store.save(large)
    stop.set()
    reader.join()
    assert not errors and seen <= {3, 8}
    assert not list(Path(store.folder).glob(".tmp-*"))
    assert len(list(Path(store.folder).glob("*.faiss"))) == 2  # the current one and the previous


def load_after(report: index.IndexReport, cache: EmbeddingCache) -> index.LibraryIndex:
    assert report.info.vectors > 0
    return load(cache)


def store_setting() -> dict:
    from clipground.cache import setting_parts

    return setting_parts(ColourEncoder(), OPTIONS)


def test_an_unwritable_index_folder_is_a_vector_index_error(
    library: Path, cache: EmbeddingCache
) -> None:
    (cache.root / index.INDEX_DIR).mkdir(parents=True)
    (cache.root / index.INDEX_DIR / index.IndexStore(cache.root, store_setting()).key).write_text("")
    with pytest.raises(VectorIndexError, match="cannot write the index"):
        build(videos_of(library), cache)


# -- faiss missing ----------------------------------------------------------------------------


def no_faiss(name: str):
    raise ImportError(f"No module named {name!r}")


def test_without_faiss_the_error_says_how_to_install() -> None:
    with pytest.raises(UsageError) as raised:
        index.require_faiss(importer=no_faiss)
    assert "pip install 'clipground[index]'" in str(raised.value) and raised.value.exit_code == 2
    assert "\n" not in str(raised.value)


def test_without_faiss_search_needs_no_faiss_until_an_index_is_there(
    library: Path, cache: EmbeddingCache
) -> None:
    videos = videos_of(library)
    encoder, query = ColourEncoder(), encode_query(ColourEncoder(), ["red"])
    args = (videos, cache, encoder, OPTIONS, query, 1)
    assert index.index_candidates(*args, importer=no_faiss) is None  # no index: a plain scan
    build(videos, cache)
    with pytest.raises(UsageError, match="faiss"):
        index.index_candidates(*args, importer=no_faiss)


# -- the command line, with the demo model ----------------------------------------------------


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six short videos of the demo model's shapes, each with one captioned segment."""
    from clipground.demo.render import Segment, write_video

    folder = tmp_path_factory.mktemp("demo_library")
    shapes = [("circle", "red"), ("square", "blue"), ("triangle", "green"),
              ("circle", "blue"), ("cross", "white"), ("square", "red")]
    for i, (shape, colour) in enumerate(shapes):
        segments = [Segment(1.0 + 0.5 * i), Segment(2.0, shape, colour), Segment(1.0)]
        write_video(folder / f"d{i}.mp4", segments, fps=8, size=(96, 64), seed=i)
    return folder


@pytest.fixture(scope="module")
def demo_cli(tmp_path_factory: pytest.TempPathFactory):
    cache_dir = tmp_path_factory.mktemp("demo_cache")

    def invoke(*args: str):
        extra = ["--model", "demo", "--device", "cpu", "--cache-dir", str(cache_dir)]
        if args[:2] == ("index", "info"):
            extra = ["--cache-dir", str(cache_dir)]
        return runner.invoke(app, [*args, *extra])

    invoke.cache_dir = cache_dir  # type: ignore[attr-defined]
    return invoke


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_cli_build_info_search_and_fallback(demo_library: Path, demo_cli, caplog) -> None:
    built = demo_cli("index", "build", str(demo_library))
    assert built.exit_code == 0, built.output
    (summary,) = lines(built.stdout)
    assert summary["videos"] == 6 and summary["added"] == 6 and summary["trained"] is True
    assert summary["model"] == "demo" and summary["factory"] == "IDMap2,Flat"

    (info,) = lines(demo_cli("index", "info").stdout)
    assert {k: info[k] for k in ("path", "videos", "vectors")} == {
        k: summary[k] for k in ("path", "videos", "vectors")
    }

    query = ("search", str(demo_library), "-t", "a red circle", "--top-k", "1", "--no-refine")
    with caplog.at_level(logging.INFO, logger="clipground"):
        indexed = demo_cli(*query)
    assert indexed.exit_code == 0, indexed.output
    # 4 ranked, and d0 (2 segments, its red circle across their boundary: too short to rank)
    assert "index: 5 of 6 indexed videos shortlisted" in caplog.text
    exact = demo_cli(*query, "--exact")
    assert indexed.stdout == exact.stdout and len(lines(exact.stdout)) == 1

    vectors = next(Path(summary["path"]).glob("vectors-*.faiss"))
    vectors.write_bytes(vectors.read_bytes()[:100])
    damaged = demo_cli(*query)
    assert damaged.exit_code == 0 and damaged.stdout == exact.stdout
    warnings = [line for line in damaged.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "corrupt" in warnings[0] and "searching every video" in warnings[0]

    broken = demo_cli("index", "info")
    assert broken.exit_code == 1 and "checksum" in lines(broken.stdout)[0]["error"]["message"]

    updated = demo_cli("index", "update", str(demo_library))
    assert updated.exit_code == 0 and lines(updated.stdout)[0]["added"] == 6
    assert "building a new one" in updated.stderr


def test_every_index_command_has_help() -> None:
    for command in (["index"], ["index", "build"], ["index", "update"], ["index", "info"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.stdout
