"""Embedding cache: content-keyed entries, atomic writes, corrupt entries detected and recomputed.

An entry is one `.npz` holding a `VideoEmbedding`'s arrays, its `DecodeSummary`, a format version
and a SHA-256 of the payload. It is written to a temporary file in the entry's folder and renamed
into place, so readers (other processes included) see a whole entry or none. A truncated or
corrupt entry fails its checksum, is reported at debug level and is recomputed.

The key covers what changes the embeddings: the video's content (a hash of sampled blocks, found
through a size + mtime + inode + ctime memo so unchanged files are not re-read), the model identity
and a fingerprint of local weight files, the input size and resize mode, the sample rate, the
decoder and `PREPROCESS_VERSION`. A cache folder that cannot be written is warned about once and
the work goes on uncached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clipground.errors import CacheError
from clipground.types import DecodeSummary, VideoEmbedding

if TYPE_CHECKING:
    from clipground.model import Encoder
    from clipground.options import GroundOptions

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # layout of an entry file (2: the summary holds declared_duration_s)
PREPROCESS_VERSION = 1  # bump when decoding or frame preprocessing changes what gets embedded
ENV_VAR = "CLIPGROUND_CACHE_DIR"
_ENTRIES = "embeddings-v1"  # entry files live in <root>/embeddings-v1/<key[:2]>/<key>.npz
_MEMOS = "files-v1"  # <root>/files-v1/<hash of the path>.json: stat -> content digest
PREVIEWS = "previews-v1"  # <root>/previews-v1/<key>.mp4: `serve`'s browser-playable transcodes
_WHOLE_FILE_BYTES = 8 << 20  # files up to this size are hashed whole
_BLOCKS = 32  # ...larger ones by this many blocks spread evenly, first and last included
_BLOCK_BYTES = 64 << 10
_SUMMARY_FIELDS = (
    "num_frames", "duration_s", "native_fps", "corrupt_packets", "backend", "declared_duration_s"
)  # fmt: skip


def default_cache_dir(platform: str = sys.platform) -> Path:
    """$CLIPGROUND_CACHE_DIR, else `platform`'s user cache folder for clipground."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    home = Path.home()
    if platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "clipground" / "Cache"
    if platform == "darwin":
        return home / "Library" / "Caches" / "clipground"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "clipground"


@dataclass(frozen=True)
class CacheInfo:
    """What `cache info` reports."""

    path: str  # the cache folder
    entries: int  # embedded videos stored
    bytes: int  # their total size on disk (entries, memos and left-over temporary files)
    oldest_s: float | None  # seconds since the least recently used entry was last used
    newest_s: float | None  # seconds since the most recently used entry was last used
    previews: int = 0  # `serve`'s preview transcodes kept beside the entries (in `bytes` too)


