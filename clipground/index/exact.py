"""The exact segment vectors beside a compressed index, on disk, read only for the candidates.

Product-quantised codes (`vectors.choose_factory` for large libraries) rank segments only roughly,
so stage 1 asks faiss for many candidates and ranks them by their exact vectors (what faiss's
IndexRefineFlat does with the vectors in memory). Here the vectors stay in a file of float16 rows,
row i holding vector id i, memory-mapped: a query reads its candidates' rows, the rest stays on
disk, and the index's memory per vector is the codes' alone.

Ids are given out in order and never reused, so the file only grows: an update appends the new
ids' rows after the rows the sidecar counts (overwriting whatever a killed writer left there), and
a reader of an older sidecar never reads past its own count. Rows of removed videos stay until
the next build writes a new file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from clipground.errors import VectorIndexError

DTYPE = np.dtype("<f2")


class ExactRows:
    """Float16 vectors by id: the rows written to `path` (memory-mapped) and rows added since."""

    def __init__(self, dim: int, path: Path | None = None, rows: int = 0) -> None:
        self.dim, self.path, self.written = dim, path, rows
        self._mapped: np.ndarray | None = None
        self._added: list[np.ndarray] = []  # rows written .. rows, in id order
        self._joined: np.ndarray | None = None
        if path is not None and rows:
            need = rows * dim * DTYPE.itemsize
            try:
                size = path.stat().st_size
                if size < need:
                    raise VectorIndexError(
                        f"the index at {path.parent} is corrupt ({path.name} holds {size} bytes, "
                        f"its sidecar counts {need})"
                    )
                self._mapped = np.memmap(path, DTYPE, mode="r", shape=(rows, dim))
            except OSError as exc:
                raise VectorIndexError(
                    f"the index at {path.parent} is corrupt (cannot read {path.name}: "
                    f"{exc.strerror or exc})"
                ) from None

    @property
    def rows(self) -> int:
        """Rows held: the next id to be given out."""
        return self.written + sum(len(a) for a in self._added)

    def add(self, first_id: int, vectors: np.ndarray) -> None:
        """The rows of ids first_id .. (which must be the next ids)."""
        if first_id != self.rows:
            raise ValueError(f"exact rows are by id: expected id {self.rows}, got {first_id}")
        self._added.append(np.asarray(vectors, DTYPE).reshape(-1, self.dim))
        self._joined = None

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of these ids (M, D) float16."""
        ids = np.asarray(ids, np.int64)
        old = ids < self.written
        if old.all() and self._mapped is not None:
            return np.asarray(self._mapped[ids])
        out = np.empty((len(ids), self.dim), DTYPE)
        if old.any() and self._mapped is not None:
            out[old] = self._mapped[ids[old]]
        if self._joined is None:
            self._joined = np.concatenate(self._added) if self._added else np.zeros((0, self.dim))
        out[~old] = self._joined[ids[~old] - self.written]
        return out

    def write(self, folder: Path, new_name: str, append: bool) -> tuple[str, int]:
        """Put the rows on disk: with `append`, the added ones after the written ones in the same
        file; else all of them in a new file `new_name`. Returns the file's name and its rows."""
        append = append and self.path is not None
        path = self.path if append and self.path is not None else folder / new_name
        blocks = self._added if append else self._blocks()
        offset = self.written * self.dim * DTYPE.itemsize if append else 0
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                for block in blocks:
                    view = memoryview(np.ascontiguousarray(block, DTYPE).tobytes())
                    while view:
                        done = os.pwrite(fd, view, offset)
                        view, offset = view[done:], offset + done
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            if not append:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise VectorIndexError(f"cannot write the index at {folder}: {exc}") from None
        return path.name, self.rows

    def _blocks(self) -> list[np.ndarray]:
        """Every row in id order, the written ones in blocks of 64 Ki rows (not all in memory)."""
        written = []
        if self._mapped is not None:
            step = 65_536
            written = [self._mapped[i : i + step] for i in range(0, self.written, step)]
        return written + self._added
