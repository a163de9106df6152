"""`--engine ray`: videos embedded on a Ray cluster on loopback (a local instance, and two nodes of
which one is lost mid-job) into the same cache entries as the local engine; what fails without Ray
or a writable cache. Every Ray here: 127.0.0.1 only, usage stats off, a small object store."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video, solid_frames
from typer.testing import CliRunner

from clipground.batch import Embedder
from clipground.cache import EmbeddingCache
from clipground.cli import app
from clipground.engine import WorkerSetup
from clipground.engine.ray import INSTALL_HINT, RayEngine, RaySetup, require_ray
from clipground.engine.ray.assemble import Assembler
from clipground.engine.ray.stages import DecodePlan, EmbeddedChunk, VideoEnd, decode_video
from clipground.errors import CacheError, UsageError
from clipground.model import ModelSpec, load_encoder
from clipground.options import GroundOptions
from clipground.types import DecodeSummary, ItemError

# Usage stats off, and Ray kept to loopback: read when ray is imported, so set before that (and
# left set: any Ray this test session starts is to stay on loopback).
os.environ.update({"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
ray = pytest.importorskip("ray")  # the `ray` extra, which `test` includes

NODE = {"num_cpus": 2, "object_store_memory": 200 << 20, "include_dashboard": False}
DRIVER = {"_node_ip_address": "127.0.0.1"}  # what joining a cluster takes
LOOPBACK = {**DRIVER, **NODE}  # what starting a local instance takes
SPEC = ModelSpec(name="demo", device="cpu")
OPTIONS = GroundOptions()  # 2 samples a second
LIMIT_S = 300  # the longest any test here may take (the two-node one takes about 45 s)
runner = CliRunner()


@pytest.fixture(autouse=True)
def bounded() -> Iterator[None]:
    """No test here waits on Ray longer than LIMIT_S: a hang fails its test (SIGALRM) instead."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"the test took longer than {LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(LIMIT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six colour-coded clips of 2-5 s at 20 fps and a corrupt file among them."""
    folder = tmp_path_factory.mktemp("ray_library")
    for i in range(6):
        make_video(folder / f"v{i}.mp4", solid_frames(40 + 12 * i), fps=20)
    (folder / "corrupt.mp4").write_bytes(b"not a video at all\n" * 64)
    return folder


def good(library: Path) -> list[str]:
    return sorted(str(p) for p in library.glob("v*.mp4"))


@pytest.fixture(scope="module")
def encoder():
    return load_encoder(SPEC)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray instance (2 CPUs) that this module's tests share; the engine uses it as is."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", configure_logging=False, log_to_driver=False, **LOOPBACK)
    yield
    ray.shutdown()


def ray_embedder(
    encoder, cache: EmbeddingCache, address: str = "local", init: dict | None = None
) -> Embedder:
    """The library's Ray embedder (as `--engine ray` builds it), joining `address` (with `init`)
    if this process is not connected to Ray yet."""
    setup = WorkerSetup(model=SPEC, options=OPTIONS)
    cluster = RaySetup(address, init_options=LOOPBACK if init is None else init)
    engine = RayEngine(setup, encoder.input, cluster)
    return Embedder(encoder, setup, cache, engine=engine, require_cache=True)


def entries(cache: EmbeddingCache) -> dict[str, Path]:
    """Entry files by key; and no temporary file is left behind."""
    files = list((cache.root / "embeddings-v1").rglob("*"))
    assert not [f for f in files if f.name.startswith(".tmp-")]
    return {f.stem: f for f in files if f.suffix == ".npz"}


# -- two nodes, one lost mid-job (first: it needs this process not yet connected to Ray) -------


def test_a_node_lost_mid_job_still_embeds_every_video_once(encoder, tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    folder = tmp_path / "videos"
    folder.mkdir()
    videos = [str(make_video(folder / f"n{i}.mp4", solid_frames(100 + 15 * i), fps=25)) for i in range(8)]
    cluster = Cluster(initialize_head=True, head_node_args={"node_ip_address": "127.0.0.1", **NODE})
    try:
        worker = cluster.add_node(node_ip_address="127.0.0.1", **NODE)
        cluster.wait_for_nodes(timeout=60)
        cache = EmbeddingCache(tmp_path / "cache")
        outcomes = []
        for outcome in ray_embedder(encoder, cache, cluster.address, DRIVER).run(videos):
            outcomes.append(outcome)
            if len(outcomes) == 1:
                cluster.remove_node(worker, allow_graceful=False)  # 7 videos still to come
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert sorted(o.video for o in outcomes) == videos  # every record, once
    assert [o.error for o in outcomes if o.error] == []
    frames = [len(o.embedded.indices) for o in sorted(outcomes, key=lambda o: o.video)]
    assert frames == sorted(frames) and frames[0] >= 8 and frames[-1] > frames[0]  # 4-8 s at 2/s
    assert len(entries(cache)) == len(videos)  # every video once in the cache


# -- a local Ray instance -----------------------------------------------------------------------


def test_ray_fills_the_cache_entries_the_local_engine_does(
    local_ray: None, library: Path, encoder, tmp_path: Path
) -> None:
    videos = good(library)
    local, on_ray = EmbeddingCache(tmp_path / "local"), EmbeddingCache(tmp_path / "ray")
    setup = WorkerSetup(model=SPEC, options=OPTIONS, threads=1)
    assert all(o.error is None for o in Embedder(encoder, setup, local).run(videos))
    outcomes = list(ray_embedder(encoder, on_ray).run(videos))
    assert sorted(o.video for o in outcomes) == videos
    assert all(o.error is None and not o.cached for o in outcomes)
    mine, theirs = entries(local), entries(on_ray)
    assert sorted(mine) == sorted(theirs) and len(mine) == len(videos)  # the same keys
    for video in videos:
        key = local.key(video, encoder, OPTIONS)
        a, b = local.get(key, video), on_ray.get(key, video)
        assert a is not None and b is not None
        np.testing.assert_allclose(b.embeddings, a.embeddings, atol=1e-5)
        assert np.array_equal(b.times_s, a.times_s) and np.array_equal(b.indices, a.indices)
        assert (b.summary, b.sample_fps, b.model) == (a.summary, a.sample_fps, a.model)


def test_a_corrupt_video_is_an_error_record_and_a_rerun_embeds_only_what_is_missing(
    local_ray: None, library: Path, encoder, tmp_path: Path
) -> None:
    videos, corrupt = good(library), str(library / "corrupt.mp4")
    cache = EmbeddingCache(tmp_path / "cache")
    first = {o.video: o for o in ray_embedder(encoder, cache).run([*videos, corrupt])}
    error = first[corrupt].error  # a record, not a crashed job
    assert error is not None and error.type == "VideoError" and corrupt in error.message
    assert all(first[v].embedded is not None for v in videos)
    killed = entries(cache)[cache.key(videos[2], encoder, OPTIONS)]
    killed.unlink()  # as if the job had been killed before this video was written
    again = ray_embedder(encoder, cache)
    outcomes = {o.video: o for o in again.run([*videos, corrupt])}
    assert again.spawned == 2 and not outcomes[videos[2]].cached  # it, and the corrupt file
    assert all(outcomes[v].cached for v in videos if v != videos[2])
    assert outcomes[corrupt].error is not None and len(entries(cache)) == len(videos)


def test_embed_engine_ray_end_to_end(local_ray: None, library: Path, tmp_path: Path) -> None:
    args = ["embed", str(library), "--engine", "ray", "--model", "demo", "--device", "cpu",
            "--cache-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.stderr  # the corrupt file failed, the others did not
    records = {r["video"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert sorted(records) == sorted([*good(library), str(library / "corrupt.mp4")])
    assert records[str(library / "corrupt.mp4")]["error"]["type"] == "VideoError"
    assert all(records[v]["frames"] > 0 and not records[v]["cached"] for v in good(library))
    again = runner.invoke(app, args)
    assert all(json.loads(line).get("cached", True) for line in again.stdout.splitlines())


# -- without Ray, or without a cache to write ---------------------------------------------------


def no_ray(name: str):
    raise ImportError(f"No module named {name!r}")


def test_without_ray_the_error_says_how_to_install() -> None:
    with pytest.raises(UsageError) as raised:
        require_ray(importer=no_ray)
    assert "pip install 'clipground[ray]'" in str(raised.value) and raised.value.exit_code == 2
    assert str(raised.value) == INSTALL_HINT and "\n" not in INSTALL_HINT


def test_without_ray_the_command_exits_2_with_the_hint(library: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None; sys.argv[0] = 'clipground'; "
        "from clipground.cli import run; run()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "embed", str(library), "--engine", "ray"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"error: {INSTALL_HINT}"


@pytest.mark.parametrize(
    ("flags", "needle"),
    [(["--engine", "spark"], "--engine must be one of local, ray"),
     (["--address", "auto"], "need --engine ray"),
     (["--engine", "ray", "--gpus-per-worker", "-1"], "--gpus-per-worker must be 0 or more")],
)
def test_engine_usage_errors(library: Path, flags: list[str], needle: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["embed", str(library), "--model", "demo", *flags,
                                 "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_unwritable_cache_is_one_clear_error(library: Path, encoder, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")
    cache = EmbeddingCache(blocker / "cache")
    with pytest.raises(CacheError, match=r"cannot write the cache at .*a_file/cache") as raised:
        list(ray_embedder(encoder, cache).run(good(library)[:1]))  # before Ray starts
    assert raised.value.exit_code == 5 and "--cache-dir" in str(raised.value)
    result = runner.invoke(app, ["embed", *good(library)[:1], "--engine", "ray", "--model", "demo",
                                 "--cache-dir", str(blocker / "cache")])
    assert result.exit_code == 5 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot write the cache at ")


def test_the_command_line_imports_no_ray() -> None:
    code = "import sys, clipground.cli; print(sorted({'ray', 'numpy', 'torch'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


# -- the driver's assembly, alone ----------------------------------------------------------------


SUMMARY = DecodeSummary(num_frames=50, duration_s=2.0, native_fps=25.0, corrupt_packets=0,
                        backend="pyav")


def chunk(video: str, first: int, n: int) -> EmbeddedChunk:
    indices = np.arange(first, first + n, dtype=np.int64)
    embeddings = np.eye(8, dtype=np.float32)[indices % 8]
    return EmbeddedChunk(video, embeddings, indices / 25.0, indices)


def test_chunks_in_any_order_and_sent_twice_make_one_outcome() -> None:
    seen: list[tuple[str, int]] = []
    assembler = Assembler(["a", "b"], 2.0, "demo", on_frames=lambda v, n: seen.append((v, n)))
    items = [chunk("a", 4, 4), chunk("a", 0, 4), chunk("a", 4, 4), VideoEnd("b", 0, None,
             ItemError("VideoError", "b: broken")), VideoEnd("a", 8, SUMMARY)]
    outcomes = [o for o in map(assembler.add, items) if o is not None]
    assert [(o.video, o.error is None) for o in outcomes] == [("b", False), ("a", True)]
    a = outcomes[1].embedded
    assert a is not None and list(a.indices) == list(range(8)) and a.summary == SUMMARY
    assert np.array_equal(a.embeddings, np.eye(8, dtype=np.float32))
    assert seen == [("a", 4), ("a", 8), ("a", 8)]
    assert assembler.add(chunk("a", 0, 4)) is None and list(assembler.lost()) == []


def test_a_video_whose_end_never_comes_is_lost_not_hung() -> None:
    assembler = Assembler(["a", "b"], 2.0, "demo")
    assert assembler.add(chunk("a", 0, 4)) is None
    assert assembler.add(VideoEnd("a", 6, SUMMARY)) is None  # 2 frames still missing
    assert assembler.add(VideoEnd("b", 0, None, ItemError("X", "b: embedding failed"))) is not None
    lost = list(assembler.lost())
    assert [(o.video, o.error.type) for o in lost] == [("a", "Lost")]
    assert "run the job again" in lost[0].error.message


def test_a_video_one_machine_cannot_read_names_that_machine(tmp_path: Path, encoder) -> None:
    missing = str(tmp_path / "gone.mp4")
    for driver, named in ((platform.node(), False), ("the-driver", True)):
        plan = DecodePlan(2.0, encoder.input, "pyav", 32, driver_node=driver)
        *chunks, end = decode_video(missing, plan)
        assert chunks == [] and end.error is not None and end.error.type == "VideoError"
        assert end.error.message.startswith(missing)
        assert end.error.message.endswith(f" (on {platform.node()})") == named


def test_ray_setup_refuses_what_cannot_work() -> None:
    with pytest.raises(UsageError, match="--workers"):
        RaySetup(workers=0)
    with pytest.raises(UsageError, match="--gpus-per-worker"):
        RaySetup(gpus_per_worker=float("nan"))

