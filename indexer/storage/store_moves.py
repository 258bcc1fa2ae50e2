"""Renames and moves of indexed files: their rows are re-pointed, never re-embedded. A part of
`IndexStore` (a mixin over its tables, single-writer lock and vector sinks), split off so the
store's module stays readable; the watcher reports a move, the writer thread calls these."""

from __future__ import annotations

import threading
from collections.abc import Callable

from indexer.storage.search_filter import dir_prefix, ext_of, sql_in, sql_str
from indexer.storage.store_layout import VectorSink
from indexer.storage.store_tables import TableSet, storage_op


class StoreMoves:
    """Move methods of `IndexStore`; the attributes are set by its constructor."""

    _t: TableSet
    _write_lock: threading.RLock
    _sinks: list[VectorSink]
    _check_writable: Callable[[], None]  # IndexStore's
    _compact_while_busy: Callable[[], None]  # StoreMaintenance's

    @storage_op
    def move_file(self, src: str, dest: str, *, folder: str | None = None) -> bool:
        """Re-point a renamed file's rows to `dest` (vectors untouched); False if `src` unknown.

        Whatever was indexed at `dest` is dropped first (the move replaced it on disk). `folder`
        sets the watched folder for the new location; None keeps the old one.
        """
        return bool(self._move({src: dest}, f"path = {sql_str(src)}", None, folder))

    @storage_op
    def move_prefix(
        self, src_dir: str, dest_dir: str, *, folder: str | None = None
    ) -> dict[str, str]:
        """Re-point every file under `src_dir` to `dest_dir`; return {old path: new path}."""
        src_p, dest_p = dir_prefix(src_dir), dir_prefix(dest_dir)
        where = f"starts_with(path, {sql_str(src_p)})"
        paths = {r["path"] for r in self._t.select("files", where, columns=["path"])}
        paths |= {r["path"] for r in self._t.select("chunks", where, columns=["path"])}
        mapping = {p: dest_p + p[len(src_p) :] for p in sorted(paths)}
        # SQL substr() counts characters like Python's len(), so this matches `mapping`.
        expr = f"concat({sql_str(dest_p)}, substr(path, {len(src_p) + 1}))"
        return self._move(mapping, where, expr, folder)

    def _move(
        self, mapping: dict[str, str], where: str, path_sql: str | None, folder: str | None
    ) -> dict[str, str]:
        self._check_writable()
        mapping = {s: d for s, d in mapping.items() if s != d}
        if not mapping:
            return {}
        with self._write_lock:
            known = self._t.writer("files").count_rows(where) + self._t.writer("chunks").count_rows(
                where
            )
            if not known:
                return {}
            dests = list(mapping.values())
            self._t.chunk_paths.forget()  # moves are rare: reload the set on next use
            for name in ("chunks", "files"):
                table = self._t.writer(name)
                if table.count_rows(sql_in("path", dests)):
                    table.delete(sql_in("path", dests))
                values_sql: dict[str, str] = {}
                if path_sql is None:  # one file: constant path and extension
                    (dest,) = dests
                    values_sql = {"path": sql_str(dest), "ext": sql_str(ext_of(dest))}
                else:
                    values_sql = {"path": path_sql}
                if folder is not None:
                    values_sql["folder"] = sql_str(folder)
                table.update(where=where, values_sql=values_sql)
                self._t.committed(name, 2)
            for sink in self._sinks:
                sink.remove_paths(dests)
                sink.rename_paths(mapping)
        self._compact_while_busy()
        return mapping
