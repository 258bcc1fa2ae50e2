"""What the index looks like on disk: table schemas, row records and the rebuild/swap layout.

Kept apart from `indexer.storage.store` (the operations) so the shape of the data can be read in one
place; bump `SCHEMA_VERSION` whenever a schema here changes; `IndexStore.open` then reports
`needs_rebuild` instead of reading rows it does not understand.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from indexer.events import FileStage
from indexer.records import Chunk

SCHEMA_VERSION = 1
REBUILD_MARKER = "REBUILD_COMPLETE"  # written into a rebuild directory once it is complete
CHUNK_COLUMNS = (
    "id",
    "path",
    "folder",
    "ext",
    "ordinal",
    "text",
    "heading",
    "page",
    "line_start",
    "line_end",
    "char_start",
    "char_end",
    "kind",
    "text_hash",
    "embedded",
)  # fmt: skip  (every chunk column except `vector`)
# What a search hit shows: its text and citation anchor. Reading fewer columns is most of the
# cost of fetching a few rows at 100k chunks (10 rows: 8.0 ms CPU for every column above,
# 6.7 ms for these, 3.4 ms for the id alone), so search asks for these only.
HIT_COLUMNS = (
    "id", "path", "text", "heading", "page", "line_start", "line_end", "char_start", "char_end",
    "kind",
)  # fmt: skip


def files_schema() -> pa.Schema:
    return pa.schema(
        [("path", pa.string()), ("folder", pa.string()), ("ext", pa.string()),
         ("size", pa.int64()), ("mtime_ns", pa.int64()), ("content_hash", pa.string()),
         ("stage", pa.string()), ("reason", pa.string()), ("parser", pa.string()),
         ("chunk_count", pa.int32()), ("updated_at", pa.float64())]
    )  # fmt: skip


def chunks_schema(dim: int) -> pa.Schema:
    """`page`, `line_*` use 0 for "none"; `heading` is the heading path joined with " > ";
    `vector` holds zeros until `embedded` is true."""
    i32, s = pa.int32(), pa.string()
    return pa.schema(
        [("id", s), ("path", s), ("folder", s), ("ext", s), ("ordinal", i32), ("text", s),
         ("heading", s), ("page", i32), ("line_start", i32), ("line_end", i32),
         ("char_start", i32), ("char_end", i32), ("kind", s), ("text_hash", s),
         ("embedded", pa.bool_()), ("vector", pa.list_(pa.float32(), dim))]
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One row of the `files` table: what the scanner knows about a file and its stage.

    `folder` is the watched folder the file was found under; `ext` is normalised (`.md`);
    `updated_at` (epoch seconds) is stamped by the store when left at 0.
    """

    path: str
    folder: str
    ext: str
    size: int
    mtime_ns: int
    content_hash: str
    stage: FileStage
    reason: str = ""
    parser: str = ""
    chunk_count: int = 0
    updated_at: float = 0.0


def file_record(row: Mapping[str, Any]) -> FileRecord:
    values = {f.name: row[f.name] for f in fields(FileRecord)}
    values["stage"] = FileStage(values["stage"])
    return FileRecord(**values)


@dataclass(frozen=True, slots=True)
class MaintenancePolicy:
    """When the store compacts a table (LanceDB `optimize()`), and what it keeps.

    Compaction cost grows with the table, not with the edit (LanceDB rewrites the small main
    fragment together with the new ones: ~0.3-0.6 s at 10k chunks, 1-2 s at 100k), while every
    commit adds a fragment that slows reads, writes and lookups, and rows written since the last
    compaction are not in the scalar (path, id, text_hash) or full-text indexes: lookups scan them
    flat. `IndexStore.maintain()` compacts a table when it has more than `max_fragments`
    fragments and `min_interval_s` passed since its last compaction (sparse edits: small and
    tidy), or when it passes `hard_max_fragments` and `hard_min_interval_s` passed (a burst of
    edits: read latency stays bounded, and compaction costs at most one rewrite every few
    seconds instead of one per few edits).

    Writes also compact on their own (`bulk_commits`): a bulk run never goes idle, so without
    this, indexing 10k small files piled up ~300 fragments and unindexed rows and slowed from
    65 to 16 files/s as the per-file lookups grew. After `bulk_commits` commits the next write
    compacts, but never sooner than `bulk_spacing` times the last compaction's duration after
    it, so compaction takes at most ~1/(1 + bulk_spacing) of a bulk run however large the table
    grows. 0 turns this off.

    Versions younger than `retain_versions` survive; readers move to the newest version
    after every commit of this process's writer (within a second for other processes), so only
    a query in flight across a compaction touches an older one, and reads retry once.
    """

    max_fragments: int = 8
    min_interval_s: float = 30.0
    hard_max_fragments: int = 24
    hard_min_interval_s: float = 2.0
    bulk_commits: int = 48
    bulk_spacing: float = 3.0
    retain_versions: timedelta = timedelta(seconds=10)


