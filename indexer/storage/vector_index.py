"""Exact cosine search over an in-memory float32 matrix, kept in step with the chunks table.

Why not LanceDB's own vector search: a flat scan there costs 168 ms p50 at 100k × 384 on the
2-core reference machine (over the 100 ms p95 budget), and its approximate indexes showed recall
of 0.1–0.2 with default settings. A numpy matrix-vector product over the same data is bandwidth
bound at ~10–14 ms and exact, so Cairn keeps one copy of the vectors in RAM.

Memory: 4 bytes × dim per embedded chunk, i.e. 154 MB for 100k × 384, plus ~100 bytes of id and
bookkeeping per row. Vectors live in fixed blocks of `_BLOCK_ROWS` rows, so growing never copies
the matrix: one growable array needed up to 50 % spare capacity plus, while growing, the old and
the new copy at once (~385 MB at 100k rows for a moment, in the middle of a bulk run). At a
million chunks the vectors alone need 1.5 GB — the point at which an approximate index with
measured recall becomes worth it.

Consistency: `attach(store)` subscribes to the store first and then loads a snapshot, under the
index lock; the store reports every later change (see `indexer.storage.store.VectorSink`), and each change
is idempotent, so a change racing the snapshot is applied harmlessly twice. Thread-safe: the
writer thread mutates, any thread searches; one lock serialises them (a search holds it for the
length of one scan).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from indexer.storage.search_filter import SearchFilter

if TYPE_CHECKING:
    from indexer.storage.store import IndexStore

_MIN_CAPACITY = 1024  # rows of bookkeeping arrays (alive flags, path codes) to start with
_BLOCK_ROWS = 8192  # rows per storage block of vectors (12.6 MB at 384-d)
_SCAN_ROWS = 1024  # small enough that OpenBLAS runs each product on the calling thread
_SUBSET_FRACTION = 0.3  # below this share of rows, gather the selected rows instead of masking


class ExactVectorIndex:
    """Cosine top-k over all embedded chunks; rows are (id, path, unit vector).

    Paths are interned as integer codes, so filters are evaluated once per distinct path, not
    once per chunk, and renaming a file or folder only rewrites the code table.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._lock = threading.RLock()
        self._store: IndexStore | None = None
        self._reset()

    def _reset(self) -> None:
        self._blocks: list[np.ndarray] = []  # (_BLOCK_ROWS, dim) each; slot s in s // _BLOCK_ROWS
        self._alive = np.zeros(0, dtype=bool)
        self._code = np.zeros(0, dtype=np.int32)  # slot -> path code
        self._ids: list[str | None] = []  # slot -> id (None when free)
        self._slot_of: dict[str, int] = {}
        self._free: list[int] = []
        self._n = 0  # slots in use (high-water mark)
        self._paths: list[str] = []  # code -> path
        self._code_of: dict[str, int] = {}
        self._mask_cache: dict[SearchFilter, np.ndarray] = {}

    # ------------------------------------------------------------ loading
    @classmethod
    def from_store(cls, store: IndexStore) -> ExactVectorIndex:
        """A new index holding every embedded chunk of `store`, subscribed to its changes."""
        index = cls(store.dim)
        index.attach(store)
        return index

    def attach(self, store: IndexStore) -> None:
        """(Re)load from `store` and follow it (e.g. after `swap_in()` returned a new store)."""
        if store.dim != self.dim:
            raise ValueError(f"store has {store.dim}-d vectors, index expects {self.dim}")
        with self._lock:
            self.detach()
            store.subscribe(self)
            self._store = store
            self._reset()
            for ids, paths, vectors in store.embedded_batches():
                self.upsert(ids, vectors, paths)

    def detach(self) -> None:
        """Stop following the store (its vectors stay searchable)."""
        with self._lock:
            if self._store is not None:
                self._store.unsubscribe(self)
                self._store = None

    def sync(self, store: IndexStore, batch: int = 2048) -> tuple[int, int]:
        """Catch up with `store` without a sink: for a reader in another process than the
        writer (see `indexer.serving.reader`). Compares (id, path) of the store's embedded rows
        with this index's, drops what is gone and reads vectors only for new or moved ids (an
        unchanged chunk keeps its id and vector, and a vector never changes under the same
        id), so following a few edits reads a few rows, not the whole matrix. Returns
        (upserted, removed)."""
        latest = store.embedded_paths()
        with self._lock:
            current = {cid: self._paths[self._code[slot]] for cid, slot in self._slot_of.items()}
        gone = [cid for cid in current if cid not in latest]
        fresh = [cid for cid, path in latest.items() if current.get(cid) != path]
        if gone:
            self.remove_ids(gone)
        for i in range(0, len(fresh), batch):
            rows = store.get_chunks(fresh[i : i + batch], with_vectors=True, columns=("id", "path"))
            if rows:
                self.upsert([r["id"] for r in rows],
                            np.stack([np.asarray(r["vector"], dtype=np.float32) for r in rows]),
                            [r["path"] for r in rows])
        return len(fresh), len(gone)

    def __len__(self) -> int:
        return len(self._slot_of)

    # ------------------------------------------------------------ changes (VectorSink)
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, paths: Sequence[str]) -> None:
        """Insert or overwrite rows; vectors are normalised to unit length (zero stays zero)."""
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)
        with self._lock:
            new = sum(1 for i in ids if i not in self._slot_of)
            self._reserve(new)
            slots = np.empty(len(ids), dtype=np.int64)
            codes = np.empty(len(ids), dtype=np.int32)
            for j, (cid, path) in enumerate(zip(ids, paths)):
                slot = self._slot_of.get(cid)
                if slot is None:
                    slot = self._free.pop() if self._free else self._take_slot()
                    self._slot_of[cid] = slot
                    self._ids[slot] = cid
                slots[j] = slot
                codes[j] = self._intern(path)
            self._put(slots, vecs)
            self._code[slots] = codes
            self._alive[slots] = True

    def remove_ids(self, ids: Iterable[str]) -> None:
        with self._lock:
            slots = [s for s in (self._slot_of.pop(i, None) for i in ids) if s is not None]
            self._release(slots)

    def remove_paths(self, paths: Iterable[str]) -> None:
        with self._lock:
            codes = [self._code_of[p] for p in paths if p in self._code_of]
            if not codes or not self._n:
                return
            hit = np.isin(self._code[: self._n], codes) & self._alive[: self._n]
            slots = np.flatnonzero(hit).tolist()
            for slot in slots:
                cid = self._ids[slot]
                if cid is not None:
                    self._slot_of.pop(cid, None)
            self._release(slots)

    def rename_paths(self, mapping: Mapping[str, str]) -> None:
        """Re-point rows of each old path to its new path (a file or folder move)."""
        with self._lock:
            moved = {old: self._code_of.pop(old) for old in mapping if old in self._code_of}
            targets = [new for old, new in mapping.items() if old in moved]
            self.remove_paths(targets)  # whatever lived at a destination was replaced
            for old, code in moved.items():
                new = mapping[old]
                self._paths[code] = new
                self._code_of[new] = code
            if moved:
                self._mask_cache.clear()

    # ------------------------------------------------------------ search
    def mask_for(self, flt: SearchFilter) -> np.ndarray:
        """Boolean mask over the current slots for `flt` (valid until the next change)."""
        with self._lock:
            allowed = self._mask_cache.get(flt)
            if allowed is None or len(allowed) != len(self._paths):
                allowed = np.fromiter(
                    (flt.matches(p) for p in self._paths), dtype=bool, count=len(self._paths)
                )
                if len(self._mask_cache) >= 32:
                    self._mask_cache.clear()
                self._mask_cache[flt] = allowed
            return allowed[self._code[: self._n]] if len(allowed) else np.zeros(self._n, bool)

    def search(
        self,
        query_vec: np.ndarray,
        k: int,
        mask: np.ndarray | SearchFilter | None = None,
    ) -> list[tuple[str, float]]:
        """Top-`k` (chunk id, cosine similarity), best first.

        `mask` restricts the rows: a `SearchFilter` (evaluated here, under the lock) or a boolean
        array from `mask_for()` taken since the last change.
        """
        q = np.asarray(query_vec, dtype=np.float32).reshape(self.dim)
        norm = float(np.linalg.norm(q))
        if k <= 0 or norm == 0.0:
            return []
        q = q / norm
        with self._lock:
            n = self._n
            valid = self._alive[:n]
            if isinstance(mask, SearchFilter):
                valid = valid & self.mask_for(mask)
            elif mask is not None:
                if len(mask) != n:
                    raise ValueError("stale mask: the index changed since mask_for()")
                valid = valid & mask
            rows = np.flatnonzero(valid)
            if not len(rows):
                return []
            if len(rows) < _SUBSET_FRACTION * n:  # few rows selected: gather only those
                scores = _scan(self._take(rows), q)
            else:  # one pass over the whole matrix is cheaper than gathering most of it
                scores = self._scan_all(n, q)[rows]
            kk = min(k, len(rows))
            if kk < len(rows):
                top = np.argpartition(-scores, kk - 1)[:kk]
            else:
                top = np.arange(len(rows))
            top = top[np.argsort(-scores[top], kind="stable")]
            ids = self._ids
            return [(ids[int(rows[t])], float(scores[t])) for t in top]  # type: ignore[misc]

    # ------------------------------------------------------------ storage
    def _intern(self, path: str) -> int:
        code = self._code_of.get(path)
        if code is None:
            code = len(self._paths)
            self._paths.append(path)
            self._code_of[path] = code
        return code

    def _put(self, slots: np.ndarray, vecs: np.ndarray) -> None:
        """Write rows `vecs` into their `slots`, block by block."""
        blocks, offsets = np.divmod(slots, _BLOCK_ROWS)
        for b in np.unique(blocks).tolist():
            sel = blocks == b
            self._blocks[b][offsets[sel]] = vecs[sel]

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of the sorted slots `rows`, gathered into one matrix."""
        blocks, offsets = np.divmod(rows, _BLOCK_ROWS)
        bounds = np.searchsorted(blocks, np.arange(len(self._blocks) + 1))
        parts = [
            self._blocks[b][offsets[bounds[b] : bounds[b + 1]]]
            for b in range(len(self._blocks))
            if bounds[b + 1] > bounds[b]
        ]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _scan_all(self, n: int, q: np.ndarray) -> np.ndarray:
        """Scores of the first `n` slots (alive or not)."""
        out = np.empty(n, dtype=np.float32)
        for b, block in enumerate(self._blocks):
            start = b * _BLOCK_ROWS
            if start >= n:
                break
            stop = min(n, start + _BLOCK_ROWS)
            out[start:stop] = _scan(block[: stop - start], q)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held for vectors (blocks allocated so far)."""
        return sum(block.nbytes for block in self._blocks)

    def _reserve(self, extra: int) -> None:
        need = self._n + max(0, extra - len(self._free))
        while len(self._blocks) * _BLOCK_ROWS < need:  # new blocks only: nothing is copied
            self._blocks.append(np.zeros((_BLOCK_ROWS, self.dim), dtype=np.float32))
        cap = len(self._alive)
        if need <= cap:
            return
        new_cap = max(_MIN_CAPACITY, need, cap + cap // 2)
        alive = np.zeros(new_cap, dtype=bool)
        alive[:cap] = self._alive
        code = np.zeros(new_cap, dtype=np.int32)
        code[:cap] = self._code
        self._alive, self._code = alive, code
        self._ids.extend([None] * (new_cap - cap))

    def _take_slot(self) -> int:
        slot = self._n
        self._n += 1
        return slot

    def _release(self, slots: Sequence[int]) -> None:
        for slot in slots:
            self._ids[slot] = None
            self._alive[slot] = False
            self._free.append(slot)


def _scan(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """`matrix @ q` in pieces of `_SCAN_ROWS` rows, each computed on the calling thread.

    One big product lets OpenBLAS split it over all cores, which is fastest on an idle machine
    (3.4 vs 4.8 ms at 100k × 384 here) but collapses when the cores are busy, as they are while
    the embedder or a parser runs: p50 28 ms, and 8 ms even at 10k rows, against 5.2 ms for
    blocks. Search runs during indexing, so the predictable variant wins.
    """
    out = np.empty(len(matrix), dtype=np.float32)
    for start in range(0, len(matrix), _SCAN_ROWS):
        np.dot(matrix[start : start + _SCAN_ROWS], q, out=out[start : start + _SCAN_ROWS])
    return out
