"""The faiss index of segment vectors: the only module that imports faiss.

Vectors are compared by inner product, higher first (for a unit query, a segment's contrast with
its video: see segments.py). The factory is chosen by size (`choose_factory`): exact
("IDMap2,Flat") for small libraries, an inverted file with 8-bit scalar codes for medium ones and
with 4-bit product codes scanned in SIMD registers (faiss's "fast scan") for large ones; their exact
vectors, beside them on disk, rank what the codes propose (exact.py). docs/index-search.md has the
figures behind the thresholds.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from clipground.errors import UsageError, VectorIndexError

INSTALL_HINT = (
    "the vector index needs faiss, which is not installed: pip install 'clipground[index]' "
    "(or pip install faiss-cpu)"
)
FLAT_MAX = 20_000  # fewer vectors than this: exact search (no training; 2 KiB a vector at D=512)
SQ8_MAX = 200_000  # fewer than this: IVF with 8-bit scalar codes (D bytes a vector); else
# fast-scan PQ, 4 bits per 4 dimensions (D/8 bytes a vector): scanned 3-4x faster than byte codes
# of twice the size, and as good a proposer when exact vectors rank (docs/index-search.md)
MIN_LISTS, MAX_LISTS = 64, 4096  # inverted lists: about 2 sqrt(n), within these bounds
# Lists visited per query: half of them, and at least NPROBE (more when only part of the index may
# answer). With the exact vectors ranking the candidates, half the lists kept all of the scan's
# top-10 windows in 20 of 20 queries at a million vectors (1,024 of 2,048) and in 10 of 10 at ten
# million (2,048 of 4,096); a quarter of them lost windows at both sizes (docs/index-search.md).
NPROBE = 1024
TRAIN_PER_LIST = 64  # training vectors per inverted list (faiss wants at least 39)

Importer = Callable[[str], ModuleType]


def require_faiss(importer: Importer = importlib.import_module) -> ModuleType:
    """The faiss module, or a UsageError saying how to install it."""
    try:
        return importer("faiss")
    except ImportError:
        raise UsageError(INSTALL_HINT) from None


def lists_for(count: int) -> int:
    """Inverted lists for `count` vectors: a power of two near 2 sqrt(count)."""
    lists = 2 ** round(math.log2(max(1.0, 2 * math.sqrt(count))))
    return min(MAX_LISTS, max(MIN_LISTS, lists))


def lists_visited(lists: int) -> int:
    """Inverted lists a query visits when all ids may answer: half, at least NPROBE."""
    return min(lists, max(NPROBE, lists // 2))


def choose_factory(count: int, dim: int) -> str:
    """The faiss factory string for `count` vectors of `dim` dimensions."""
    if count < FLAT_MAX:
        return "IDMap2,Flat"
    lists = lists_for(count)
    if count < SQ8_MAX or dim % 4 or dim < 64:
        return f"IVF{lists},SQ8"
    return f"IVF{lists},PQ{dim // 4}x4fs"  # 4 bits per 4 dimensions, fast scan


def compressed(factory: str) -> bool:
    """Whether the factory's codes are product-quantised (too lossy to rank by: exact.py): byte
    codes ("PQ128np", earlier indexes) or 4-bit fast-scan ones ("PQ128x4fs")."""
    return ",PQ" in factory


def train_size(factory: str) -> int:
    """How many vectors training `factory` wants (0: no training)."""
    if factory.startswith("IVF"):
        return TRAIN_PER_LIST * int(factory[3:].split(",")[0])
    return 0 if factory.endswith("Flat") else TRAIN_PER_LIST * 256  # 256 codes a sub-quantiser


class SegmentVectors:
    """A faiss index of unit vectors with int64 ids: add, remove, nearest neighbours, bytes."""

    def __init__(self, index: Any, factory: str, faiss: ModuleType) -> None:
        self.index, self.factory, self._faiss = index, factory, faiss
        self.nprobe: int | None = None  # lists visited per query (None: `lists_visited`)

    @classmethod
    def create(cls, factory: str, dim: int, faiss: ModuleType) -> SegmentVectors:
        """An empty index made by `faiss.index_factory`, ranking by inner product."""
        return cls(faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT), factory, faiss)

    @classmethod
    def from_bytes(cls, data: bytes, factory: str, faiss: ModuleType) -> SegmentVectors:
        """An index read back from `to_bytes`; a VectorIndexError if faiss cannot parse it."""
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError as exc:
            raise VectorIndexError(f"faiss cannot read the index ({str(exc).splitlines()[0]})")
        return cls(index, factory, faiss)

    def to_bytes(self) -> bytes:
        """The index as faiss serialises it."""
        return self._faiss.serialize_index(self.index).tobytes()

    @property
    def dim(self) -> int:
        """Dimensions of the vectors."""
        return int(self.index.d)

    @property
    def count(self) -> int:
        """Vectors held."""
        return int(self.index.ntotal)

    def train(self, sample: np.ndarray) -> None:
        """Train the coarse quantiser and codes on `sample` (M, D), if the factory needs it."""
        if not self.index.is_trained:
            self.index.train(np.ascontiguousarray(sample, dtype=np.float32))

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add `vectors` (M, D) under `ids` (M,) int64."""
        self.index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, np.int64)
        )

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors with these ids; returns how many were removed."""
        if len(ids) == 0:
            return 0
        return int(self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best vectors for each query (R, D): inner products and ids (R, k), best first;
        ids are -1 where there are fewer.

        With `allowed` (ids), only those may answer; an inverted file then visits more lists, in
        proportion to the share of the index they are.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, self.count))
        params, keep = self._params(allowed)
        if params is None:
            return self.index.search(queries, k)
        found = self.index.search(queries, k, params=params)
        del keep  # the selector must outlive the search
        return found

    def _params(self, allowed: np.ndarray | None) -> tuple[Any, Any]:
        """faiss search parameters: the lists to visit and the ids allowed to answer."""
        faiss, ivf = self._faiss, self._ivf()
        if allowed is None and ivf is None:
            return None, None
        share = 1.0 if allowed is None else max(len(allowed), 1) / max(self.count, 1)
        selector = None
        if allowed is not None:
            allowed = np.ascontiguousarray(allowed, dtype=np.int64)
            selector = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
        if ivf is None:
            return faiss.SearchParameters(sel=selector), (selector, allowed)
        nprobe = min(ivf.nlist, math.ceil(self._visits(ivf) / share))
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        if selector is not None:
            params.sel = selector
        return params, (selector, allowed)

    def visited_lists(self) -> int | None:
        """Lists a query visits when all ids may answer (None: not an inverted file)."""
        ivf = self._ivf()
        return None if ivf is None else min(ivf.nlist, self._visits(ivf))

    def _visits(self, ivf: Any) -> int:
        return self.nprobe or lists_visited(ivf.nlist)

    def _ivf(self) -> Any:
        """The inverted-file part of the index, or None for a flat one."""
        try:
            return self._faiss.extract_index_ivf(self.index)
        except RuntimeError:
            return None
