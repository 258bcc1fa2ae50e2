"""The LanceDB connections behind one `IndexStore`: writer handles, reader handles, freshness.

The writer thread commits through its own handles; readers (any thread) share a second set.
A reader handle moves to the latest version only when this process's writer committed since it
last moved, or once a second (another process may have written). LanceDB's alternative,
`read_consistency_interval=0`, lists the table's version directory on *every* query, which costs
more as versions accumulate between compactions (+2.5 ms at 1,000 versions, +7 ms at 3,000 on
the reference machine), while `checkout_latest()` once per commit stays near 1 ms.

Memory: both connections share one LanceDB `Session` with bounded caches. LanceDB's defaults
(6 GiB for opened indexes, 1 GiB for metadata, per connection) keep the manifest and index
metadata of every version a handle ever checked out, and the reader checks out each new version,
so a bulk run of 3,000 small files grew them to 2 × 215 MB (a 10k-file run peaked at 2.6 GB
RSS). Bounded, the same run peaked at 430 MB instead of 860 MB, with no speed difference beyond
the machine's noise in alternated runs. A bounded cache still fills to its bound in a long bulk
run: every compaction writes new index files and the old ones stay cached until evicted (272 MB
at the end of a 100k-chunk run with a 256 MB index bound), while 200 BM25 queries on a freshly
opened, compacted 100k-chunk index used 27-30 MB of cache (all its indexes take 18 MB on disk),
p50 7-10 ms with either bound. So `INDEX_CACHE_BYTES` is about twice that.

The allocator (a measured last resort, `limit_malloc_arenas`): with the caches and queues bounded,
most of what was left of a bulk run's growth was glibc keeping freed memory. LanceDB's worker
threads each get a malloc arena (up to 8 per core), and the memory one compaction or merge frees
in its arena stays there, fragmented, while the next runs in another. Capping the process at
`MALLOC_ARENAS` arenas when the first index opens cut peak RSS from 702 to 500 MB indexing 30k
chunks (backlog mode of bench/bench_scale.py; 4 arenas: 569 MB) at no measurable speed cost;
`malloc_trim(0)` after each compaction instead did nothing (746 MB). An explicit
`MALLOC_ARENA_MAX` in the environment is left alone.

Also here: creating the tables and checking the `meta` table (`create_tables`, `meta_mismatch`),
the translation of LanceDB/IO failures into `StoreError`, shared by all store calls,
compaction scheduling (`maintain`, `compact_while_busy`), and `ChunkPaths`.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import lancedb
import pyarrow as pa
from lancedb.index import FTS, BTree

from indexer.errors import StoreError
from indexer.storage.search_filter import sql_in
from indexer.storage.store_layout import (
    SCHEMA_VERSION,
    MaintenancePolicy,
    chunks_schema,
    files_schema,
)

log = logging.getLogger("indexer.storage.store")
P = ParamSpec("P")
R = TypeVar("R")

IN_BATCH = 500  # values per IN (...) list when a lookup may be large
INDEX_CACHE_BYTES = 64 << 20  # opened index files (full-text posting lists, B-trees)
METADATA_CACHE_BYTES = 32 << 20  # manifests, fragment and index metadata of checked-out versions
STALE_AFTER_S = 1.0  # readers re-check the table version at least this often
TABLES = ("meta", "files", "chunks")
MALLOC_ARENAS = 2  # glibc malloc arenas for the whole process (see module doc)
_M_ARENA_MAX = -8  # mallopt() parameter number in glibc's malloc.h


def create_tables(db: Any, embed_model_id: str, dim: int) -> None:
    """Create the `files`, `chunks` and `meta` tables (dropping leftovers of a crashed start)."""
    for name in ("files", "chunks", "meta"):
        if name in set(db.list_tables().tables):
            db.drop_table(name)
    files = db.create_table("files", schema=files_schema())
    files.create_index("path", config=BTree(), replace=True)
    chunks = db.create_table("chunks", schema=chunks_schema(dim))
    chunks.create_index("text", config=FTS(), replace=True)
    for column in ("path", "id", "text_hash"):  # deletes, merges and reuse lookups
        chunks.create_index(column, config=BTree(), replace=True)
    meta = {
        "schema_version": str(SCHEMA_VERSION),
        "embed_model_id": embed_model_id,
        "embed_dim": str(dim),
        "created_at": str(time.time()),
    }
    # Created last: its presence means the other tables are complete.
    db.create_table("meta", data=pa.table({"key": list(meta), "value": list(meta.values())}))


def read_meta(db: Any) -> dict[str, str]:
    """The `meta` table as a dict (schema_version, embed_model_id, embed_dim, created_at)."""
    rows = db.open_table("meta").to_arrow().to_pylist()
    return {r["key"]: r["value"] for r in rows}


def meta_mismatch(meta: dict[str, str], embed_model_id: str, dim: int) -> str | None:
    """Why an index with this `meta` must be rebuilt for this model, or None if it fits."""
    want = {
        "schema_version": str(SCHEMA_VERSION),
        "embed_model_id": embed_model_id,
        "embed_dim": str(dim),
    }
    diffs = [f"{k} {meta.get(k)!r} -> {v!r}" for k, v in want.items() if meta.get(k) != v]
    return "index was built differently: " + "; ".join(diffs) if diffs else None


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; True if set. No-op off glibc Linux or when
    `MALLOC_ARENA_MAX` is in the environment (glibc already read it, and the user chose).

    Takes effect for arenas created afterwards, which is why the store calls it before LanceDB
    starts its threads; glibc fixes its limit for good once more than eight arenas exist, so
    a call made after that changes nothing.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl or another libc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_ARENA_MAX, arenas))


def storage_op(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn LanceDB/IO failures into `StoreError` (the user sees a message with a hint)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except StoreError:
            raise
        except (OSError, RuntimeError) as exc:
            raise StoreError(
                f"index operation {fn.__name__} failed: {exc}",
                hint="Check free disk space and permissions of the Cairn home; "
                "if the index is damaged, rebuild it.",
            ) from exc

    return wrapper


def read_op(fn: Callable[P, R]) -> Callable[P, R]:
    """`storage_op` for reads, retried once on fresh handles: a query in flight while a
    compaction deleted the files of its (no longer latest) version fails once, not twice."""
    translated = storage_op(fn)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (OSError, RuntimeError):
            tables = getattr(args[0], "_t", None) if args else None
            if isinstance(tables, TableSet):
                tables.force_refresh()
            return translated(*args, **kwargs)

    return wrapper


class TableSet:
    """Handles of the three tables of one index directory, for one writer and many readers."""

    def __init__(
        self,
        index_dir: Path | str,
        storage_options: Mapping[str, str] | None = None,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        """`index_dir`: a folder, or an object-store URI (`s3://…`) that LanceDB opens with
        `storage_options`; `stale_after_s`: how often reader handles look for other processes'
        commits (a shared index on object storage pays a request for each look)."""
        limit_malloc_arenas()  # before LanceDB's threads exist (see module doc)
        self.session = lancedb.Session(
            index_cache_size_bytes=INDEX_CACHE_BYTES, metadata_cache_size_bytes=METADATA_CACHE_BYTES
        )
        options = dict(storage_options) if storage_options else None
        self.db = lancedb.connect(str(index_dir), session=self.session, storage_options=options)
        self._rdb = lancedb.connect(str(index_dir), session=self.session, storage_options=options)
        self.stale_after_s = stale_after_s
        self._w: dict[str, Any] = {}
        self._r: dict[str, Any] = {}
        self.writes = {"files": 0, "chunks": 0}  # commits since the last optimize()
        self.optimized_at = {"files": 0.0, "chunks": 0.0}  # time.monotonic() of that optimize
        self.optimize_s = {"files": 0.0, "chunks": 0.0}  # how long that optimize took
        self.leftovers_checked = False  # see `_count_leftovers`
        self._generation = dict.fromkeys(TABLES, 0)  # commits by this process's writer
        self._seen = dict.fromkeys(TABLES, 0)  # the generation each reader handle is at
        self._refreshed = dict.fromkeys(TABLES, 0.0)
        self._lock = threading.Lock()
        self.chunk_paths = ChunkPaths(self)

    def names(self) -> set[str]:
        return set(self.db.list_tables().tables)

    def open_handles(self) -> None:
        """Open the handles (after the tables exist)."""
        self._w = {name: self.db.open_table(name) for name in ("files", "chunks")}
        self._r = {name: self._rdb.open_table(name) for name in TABLES}

    def _count_leftovers(self) -> None:
        """Rows a previous session left outside the full-text index count as a write, so the
        first settle folds them in. Checked once, when the writer first settles (not on the
        start-up path)."""
        self.leftovers_checked = True
        try:
            stats = self.writer("chunks").index_stats("text_idx")
        except (OSError, RuntimeError, ValueError):
            return
        if stats is not None and stats.num_unindexed_rows:
            self.writes["chunks"] += 1

    def close(self) -> None:
        self._w.clear()
        self._r.clear()
        self.chunk_paths.forget()

    def writer(self, table: str) -> Any:
        """The writer's handle (writer thread only)."""
        try:
            return self._w[table]
        except KeyError:
            raise StoreError("the index store is closed") from None

    def reader(self, table: str) -> Any:
        """A reader handle of `table`, moved to the latest version if it may be behind."""
        try:
            handle = self._r[table]
        except KeyError:
            raise StoreError("the index store is closed") from None
        gen, now = self._generation[table], time.monotonic()
        stale = self.stale_after_s
        if self._seen[table] != gen or now - self._refreshed[table] > stale:
            with self._lock:
                if self._seen[table] != gen or now - self._refreshed[table] > stale:
                    handle.checkout_latest()
                    self._seen[table], self._refreshed[table] = gen, now
        return handle

    def refresh(self, table: str) -> Any:
        """Move `table`'s reader handle to its latest version now, whoever wrote it; return
        the handle (a read-only store calls this before each query: another process writes)."""
        try:
            handle = self._r[table]
        except KeyError:
            raise StoreError("the index store is closed") from None
        with self._lock:
            handle.checkout_latest()
            self._seen[table], self._refreshed[table] = self._generation[table], time.monotonic()
        return handle

    def committed(self, table: str, commits: int = 1) -> None:
        """Count writer commits: maintenance looks at them, readers refresh on them."""
        self.writes[table] += commits
        self._generation[table] += commits

    def optimize(self, table: str, retain: timedelta) -> None:
        """Compact `table`, fold new rows into its indexes, drop versions older than `retain`."""
        start = time.monotonic()
        try:
            handle = self.writer(table)
            run = lambda: handle.optimize(cleanup_older_than=retain)
            if table == "chunks":
                self.chunk_paths.optimize(run)  # compaction moves rows, not paths
            else:
                run()
        finally:  # a failing compaction (disk full) is not retried at once either
            now = time.monotonic()
            self.writes[table] = 0
            self.optimized_at[table] = now
            self.optimize_s[table] = now - start
            self._generation[table] += 1  # readers move off versions due for cleanup

    def fragment_count(self, table: str) -> int:
        return int(self.writer(table).stats()["fragment_stats"]["num_fragments"])

    def maintain(self, policy: MaintenancePolicy, force: bool, settle: float | None = None
                 ) -> list[str]:
        """`IndexStore.maintain()`: compact the tables `policy` says are due (all if `force`),
        and, when `settle` is given, every table written to at least `settle` seconds after its
        last compaction."""
        if settle is not None and not self.leftovers_checked:
            self._count_leftovers()
        done: list[str] = []
        now = time.monotonic()
        for name in ("chunks", "files"):
            if not force and not self.writes[name]:
                continue  # nothing written since the last compaction
            since = now - self.optimized_at[name]
            settled = force or (settle is not None and since >= settle)
            frags = 0 if settled else self.fragment_count(name)
            if (
                settled
                or (frags > policy.max_fragments and since >= policy.min_interval_s)
                or (frags > policy.hard_max_fragments and since >= policy.hard_min_interval_s)
            ):
                self.optimize(name, policy.retain_versions)
                done.append(name)
        return done

    def compact_while_busy(self, policy: MaintenancePolicy) -> None:
        """After a write: compact a table that took `policy.bulk_commits` commits since its last
        compaction, spaced by `policy.bulk_spacing` (see `MaintenancePolicy`). A failure is
        logged, not raised: the write itself succeeded, and the next due compaction retries."""
        if policy.bulk_commits <= 0:
            return
        now = time.monotonic()
        for name in ("chunks", "files"):
            if self.writes[name] < policy.bulk_commits:
                continue
            if now - self.optimized_at[name] < policy.bulk_spacing * self.optimize_s[name]:
                continue
            try:
                self.optimize(name, policy.retain_versions)
            except (OSError, RuntimeError) as exc:
                log.warning("compacting the %s table failed (retried later): %s", name, exc)

    def cache_bytes(self) -> int:
        """Bytes held in LanceDB's caches for this index (diagnostics and benchmarks)."""
        return int(self.session.size_bytes)

    def force_refresh(self) -> None:
        with self._lock:
            self._seen = dict.fromkeys(TABLES, -1)

    def select(
        self,
        table: str,
        where: str | None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
        *,
        own: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows of `table` as dicts. `own`: through the writer's handle, which is always at the
        writer's latest commit (writer thread only), so no reader refresh is paid for it."""
        q = (self.writer(table) if own else self.reader(table)).search()
        if where:
            q = q.where(where)
        if columns is not None:
            q = q.select(list(columns))
        return q.limit(limit).to_arrow().to_pylist()

    def select_in(
        self,
        column: str,
        values: Iterable[str],
        columns: Sequence[str],
        extra: str = "",
        *,
        own: bool = False,
    ) -> list[dict[str, Any]]:
        """Chunk rows whose `column` is in `values`, looked up `IN_BATCH` values at a time."""
        unique, out = list(dict.fromkeys(values)), []
        for i in range(0, len(unique), IN_BATCH):
            where = extra + sql_in(column, unique[i : i + IN_BATCH])
            out += self.select("chunks", where, columns, own=own)
        return out


class ChunkPaths:
    """The set of paths that have rows in the chunks table, kept by the writer thread.

    Why: before writing a file's chunks the store must find and delete its old ones, and that
    lookup was the largest cost of a bulk run (60 % of the writer's time at 7k chunks: a B-tree
    probe plus a flat scan of every row written since the last compaction, ~0.3 ms per
    fragment). A new file, the common case, has no old chunks: the set answers that in memory.

    The set is trusted only at the table version it reflects. Each of the store's commits
    reports the version it created (`applied`); a commit the set did not see (through another
    handle, or a write that raised after committing) breaks the chain of versions, and the next
    `has_rows` reloads the set from the table (one scan of the path column).
    """

    def __init__(self, tables: TableSet) -> None:
        self._t = tables
        self._paths: set[str] | None = None
        self._version = -1

    def _table_version(self) -> int:
        return int(self._t.writer("chunks").version)

    def has_rows(self, path: str) -> bool:
        """Whether `path` has chunk rows (exact: reloads first if the table moved on unseen)."""
        version = self._table_version()
        if self._paths is None or version != self._version:
            column = self._t.writer("chunks").search().select(["path"]).limit(None).to_arrow()
            self._paths = set(column["path"].unique().to_pylist()) if column.num_rows else set()
            self._version = version
        return path in self._paths

    def applied(
        self, result: object, added: Iterable[str] = (), removed: Iterable[str] = ()
    ) -> None:
        """Record one commit of the store: `result` is what LanceDB's write call returned
        (it carries the new version), `added`/`removed` the paths that gained/lost all rows."""
        version = getattr(result, "version", None)
        if self._paths is None or version != self._version + 1:
            self._paths = None  # not the next version: something committed unseen
            return
        self._paths.difference_update(removed)
        self._paths.update(added)
        self._version = version

    def optimize(self, run: Callable[[], object]) -> None:
        """Run a compaction (several commits, no path changes) without losing the set."""
        current = self._paths is not None and self._table_version() == self._version
        try:
            run()
        finally:
            if current:
                self._version = self._table_version()
            else:
                self._paths = None

    def forget(self) -> None:
        self._paths = None