class VectorSink(Protocol):
    """Receives every change to embedded vectors (implemented by `ExactVectorIndex`).

    Called on the writer thread right after each commit, so an in-memory index never drifts
    from the table. Every call is idempotent, which lets a sink subscribe and then load a snapshot.
    """

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, paths: Sequence[str]) -> None: ...

    def remove_paths(self, paths: Iterable[str]) -> None: ...

    def rename_paths(self, mapping: Mapping[str, str]) -> None: ...


def embed_text(row: Mapping[str, Any]) -> str:
    """What the embedder sees of a chunk row (`Chunk.embed_text`): heading path, newline, text."""
    return f"{row['heading']}\n{row['text']}" if row["heading"] else str(row["text"])


def vector_matrix(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    """A (rows, dim) float32 array from a fixed_size_list<float32> column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    flat = column.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(-1, dim)


# --------------------------------------------------------------------- rebuild and swap
def rebuild_dir_for(index_dir: Path) -> Path:
    """Where a rebuild of `index_dir` is built before `swap_in()` (a sibling directory)."""
    return index_dir.parent / (index_dir.name + ".rebuild")


def _old_dir_for(index_dir: Path) -> Path:
    return index_dir.parent / (index_dir.name + ".old")


def finish_swap(index_dir: Path) -> None:
    """Replace `index_dir` by its completed rebuild with two renames (each atomic)."""
    rebuild, old = rebuild_dir_for(index_dir), _old_dir_for(index_dir)
    if index_dir.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(index_dir, old)
    os.replace(rebuild, index_dir)
    (index_dir / REBUILD_MARKER).unlink(missing_ok=True)
    shutil.rmtree(old, ignore_errors=True)


def recover_interrupted_swap(index_dir: Path) -> None:
    """Finish (or undo) a swap that a crash interrupted between its renames."""
    rebuild, old = rebuild_dir_for(index_dir), _old_dir_for(index_dir)
    if (rebuild / REBUILD_MARKER).exists():
        finish_swap(index_dir)
    elif old.exists():
        if index_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, index_dir)


@dataclass(frozen=True, slots=True)
class ChunkRows:
    """One file's chunks as a single Arrow batch, plus what the writer must report about it."""

    table: pa.Table
    pending_ids: tuple[str, ...]  # written without a vector: to be embedded
    reused_ids: list[str]  # written with a reused vector
    reused_vectors: np.ndarray


def chunk_rows(
    path: str,
    folder: str,
    ext: str,
    chunks: Sequence[Chunk],
    dim: int,
    reuse: Mapping[str, np.ndarray],
    old_ids: dict[str, list[str]],
) -> ChunkRows:
    """Rows for `chunks`: a chunk with a known vector (by text hash) is written embedded, and
    one whose text hash matches an old chunk of the file takes over that chunk's id."""
    cols: dict[str, list[Any]] = {name: [] for name in CHUNK_COLUMNS}
    vectors = np.zeros((len(chunks), dim), dtype=np.float32)
    pending: list[str] = []
    for i, chunk in enumerate(chunks):
        h = chunk.text_hash
        same = old_ids.get(h)
        cid = same.pop() if same else uuid.uuid4().hex[:16]
        vec = reuse.get(h)
        if vec is not None:
            vectors[i] = np.asarray(vec, dtype=np.float32).reshape(dim)
        else:
            pending.append(cid)
        for name, value in (
            ("id", cid), ("path", path), ("folder", folder), ("ext", ext),
            ("ordinal", chunk.ordinal), ("text", chunk.text),
            ("heading", " > ".join(chunk.heading_path)), ("page", chunk.page or 0),
            ("line_start", chunk.line_start or 0), ("line_end", chunk.line_end or 0),
            ("char_start", chunk.char_start), ("char_end", chunk.char_end),
            ("kind", chunk.kind), ("text_hash", h), ("embedded", vec is not None),
        ):  # fmt: skip
            cols[name].append(value)
    vector_col = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)
    table = pa.table({**cols, "vector": vector_col}, schema=chunks_schema(dim))
    done = [i for i, embedded in enumerate(cols["embedded"]) if embedded]
    return ChunkRows(table, tuple(pending), [cols["id"][i] for i in done], vectors[done])