class EmbeddingCache:
    """A folder of embedded videos; every failure to write only disables it (warned once)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.disabled_reason: str | None = None

    # -- keys ------------------------------------------------------------------------------

    def key(self, video: str | Path, encoder: Encoder, options: GroundOptions) -> str | None:
        """The entry key for `video` embedded by `encoder` under `options`; None if unreadable."""
        try:
            content = self._content_digest(Path(video))
        except OSError as exc:  # a missing or unreadable video: the decoder reports it properly
            log.debug("%s: not cached (%s)", video, exc)
            return None
        parts = {**setting_parts(encoder, options), "content": content}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def _content_digest(self, path: Path) -> str:
        """Digest of sampled content, remembered per (size, mtime, inode, ctime) of the path."""
        st = os.stat(path)
        if not path.is_file():
            raise IsADirectoryError(f"{path} is not a file")
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
        memo = self.root / _MEMOS / (_hash_text(str(path.resolve())) + ".json")
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            saved = json.loads(memo.read_text())
            if saved["stat"] == stamp:
                return str(saved["digest"])
        digest = sampled_digest(path, st.st_size)
        self._write_atomic(memo, json.dumps({"stat": stamp, "digest": digest}).encode())
        return digest

    # -- entries ---------------------------------------------------------------------------

    def entry_path(self, key: str) -> Path:
        """Where the entry for `key` lives."""
        return self.root / _ENTRIES / key[:2] / f"{key}.npz"

    def get(self, key: str | None, video: str | Path) -> VideoEmbedding | None:
        """The stored embedding of `video` under `key`, or None (missing, stale or corrupt)."""
        if key is None:
            return None
        path = self.entry_path(key)
        try:
            embedded = _read_entry(path, key, str(video))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            log.debug(
                "cache entry %s is unreadable (%s: %s); recomputing", path, type(exc).__name__, exc
            )
            return None
        with contextlib.suppress(OSError):  # "last used" for `cache clear --older-than`
            os.utime(path)
        return embedded

    def checksum(self, key: str) -> str | None:
        """The stored checksum of the entry under `key` (None when there is none): it changes when
        the entry is written again, so an index can tell a re-embedded video (clipground.index)."""
        try:
            with np.load(self.entry_path(key), allow_pickle=False) as z:
                return str(z["checksum"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None

    def put(self, key: str | None, embedded: VideoEmbedding) -> None:
        """Store `embedded` under `key` atomically; a failure disables the cache, with one warning."""
        if key is None:
            return
        self._write_atomic(self.entry_path(key), _entry_bytes(key, embedded))

    def check_writable(self) -> None:
        """Raise CacheError unless an entry can be written here now (a probe file, removed)."""
        folder = self.root / _ENTRIES
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise CacheError(
                f"cannot write the cache at {self.root} ({type(exc).__name__}: {exc})"
            ) from None

    def _write_atomic(self, path: Path, data: bytes) -> None:
        """Temp file in the same folder, then rename: readers never see a partial file."""
        if self.disabled_reason is not None:
            return
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:  # read-only, full, or not a folder: carry on without caching
            self.disabled_reason = f"{type(exc).__name__}: {exc}"
            log.warning(
                "cannot write the cache at %s (%s); continuing without caching", self.root, exc
            )
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    # -- maintenance -------------------------------------------------------------------------

    @property
    def previews_root(self) -> Path:
        """Where `serve` keeps its previews (`preview.PreviewCache`)."""
        return self.root / PREVIEWS

    def info(self) -> CacheInfo:
        """Count entries, previews and bytes (an absent folder is an empty cache)."""
        now, ages, total, previews = time.time(), [], 0, 0
        for path in self._files((_ENTRIES, _MEMOS, PREVIEWS)):
            with contextlib.suppress(FileNotFoundError):
                st = path.stat()
                total += st.st_size
                if path.suffix == ".npz" and not path.name.startswith(".tmp-"):
                    ages.append(now - st.st_mtime)
                previews += _is_preview(path)
        return CacheInfo(
            str(self.root),
            len(ages),
            total,
            max(ages, default=None),
            min(ages, default=None),
            previews,
        )

    def clear(self, older_than_s: float | None = None) -> int:
        """Remove entries (those unused for `older_than_s`, if given); returns how many were removed."""
        if older_than_s is not None and older_than_s < 0:
            from clipground.errors import UsageError

            raise UsageError(f"--older-than must not be negative, got {older_than_s}")
        cutoff = time.time() - older_than_s if older_than_s is not None else None
        removed = self._remove(self._files((_ENTRIES, _MEMOS)), cutoff)
        return sum(p.suffix == ".npz" and not p.name.startswith(".tmp-") for p in removed)

    def clear_previews(self, older_than_s: float | None = None) -> int:
        """Remove `serve`'s previews (those unused for `older_than_s`, if given); returns how
        many were removed."""
        if older_than_s is not None and older_than_s < 0:
            from clipground.errors import UsageError

            raise UsageError(f"--older-than must not be negative, got {older_than_s}")
        cutoff = time.time() - older_than_s if older_than_s is not None else None
        return sum(map(_is_preview, self._remove(self._files((PREVIEWS,)), cutoff)))

    @staticmethod
    def _remove(paths: Iterator[Path], cutoff: float | None) -> list[Path]:
        """Unlink `paths` (those last used before `cutoff`, if given); the ones removed."""
        removed = []
        for path in paths:
            try:
                if cutoff is not None and path.stat().st_mtime > cutoff:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise CacheError(f"cannot remove {path} from the cache: {exc}") from exc
            removed.append(path)
        return removed

    def _files(self, subfolders: tuple[str, ...]) -> Iterator[Path]:
        """Every file this cache owns in `subfolders` (entries, memos, previews, temp files left
        by killed writers)."""
        for sub in subfolders:
            folder = self.root / sub
            if folder.exists() and not folder.is_dir():
                raise CacheError(f"cache folder {folder} is not a folder: pass another --cache-dir")
            yield from (p for p in folder.rglob("*") if p.is_file())


def _is_preview(path: Path) -> bool:
    return path.parent.name == PREVIEWS and path.suffix == ".mp4" and not path.name.startswith(".")


def setting_parts(encoder: Encoder, options: GroundOptions) -> dict[str, Any]:
    """The parts of an entry's key other than the video: model, weights, input, rate, decoder and
    versions. Entries (and the vector index, clipground.index) with equal parts are comparable."""
    return {
        "format": FORMAT_VERSION,
        "preprocess": PREPROCESS_VERSION,
        "model": encoder.identity,
        "weights": weights_fingerprint(encoder.identity),
        "input": asdict(encoder.input),
        "fps": float(options.fps),
        "decoder": options.decoder,
    }


def _hash_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def sampled_digest(path: Path, size: int) -> str:
    """SHA-256 of the size and the whole file, or of evenly spread blocks for a large file."""
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if size <= _WHOLE_FILE_BYTES:
            while block := f.read(1 << 20):
                h.update(block)
        else:
            step = (size - _BLOCK_BYTES) / (_BLOCKS - 1)
            for i in range(_BLOCKS):
                f.seek(round(i * step))
                h.update(f.read(_BLOCK_BYTES))
    return h.hexdigest()


def weights_fingerprint(identity: str) -> str:
    """Size and mtime of the local weight files behind a model identity ("" for hub models).

    A path-named model (`demo`, `local-dir:`, `name@checkpoint`) can be retrained in place; its
    identity string would not change, so the files' stat is part of the key.
    """
    from clipground.model import DEMO_MODEL_DIR

    if identity == "demo":
        path = DEMO_MODEL_DIR
    elif identity.startswith("local-dir:"):
        path = Path(identity[len("local-dir:") :])
        path = path if path.exists() else path.parent  # ModelSpec.identity appends the (unused) tag
    elif "@" in identity:
        path = Path(identity.partition("@")[2])
    else:
        return ""
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    stats = []
    for f in files:
        with contextlib.suppress(OSError):
            st = f.stat()
            stats.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return _hash_text("|".join(stats))


# -- entry files -------------------------------------------------------------------------------


def _payload_digest(meta: str, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(meta.encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _entry_bytes(key: str, e: VideoEmbedding) -> bytes:
    """The .npz bytes of an entry: arrays, a JSON header and the checksum of both."""
    import io

    arrays = {
        "embeddings": np.asarray(e.embeddings, np.float32),  # (N, D)
        "times_s": np.asarray(e.times_s, np.float64),  # (N,)
        "indices": np.asarray(e.indices, np.int64),  # (N,)
    }
    meta = json.dumps(
        {
            "format": FORMAT_VERSION,
            "key": key,
            "summary": asdict(e.summary),
            "sample_fps": e.sample_fps,
            "model": e.model,
        },
        sort_keys=True,
    )
    buffer = io.BytesIO()
    np.savez(
        buffer, meta=np.array(meta), checksum=np.array(_payload_digest(meta, arrays)), **arrays
    )
    return buffer.getvalue()


def _read_entry(path: Path, key: str, video: str) -> VideoEmbedding:
    """Load and verify an entry; raises ValueError (or a zip/IO error) when it is not sound."""

    with np.load(path, allow_pickle=False) as z:
        meta, checksum = str(z["meta"]), str(z["checksum"])
        arrays = {name: z[name] for name in ("embeddings", "times_s", "indices")}
    if _payload_digest(meta, arrays) != checksum:
        raise ValueError("checksum mismatch")
    header: dict[str, Any] = json.loads(meta)
    if header["format"] != FORMAT_VERSION or header["key"] != key:
        raise ValueError(f"format {header['format']} or key does not match")
    summary = DecodeSummary(**{k: header["summary"][k] for k in _SUMMARY_FIELDS})
    return VideoEmbedding(
        video=video,
        embeddings=arrays["embeddings"],
        times_s=arrays["times_s"],
        indices=arrays["indices"],
        summary=summary,
        sample_fps=float(header["sample_fps"]),
        model=str(header["model"]),
    )
