"""The LanceDB connections behind one `IndexStore`: writer handles, reader handles, freshness.

The writer thread commits through its own handles; readers (any thread) share a second set.
A reader handle moves to the latest version only when this process's writer committed since it
last moved, or once a second (another process may have written). LanceDB's alternative,
`read_consistency_interval=0`, lists the table's version directory on *every* query, which costs
more as versions accumulate between compactions (+2.5 ms at 1,000 versions, +7 ms at 3,000 on
the reference machine), while `checkout_latest()` once per commit stays near 1 ms.

Also here: the translation of LanceDB/IO failures into `StoreError`, shared by all store calls.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import lancedb

from indexer.errors import StoreError
from indexer.search_filter import sql_in

P = ParamSpec("P")
R = TypeVar("R")

IN_BATCH = 500  # values per IN (...) list when a lookup may be large
STALE_AFTER_S = 1.0  # readers re-check the table version at least this often
TABLES = ("meta", "files", "chunks")


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

    def __init__(self, index_dir: Path) -> None:
        self.db = lancedb.connect(str(index_dir))
        self._rdb = lancedb.connect(str(index_dir))
        self._w: dict[str, Any] = {}
        self._r: dict[str, Any] = {}
        self.writes = {"files": 0, "chunks": 0}  # commits since the last optimize()
        self.optimized_at = {"files": 0.0, "chunks": 0.0}  # time.monotonic() of that optimize
        self._generation = dict.fromkeys(TABLES, 0)  # commits by this process's writer
        self._seen = dict.fromkeys(TABLES, 0)  # the generation each reader handle is at
        self._refreshed = dict.fromkeys(TABLES, 0.0)
        self._lock = threading.Lock()

    def names(self) -> set[str]:
        return set(self.db.list_tables().tables)

    def open_handles(self) -> None:
        """Open the handles (after the tables exist)."""
        self._w = {name: self.db.open_table(name) for name in ("files", "chunks")}
        self._r = {name: self._rdb.open_table(name) for name in TABLES}

    def close(self) -> None:
        self._w.clear()
        self._r.clear()

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
        if self._seen[table] != gen or now - self._refreshed[table] > STALE_AFTER_S:
            with self._lock:
                if self._seen[table] != gen or now - self._refreshed[table] > STALE_AFTER_S:
                    handle.checkout_latest()
                    self._seen[table], self._refreshed[table] = gen, now
        return handle

    def committed(self, table: str, commits: int = 1) -> None:
        """Count writer commits: maintenance looks at them, readers refresh on them."""
        self.writes[table] += commits
        self._generation[table] += commits

    def optimized(self, table: str) -> None:
        self.writes[table] = 0
        self.optimized_at[table] = time.monotonic()
        self._generation[table] += 1  # readers move off versions due for cleanup

    def force_refresh(self) -> None:
        with self._lock:
            self._seen = dict.fromkeys(TABLES, -1)

    def select(
        self,
        table: str,
        where: str | None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        q = self.reader(table).search()
        if where:
            q = q.where(where)
        if columns is not None:
            q = q.select(list(columns))
        return q.limit(limit).to_arrow().to_pylist()

    def select_in(
        self, column: str, values: Iterable[str], columns: Sequence[str], extra: str = ""
    ) -> list[dict[str, Any]]:
        """Chunk rows whose `column` is in `values`, looked up `IN_BATCH` values at a time."""
        unique, out = list(dict.fromkeys(values)), []
        for i in range(0, len(unique), IN_BATCH):
            where = extra + sql_in(column, unique[i : i + IN_BATCH])
            out += self.select("chunks", where, columns)
        return out
