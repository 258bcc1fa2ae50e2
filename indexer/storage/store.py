"""The on-disk index: three LanceDB tables (`meta`, `files`, `chunks`) behind one small API.

Threading: exactly one writer thread calls the write methods (`upsert_files`, `set_stage`,
`remove_files`, `move_*`, `replace_chunks`, `set_vectors`, `maintain`); any thread may call the
read methods. Reads go through a second connection whose handles move to the latest version
after every commit of the writer (see `indexer.storage.store_tables`), so a read that starts after a write
returns sees it, and readers never share a handle with the writer (a shared read handle proved safe
under concurrent queries).

Write protocol the pipeline follows so a crash at any point self-heals on the next scan:
`replace_chunks` first, then `upsert_files` with the new content hash. A crash in between leaves
the *old* hash in `files`, so the scanner sees a changed file and indexes it again.

Observed LanceDB 0.40 behaviour this relies on (tests/indexer/test_store.py checks it):
- Rows added after the full-text index was built are searched flat until `optimize()` folds them
  into the index, so a file is keyword-searchable the moment `replace_chunks` returns.
- Every add/delete/update is a commit with its own fragment or deletion file; reads slow down with
  fragments (FTS p50 2 → 17 ms after 50 small edits at 100k rows) until `maintain()` compacts.

Chunk ids are random, not derived from the path: a move re-points rows without re-keying them, and
an unchanged chunk keeps its id across edits of its file.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from lancedb.query import MatchQuery

from indexer.errors import StoreError
from indexer.events import FileStage
from indexer.records import Chunk
from indexer.storage.search_filter import (
    fts_query_text,
    normalize_ext,
    sql_in,
    sql_str,
)
from indexer.storage.shared_location import is_uri
from indexer.storage.store_layout import (
    CHUNK_COLUMNS,
    REBUILD_MARKER,
    FileRecord,
    MaintenancePolicy,
    VectorSink,
    chunk_rows,
    embed_text,
    file_record,
    files_schema,
    finish_swap,
    rebuild_dir_for,
    recover_interrupted_swap,
    vector_matrix,
)
from indexer.storage.store_maintenance import StoreMaintenance
from indexer.storage.store_moves import StoreMoves
from indexer.storage.store_tables import (
    STALE_AFTER_S,
    TableSet,
    create_tables,
    meta_mismatch,
    read_meta,
    read_op,
    storage_op,
)


class IndexStore(StoreMaintenance, StoreMoves):
    """The LanceDB index in one directory. Build with `open()` or `open_rebuild()`.

    Model changes: if the directory was built with another embedding model, dimension or schema
    version, `needs_rebuild` is True (reason in `rebuild_reason`), writes raise `StoreError`, and
    reads still work (keyword search can serve users meanwhile). Build the replacement with
    `IndexStore.open_rebuild(...)` (a sibling `<name>.rebuild` directory; an interrupted rebuild is
    resumed), then call `swap_in()` on it: it replaces the old directory by two renames and returns
    the store reopened at the original path. Vectors of two models are never mixed.
    """

    def __init__(
        self,
        index_dir: Path | str,
        embed_model_id: str,
        dim: int,
        policy: MaintenancePolicy,
        *,
        swap_target: Path | None = None,
        read_only: bool = False,
        storage_options: Mapping[str, str] | None = None,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        """Use `open()` or `open_read_only()`; this constructor only connects (creating tables
        when missing, unless `read_only`); `index_dir` may be a URI (`s3://…`)."""
        self.index_dir = index_dir
        self.embed_model_id = embed_model_id
        self.dim = dim
        self.policy = policy
        self.needs_rebuild = False
        self.rebuild_reason: str | None = None
        self._swap_target = swap_target
        self.read_only = read_only
        self._sinks: list[VectorSink] = []
        self._write_lock = threading.RLock()
        if not is_uri(index_dir):  # object storage has no folders to check or make
            if read_only and not index_dir.is_dir():
                raise _no_index(index_dir)
            index_dir.mkdir(parents=True, exist_ok=True)
        self._t = TableSet(index_dir, storage_options, stale_after_s)
        self._db = self._t.db
        if "meta" not in self._t.names():  # fresh (or creation crashed before meta: start over)
            if read_only:
                raise _no_index(index_dir)
            create_tables(self._db, embed_model_id, dim)
        else:
            reason = meta_mismatch(self.meta(), embed_model_id, dim)
            if reason:
                self.needs_rebuild = True
                self.rebuild_reason = reason
        self._t.open_handles()

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    @storage_op
    def open(
        cls,
        index_dir: Path | str,
        embed_model_id: str,
        dim: int,
        *,
        policy: MaintenancePolicy | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> IndexStore:
        """Open (or create) the index in `index_dir`; check `needs_rebuild` afterwards.

        `index_dir` may be an object-store URI (`s3://…`, with `storage_options`): LanceDB's
        commit protocol is its own there, and no rebuild can be swapped in by renames."""
        if not is_uri(index_dir):
            index_dir = Path(index_dir)
            recover_interrupted_swap(index_dir)
        return cls(index_dir, embed_model_id, dim, policy or MaintenancePolicy(),
                   storage_options=storage_options)

    @classmethod
    @storage_op
    def open_read_only(cls, index_dir: Path | str, embed_model_id: str, dim: int, *,
                       storage_options: Mapping[str, str] | None = None,
                       stale_after_s: float = STALE_AFTER_S) -> IndexStore:
        """Open an index another process owns, to read only (a server beside the window, or a
        team's shared index): nothing is created or recovered, writes raise `StoreError`,
        `maintain()` does nothing. Call `refresh()` before each query; reads by themselves look
        for newer versions every `stale_after_s`. `StoreError` if nothing was indexed there yet."""
        return cls(index_dir if is_uri(index_dir) else Path(index_dir), embed_model_id, dim,
                   MaintenancePolicy(), read_only=True, storage_options=storage_options,
                   stale_after_s=stale_after_s)

    @storage_op
    def refresh(self) -> int:
        """Move the read handles to the latest versions (another process may have written);
        return the `chunks` version, which changes with every commit of its owner."""
        self._t.refresh("files")
        return int(self._t.refresh("chunks").version)

    @classmethod
    @storage_op
    def open_rebuild(
        cls,
        index_dir: Path,
        embed_model_id: str,
        dim: int,
        *,
        resume: bool = True,
        policy: MaintenancePolicy | None = None,
    ) -> IndexStore:
        """Open the sibling rebuild directory for `index_dir` (resumed if it matches the model)."""
        index_dir = Path(index_dir)
        target = rebuild_dir_for(index_dir)
        policy = policy or MaintenancePolicy()
        if target.exists() and resume:
            store = cls(target, embed_model_id, dim, policy, swap_target=index_dir)
            if not store.needs_rebuild:
                return store
            store.close()
        shutil.rmtree(target, ignore_errors=True)
        return cls(target, embed_model_id, dim, policy, swap_target=index_dir)

    @storage_op
    def swap_in(self) -> IndexStore:
        """Make this completed rebuild the live index; return it reopened at the original path.

        Close every other store and reader on the old directory first (Windows cannot rename a
        directory with open files). This object must not be used afterwards.
        """
        if self._swap_target is None:
            raise StoreError("swap_in() is only valid on a store from open_rebuild()")
        with self._write_lock:
            self.maintain(force=True)
            marker = self.index_dir / REBUILD_MARKER
            with open(marker, "w", encoding="utf-8") as fh:  # the point of no return
                fh.write(self.embed_model_id)
                fh.flush()
                os.fsync(fh.fileno())
            self.close()
            finish_swap(self._swap_target)
        return IndexStore.open(self._swap_target, self.embed_model_id, self.dim, policy=self.policy)

    def close(self) -> None:
        """Drop table handles and sinks (LanceDB's sync connection has nothing else to close)."""
        self._sinks.clear()
        self._t.close()

    def subscribe(self, sink: VectorSink) -> None:
        """Send every later vector change to `sink` (see `VectorSink`)."""
        if sink not in self._sinks:
            self._sinks.append(sink)

    def unsubscribe(self, sink: VectorSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def meta(self) -> dict[str, str]:
        """The `meta` table as a dict (schema_version, embed_model_id, embed_dim, created_at)."""
        return read_meta(self._db)

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError("this index is open read-only (another Cairn process owns it)")
        if self.needs_rebuild:
            raise StoreError(
                f"the index must be rebuilt before it can be written ({self.rebuild_reason})",
                hint="Cairn rebuilds it in the background; keyword search keeps working.",
            )

    # ----------------------------------------------------------------- files
    @read_op
    def get_file(self, path: str) -> FileRecord | None:
        rows = self._t.select("files", f"path = {sql_str(path)}", limit=1)
        return file_record(rows[0]) if rows else None

    @read_op
    def get_files(self, paths: Sequence[str]) -> list[FileRecord]:
        """The rows of those `paths` that exist, in one query."""
        if not paths:
            return []
        return [file_record(r) for r in self._t.select("files", sql_in("path", list(paths)))]

    @read_op
    def list_files(
        self, folder: str | None = None, stage: FileStage | None = None
    ) -> list[FileRecord]:
        """Files of one watched folder and/or stage, sorted by path."""
        clauses = []
        if folder is not None:
            clauses.append(f"folder = {sql_str(folder)}")
        if stage is not None:
            clauses.append(f"stage = {sql_str(FileStage(stage).value)}")
        rows = self._t.select("files", " AND ".join(clauses) or None)
        return sorted((file_record(r) for r in rows), key=lambda f: f.path)

    @storage_op
    def upsert_files(self, records: Sequence[FileRecord]) -> None:
        """Insert or replace file rows by path, in one commit for the whole batch."""
        self._check_writable()
        if not records:
            return
        now = time.time()
        latest = {r.path: r for r in records}  # a batch must not repeat a merge key
        cols: dict[str, list[Any]] = {f.name: [] for f in fields(FileRecord)}
        for rec in latest.values():
            for f in fields(FileRecord):
                cols[f.name].append(getattr(rec, f.name))
        cols["stage"] = [FileStage(s).value for s in cols["stage"]]
        cols["ext"] = [normalize_ext(e) for e in cols["ext"]]
        cols["updated_at"] = [u or now for u in cols["updated_at"]]
        data = pa.table(cols, schema=files_schema())
        with self._write_lock:
            self._t.writer("files").merge_insert(
                "path"
            ).when_matched_update_all().when_not_matched_insert_all().execute(data)
            self._t.committed("files")
        self._compact_while_busy()

    @storage_op
    def set_stage(self, path: str, stage: FileStage, reason: str = "") -> None:
        self.set_stages([path], stage, reason)

    @storage_op
    def set_stages(self, paths: Sequence[str], stage: FileStage, reason: str = "") -> None:
        """Set the stage of many files in one commit."""
        self._check_writable()
        if not paths:
            return
        with self._write_lock:
            self._t.writer("files").update(
                where=sql_in("path", list(dict.fromkeys(paths))),
                values={"stage": FileStage(stage).value, "reason": reason,
                        "updated_at": time.time()},
            )  # fmt: skip
            self._t.committed("files")
        self._compact_while_busy()

    @read_op
    def counts_by_stage(self) -> dict[str, int]:
        """Number of files per stage value (stages with no files are absent)."""
        col = self._t.reader("files").search().select(["stage"]).limit(None).to_arrow()["stage"]
        counts = col.value_counts().to_pylist() if len(col) else []
        return {c["values"]: c["counts"] for c in counts}

    @read_op
    def file_count(self) -> int:
        return self._t.reader("files").count_rows()

    @storage_op
    def remove_files(self, paths: Sequence[str]) -> None:
        """Forget files: one delete per table (an escaped IN list), then tell the sinks."""
        self._check_writable()
        paths = list(dict.fromkeys(paths))
        if not paths:
            return
        where = sql_in("path", paths)
        with self._write_lock:
            self._t.chunk_paths.applied(self._t.writer("chunks").delete(where), removed=paths)
            self._t.writer("files").delete(where)
            self._t.committed("chunks")
            self._t.committed("files")
            for sink in self._sinks:
                sink.remove_paths(paths)
        self._compact_while_busy()

    # ----------------------------------------------------------------- chunks
    @storage_op
    def replace_chunks(
        self,
        path: str,
        folder: str,
        ext: str,
        chunks: Sequence[Chunk],
        reuse: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[str, ...]:
        """Replace all chunks of `path` (one delete + one add); return ids that need vectors.

        A chunk whose `text_hash` has a vector in `reuse` (default: `vectors_for_hashes`, which
        covers this file's old chunks and every other file) is written embedded with that
        vector; an unchanged chunk also keeps its old id. Keyword search sees the new text as
        soon as this returns.
        """
        self._check_writable()
        if reuse is None:
            reuse = self.vectors_for_hashes(c.text_hash for c in chunks)
        where = f"path = {sql_str(path)}"
        old_rows: list[dict[str, Any]] = []
        if self._t.chunk_paths.has_rows(path):  # a new file has none: no lookup, no delete
            old_rows = self._t.select("chunks", where, columns=["id", "text_hash"], own=True)
        old_ids: dict[str, list[str]] = {}
        for row in old_rows:
            old_ids.setdefault(row["text_hash"], []).append(row["id"])
        rows = chunk_rows(path, folder, normalize_ext(ext), chunks, self.dim, reuse, old_ids)
        with self._write_lock:
            table = self._t.writer("chunks")
            if old_rows:
                self._t.chunk_paths.applied(table.delete(where), removed=[path])
                self._t.committed("chunks")
            if rows.table.num_rows:
                self._t.chunk_paths.applied(table.add(rows.table), added=[path])
                self._t.committed("chunks")
            for sink in self._sinks:
                sink.remove_paths([path])
                if rows.reused_ids:
                    sink.upsert(rows.reused_ids, rows.reused_vectors, [path] * len(rows.reused_ids))
        self._compact_while_busy()
        return rows.pending_ids

    @read_op
    def vectors_for_hashes(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Existing vectors for these text hashes, from any embedded chunk of any file."""
        rows = self._t.select_in(
            "text_hash", hashes, ["text_hash", "vector"], "embedded = true AND "
        )
        out: dict[str, np.ndarray] = {}
        for row in rows:
            out.setdefault(row["text_hash"], np.asarray(row["vector"], dtype=np.float32))
        return out

    @storage_op
    def remove_chunks(self, paths: Sequence[str]) -> None:
        """Drop the chunks of these files but keep their file rows (e.g. a file that now fails)."""
        self._check_writable()
        paths = list(dict.fromkeys(paths))
        if not paths:
            return
        with self._write_lock:
            deleted = self._t.writer("chunks").delete(sql_in("path", paths))
            self._t.chunk_paths.applied(deleted, removed=paths)
            self._t.committed("chunks")
            for sink in self._sinks:
                sink.remove_paths(paths)
        self._compact_while_busy()

    @read_op
    def pending_embeddings(self, limit: int | None = 256) -> list[tuple[str, str]]:
        """Chunks without vectors as (id, embed_text), at most `limit` (None: all).

        `embed_text` equals `Chunk.embed_text`: the heading path, a newline, then the text.
        """
        rows = self._t.select(
            "chunks", "embedded = false", columns=["id", "heading", "text"], limit=limit
        )
        return [(r["id"], embed_text(r)) for r in rows]

    @read_op
    def pending_chunk_paths(self) -> list[tuple[str, str]]:
        """Every chunk without a vector as (id, path), in table order, without its text (a
        restart may find the whole index unembedded; the texts are read back in batches)."""
        rows = self._t.select("chunks", "embedded = false", columns=["id", "path"])
        return [(r["id"], r["path"]) for r in rows]

    @read_op
    def embed_texts(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """{id: (path, embed_text)} of those chunks that still exist and have no vector yet
        (`embed_text` as in `pending_embeddings`); any thread."""
        rows = self._t.select_in(
            "id", ids, ["id", "path", "heading", "text"], "embedded = false AND "
        )
        return {r["id"]: (r["path"], embed_text(r)) for r in rows}

    @read_op
    def pending_count(self) -> int:
        return self._t.reader("chunks").count_rows("embedded = false")

    @storage_op
    def set_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> int:
        """Store vectors for chunk ids in one commit; return how many rows still existed.

        Ids whose chunk was replaced or removed while it was being embedded are skipped.
        """
        self._check_writable()
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.shape != (len(ids), self.dim):
            raise ValueError(
                f"expected vectors of shape ({len(ids)}, {self.dim}), got {matrix.shape}"
            )
        latest = {cid: i for i, cid in enumerate(ids)}  # last wins on duplicates
        with self._write_lock:
            found = self._t.select_in("id", latest, ["id", "path"], own=True)
            paths = {r["id"]: r["path"] for r in found}
            keep = [cid for cid in latest if cid in paths]
            if not keep:
                return 0
            rows = matrix[[latest[cid] for cid in keep]]
            data = pa.table(
                {
                    "id": keep,
                    "embedded": [True] * len(keep),
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(rows.ravel()), self.dim),
                }
            )
            merge = self._t.writer("chunks").merge_insert("id").when_matched_update_all()
            self._t.chunk_paths.applied(merge.execute(data))  # same rows, same paths
            self._t.committed("chunks")
            for sink in self._sinks:
                sink.upsert(keep, rows, [paths[cid] for cid in keep])
        self._compact_while_busy()
        return len(keep)

    @read_op
    def chunk_count(self) -> int:
        return self._t.reader("chunks").count_rows()

    @read_op
    def get_chunks(
        self,
        ids: Sequence[str],
        *,
        with_vectors: bool = False,
        columns: Sequence[str] = CHUNK_COLUMNS,
    ) -> list[dict[str, Any]]:
        """Chunk rows as dicts (`columns`, which must include `id`), in the order of `ids`;
        unknown ids are left out."""
        cols = [*columns, "vector"] if with_vectors else list(columns)
        found = {row["id"]: row for row in self._t.select_in("id", ids, cols)}
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    @read_op
    def chunks_for_file(self, path: str, *, with_vectors: bool = False) -> list[dict[str, Any]]:
        cols = [*CHUNK_COLUMNS, "vector"] if with_vectors else list(CHUNK_COLUMNS)
        rows = self._t.select("chunks", f"path = {sql_str(path)}", cols)
        return sorted(rows, key=lambda r: r["ordinal"])

    @read_op
    def keyword_search(
        self,
        query: str,
        limit: int,
        where: str | None = None,
        *,
        columns: Sequence[str] = CHUNK_COLUMNS,
    ) -> list[dict[str, Any]]:
        """BM25 top-`limit` chunk rows (`columns` and `_score`) for any user text; never a
        parser error. Fewer columns are cheaper (see `HIT_COLUMNS`)."""
        text = fts_query_text(query)
        if not text or limit <= 0:
            return []
        q = self._t.reader("chunks").search(MatchQuery(text, "text"), query_type="fts")
        if where:
            q = q.where(where, prefilter=True)
        arrow = q.select([*columns, "_score"]).limit(limit).to_arrow()
        return arrow.to_pylist()

    @read_op
    def tokenize(self, text: str) -> list[str]:
        """Index terms of `text` in order, as the full-text index sees them (stemmed, no stop words)."""
        return [t.text for t in self._t.reader("chunks").tokenize(text, column="text")]

    @read_op
    def embedded_paths(self) -> dict[str, str]:
        """{chunk id: path} of every embedded chunk, without vectors (for `ExactVectorIndex.sync`)."""
        q = self._t.reader("chunks").search().where("embedded = true").select(["id", "path"])
        table = q.limit(None).to_arrow()
        return dict(zip(table["id"].to_pylist(), table["path"].to_pylist(), strict=True))

    @storage_op
    def embedded_batches(
        self, batch_rows: int = 32768
    ) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        """All embedded chunks as (ids, paths, vectors) batches, for loading an in-memory index."""
        query = self._t.reader("chunks").search().where("embedded = true")
        reader = query.select(["id", "path", "vector"]).limit(None).to_batches(batch_rows)
        for batch in reader:
            if batch.num_rows:
                yield (
                    batch.column("id").to_pylist(),
                    batch.column("path").to_pylist(),
                    vector_matrix(batch.column("vector"), self.dim),
                )

    @property
    def tables(self) -> TableSet:
        """The table handles (`store_tables.TableSet`), for diagnostics, benchmarks and tests:
        index statistics, cache sizes, a handle made to fail (a full disk). Normal code uses the
        methods above: writing through these bypasses the single-writer lock and bookkeeping."""
        return self._t


def _no_index(index_dir: Path) -> StoreError:
    return StoreError(f"There is no index in {index_dir} yet.", hint="Add a folder in the "
                      "Cairn window (or `cairn folders add` and `cairn index`) first.")
