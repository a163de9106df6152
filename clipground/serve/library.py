"""The videos a server serves: those found under PATHS, by id, and the only files it reads.

An id is a short hash of a video's path relative to its root (and of the root's name), so it is
stable across restarts. The id -> file map is built only by scanning PATHS; a path that a request
names is resolved (symlinks followed) and must land on a video file inside a root. Anything else
(unknown ids, `..`, absolute paths elsewhere, symlinks pointing outside) is a `NotServedError`, the
same for a file that exists outside PATHS as for one that does not exist at all.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from clipground.batch import VIDEO_EXTENSIONS, find_videos
from clipground.errors import NotServedError, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Video:
    """One served video."""

    id: str
    path: str  # how the CLI names it: `clipground search PATHS` spells it so
    real: Path  # the file, symlinks resolved: inside a root


@dataclass(frozen=True)
class _Root:
    given: str  # as PATHS gave it
    real: Path  # resolved: a folder, or one video file
    label: str  # its name, part of its videos' ids


class Library:
    """The videos under `paths` (folders searched recursively, by extension or by `glob`)."""

    def __init__(self, paths: Sequence[str], glob: str | None = None) -> None:
        if not paths:
            raise UsageError("no PATHS to serve: pass video files or folders")
        self.glob = glob
        self._roots = tuple(_root(p) for p in paths)
        self._by_id: dict[str, Video] = {}
        self._by_real: dict[Path, Video] = {}
        self._lock = threading.Lock()
        for spelled in find_videos(list(paths), glob):
            self._admit(spelled)

    def videos(self) -> list[Video]:
        """Every served video, in scan order."""
        with self._lock:
            return list(self._by_id.values())

    def get(self, video_id: str) -> Video:
        """The video with this id; a `NotServedError` for any other string."""
        with self._lock:
            found = self._by_id.get(video_id)
        if found is None:
            raise NotServedError(f"no video with id {video_id!r} is served here")
        return found

    def find(self, path: str) -> Video:
        """The served video at `path` (absolute, or relative to the server's folder), named as
        `path` spells it; a video added under a root since the scan is admitted on the way."""
        real = _real(path)
        with self._lock:
            known = self._by_real.get(real) if real is not None else None
        if known is None and real is not None and self._servable(real):
            known = self._admit(str(real))
        if known is None:
            raise NotServedError(f"{path}: no such video among those served here")
        return replace(known, path=path)

    def under(self, paths: Sequence[str]) -> list[Video]:
        """The served videos under `paths` (files or folders), named as `find_videos` names them;
        files in a folder that are not served (a symlink out of PATHS) are left out."""
        videos = []
        for raw in paths:
            if not Path(raw).is_dir():
                videos.append(self.find(raw))
                continue
            real = _real(raw)
            if real is None or not any(_inside(real, r.real) for r in self._roots):
                raise NotServedError(f"{raw}: no such video among those served here")
            for spelled in find_videos([raw], self.glob):
                with contextlib.suppress(NotServedError):
                    videos.append(self.find(spelled))
        return videos

    def _servable(self, real: Path) -> bool:
        named = (
            fnmatch.fnmatch(real.name, self.glob)
            if self.glob
            else (real.suffix.lower() in VIDEO_EXTENSIONS)
        )
        return real.is_file() and named and any(_inside(real, r.real) for r in self._roots)

    def _admit(self, spelled: str) -> Video | None:
        """Add the video at `spelled` if it resolves to a file inside a root (else warn)."""
        real = _real(spelled)
        root = next((r for r in self._roots if real and _inside(real, r.real)), None)
        if real is None or root is None or not real.is_file():
            log.warning("%s: not served (it is not a file inside PATHS)", spelled)
            return None
        with self._lock:
            if real in self._by_real:
                return self._by_real[real]
            video = Video(self._new_id(root, real), spelled, real)
            self._by_id[video.id] = self._by_real[real] = video
            return video

    def _new_id(self, root: _Root, real: Path) -> str:
        """The id of a new video: a hash of its root's name and its path in it (made unique if
        two roots share a name and a path)."""
        relative = real.relative_to(root.real).as_posix() if root.real.is_dir() else real.name
        key, n = f"{root.label}/{relative}", 0
        while (video_id := hashlib.sha256(key.encode()).hexdigest()[:12]) in self._by_id:
            n += 1
            key = f"{root.label}#{n}/{relative}"
        return video_id


def _root(path: str) -> _Root:
    real = _real(path)
    if real is None or not real.exists():
        raise UsageError(f"{path}: no such file or folder to serve; check the path")
    return _Root(path, real, real.name)


def _real(path: str) -> Path | None:
    """`path` with symlinks resolved, or None when it cannot be (a loop, a bad name)."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None


def _inside(real: Path, root: Path) -> bool:
    return real == root or root in real.parents
