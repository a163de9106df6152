"""The index on disk: a folder per model and rate under the cache root, read and written whole.

    <cache root>/index-v1/<setting key>/index.json           the sidecar (JSON)
    <cache root>/index-v1/<setting key>/vectors-<sha>.faiss  the faiss index
    <cache root>/index-v1/<setting key>/exact-<token>.f16    exact vectors by id (product-coded
                                                             indexes only: exact.py)

The setting key hashes what the cache keys hold besides the video (`cache.setting_parts`: model,
weights, input, rate, decoder), so an index is only ever used with embeddings it can stand for.
The sidecar names the faiss file with its size and SHA-256, and maps each video (path, cache key,
entry checksum) to its range of vector ids. Writing puts the faiss file first, then the sidecar,
each as a temporary file renamed into place: the sidecar's rename is the commit, so a reader sees
the old index or the new one, never a mix. The previous faiss file is kept for a reader that read
the previous sidecar. The exact vectors' file grows in place (rows a reader's sidecar counts never
change); writers take a lock on the folder, and one that finds another's commit since it loaded
writes a whole new file instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from clipground.errors import VectorIndexError
from clipground.index.exact import DTYPE as EXACT_DTYPE
from clipground.index.exact import ExactRows
from clipground.index.library import IndexedVideo, LibraryIndex
from clipground.index.vectors import SegmentVectors

INDEX_DIR = "index-v1"
SIDECAR = "index.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class IndexInfo:
    """What `index info` reports of one index."""

    path: str  # the index folder
    model: str  # the model identity its vectors were embedded with
    fps: float  # their sampling rate
    decoder: str
    factory: str  # the faiss factory string
    videos: int
    vectors: int  # segment vectors held
    segment_s: float  # seconds of samples pooled into one vector
    bytes: int  # on disk: the faiss file and the sidecar (not the exact vectors)
    exact_bytes: int  # on disk: the exact vectors beside product codes (0: none)


def setting_key(setting: dict[str, Any]) -> str:
    """The folder name of the index for `setting` (cache.setting_parts)."""
    return hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:32]


class IndexStore:
    """The index of one setting under a cache root."""

    def __init__(self, cache_root: str | Path, setting: dict[str, Any]) -> None:
        self.setting = json.loads(json.dumps(setting))  # as the sidecar reads it: lists, no tuples
        self.key = setting_key(self.setting)
        self.folder = Path(cache_root).expanduser() / INDEX_DIR / self.key

    @property
    def sidecar(self) -> Path:
        """The sidecar's path."""
        return self.folder / SIDECAR

    def exists(self) -> bool:
        """Whether an index (sound or not) is there."""
        return self.sidecar.exists()

    def load(self, faiss: ModuleType) -> LibraryIndex:
        """The index, checked whole; a VectorIndexError if it is corrupt or of another setting."""
        header = self._header()
        data = self._vectors_bytes(header)
        vectors = SegmentVectors.from_bytes(data, header["factory"], faiss)
        try:
            videos = [IndexedVideo(**v) for v in header["videos"]]
        except (TypeError, ValueError) as exc:
            raise VectorIndexError(
                f"the index at {self.folder} is corrupt (sidecar: {exc})"
            ) from None
        if vectors.dim != header["dim"] or vectors.count != sum(v.segments for v in videos):
            raise VectorIndexError(
                f"the index at {self.folder} does not match its sidecar ({vectors.count} vectors "
                f"of {vectors.dim} dimensions)"
            )
        exact = None
        if header.get("exact_file") is not None:
            if header["exact_rows"] != header["next_id"]:
                raise VectorIndexError(
                    f"the index at {self.folder} is corrupt (exact rows {header['exact_rows']}, "
                    f"next id {header['next_id']})"
                )
            exact = ExactRows(vectors.dim, self.folder / header["exact_file"], header["exact_rows"])
        return LibraryIndex(vectors, header["segment_samples"], videos, header["next_id"], exact)

    def _header(self) -> dict[str, Any]:
        """The sidecar, parsed and checked against this setting."""
        try:
            header = json.loads(self.sidecar.read_text(encoding="utf-8"))
            checked = _check_header(header)
        except FileNotFoundError:
            raise VectorIndexError(f"no index at {self.folder}: run `clipground index build`")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VectorIndexError(
                f"the index at {self.folder} is corrupt (sidecar: {exc})"
            ) from None
        if (
            checked["setting"] != self.setting
            or setting_key(checked["setting"]) != self.folder.name
        ):
            raise VectorIndexError(
                f"the index at {self.folder} is of another model or rate "
                f"({checked['setting'].get('model')} at {checked['setting'].get('fps')}/s)"
            )
        return checked

    def _vectors_bytes(self, header: dict[str, Any]) -> bytes:
        """The faiss file named by the sidecar, checked by size and SHA-256."""
        path = self.folder / header["vectors_file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise VectorIndexError(
                f"the index at {self.folder} is corrupt (cannot read {path.name}: "
                f"{exc.strerror or exc})"
            ) from None
        if len(data) != header["vectors_bytes"] or _sha256(data) != header["vectors_sha256"]:
            raise VectorIndexError(
                f"the index at {self.folder} is corrupt ({path.name} fails its checksum)"
            )
        return data

    def save(self, index: LibraryIndex) -> IndexInfo:
        """Write `index` atomically (faiss file, then the sidecar that commits it)."""
        data = index.vectors.to_bytes()
        digest = _sha256(data)
        name = f"vectors-{digest[:16]}.faiss"
        header = {
            "format": FORMAT_VERSION,
            "setting": self.setting,
            "factory": index.factory,
            "dim": index.dim,
            "segment_samples": index.segment_samples,
            "next_id": index.next_id,
            "vectors_file": name,
            "vectors_sha256": digest,
            "vectors_bytes": len(data),
            "videos": [asdict(v) for v in index.indexed()],
        }
        with self._locked():  # writers one at a time: none removes a file another will commit
            committed = self._committed()
            self._write_atomic(self.folder / name, data)
            if index.exact is not None:
                header["exact_file"], header["exact_rows"] = self._write_exact(
                    index.exact, committed
                )
            self._write_atomic(self.sidecar, json.dumps(header, indent=1).encode())
            previous = committed.get("vectors_file"), committed.get("exact_file")
            self._remove_old(keep={name, header.get("exact_file"), *previous})
        return self._info(header, index.vectors.count)

    def _write_exact(self, exact: ExactRows, committed: dict[str, Any]) -> tuple[str, int]:
        """The exact rows on disk: appended when the `committed` sidecar still counts the rows
        `exact` was loaded with (no other writer committed since), else as a new file."""
        on_disk = (committed.get("exact_file"), committed.get("exact_rows"))
        append = exact.path is not None and on_disk == (exact.path.name, exact.written)
        return exact.write(self.folder, f"exact-{secrets.token_hex(8)}.f16", append)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the folder's lock file, for one writer's commit at a time."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock (a rare race may then rewrite rows twice)
            yield
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise VectorIndexError(f"cannot write the index at {self.folder}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def info(self, faiss: ModuleType) -> IndexInfo:
        """The index's report, after checking it whole."""
        index = self.load(faiss)
        return self._info(self._header(), index.vectors.count)

    def _info(self, header: dict[str, Any], vectors: int) -> IndexInfo:
        setting = header["setting"]
        size = self.sidecar.stat().st_size + header["vectors_bytes"]
        exact = 0
        if header.get("exact_file"):
            exact = header["exact_rows"] * header["dim"] * EXACT_DTYPE.itemsize
        return IndexInfo(
            path=str(self.folder),
            model=str(setting.get("model")),
            fps=float(setting.get("fps", 0.0)),
            decoder=str(setting.get("decoder")),
            factory=header["factory"],
            videos=len(header["videos"]),
            vectors=vectors,
            segment_s=header["segment_samples"] / float(setting.get("fps") or 1.0),
            bytes=size,
            exact_bytes=exact,
        )

    def _committed(self) -> dict[str, Any]:
        """The sidecar on disk now, parsed ({} if there is none or it is unreadable)."""
        with contextlib.suppress(OSError, ValueError):
            header = json.loads(self.sidecar.read_text(encoding="utf-8"))
            if isinstance(header, dict):
                return header
        return {}

    def _remove_old(self, keep: set[str | None]) -> None:
        """Faiss and exact files of older generations (and temporary files of killed writers)."""
        for path in [*self.folder.glob("*.faiss"), *self.folder.glob("*.f16")]:
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()

    def _write_atomic(self, path: Path, data: bytes) -> None:
        """Temp file in the same folder, then rename: readers never see a partial file."""
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            raise VectorIndexError(f"cannot write the index at {self.folder}: {exc}") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


class LoadedIndexes:
    """Indexes kept loaded between questions (a server's): one is loaded again only when its
    sidecar, which commits each new version, has changed. Searching a loaded index only reads it,
    so the threads answering questions share it."""

    def __init__(self) -> None:
        self._held: dict[Path, tuple[tuple[int, int, int], LibraryIndex]] = {}
        self._lock = threading.Lock()

    def load(self, store: IndexStore, faiss: ModuleType) -> LibraryIndex:
        """`store.load(faiss)`, or the index loaded from the same sidecar before."""
        try:
            stat = store.sidecar.stat()
        except OSError:
            return store.load(faiss)  # says why as load does
        stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            held = self._held.get(store.folder)
            if held is not None and held[0] == stamp:
                return held[1]
        index = store.load(faiss)
        with self._lock:
            self._held[store.folder] = (stamp, index)
        return index


def stores(cache_root: str | Path) -> list[IndexStore]:
    """Every index under a cache root (each as the setting its sidecar names; unreadable ones under
    an empty setting, so that loading them reports why)."""
    found = []
    for folder in sorted((Path(cache_root).expanduser() / INDEX_DIR).glob("*/")):
        setting: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            setting = dict(json.loads((folder / SIDECAR).read_text(encoding="utf-8"))["setting"])
        store = IndexStore(cache_root, setting)
        store.folder = folder  # where it is, whatever its sidecar says
        found.append(store)
    return found


def _check_header(header: Any) -> dict[str, Any]:
    """The sidecar's fields, type-checked (a KeyError, TypeError or ValueError otherwise)."""
    if not isinstance(header, dict) or header["format"] != FORMAT_VERSION:
        raise ValueError(f"format {header.get('format') if isinstance(header, dict) else '?'}")
    for name in ("dim", "segment_samples", "next_id", "vectors_bytes"):
        if not isinstance(header[name], int) or header[name] < 0:
            raise ValueError(f"{name} {header[name]!r}")
    for name in ("factory", "vectors_file", "vectors_sha256"):
        if not isinstance(header[name], str):
            raise TypeError(f"{name} {header[name]!r}")
    if "/" in header["vectors_file"] or not isinstance(header["setting"], dict):
        raise ValueError("vectors_file or setting")
    exact = header.get("exact_file")
    if exact is not None and (
        not isinstance(exact, str) or "/" in exact or not isinstance(header["exact_rows"], int)
    ):
        raise ValueError("exact_file or exact_rows")
    if not isinstance(header["videos"], list):
        raise TypeError("videos")
    return header


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
