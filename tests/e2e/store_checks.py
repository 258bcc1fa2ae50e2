"""Invariants of the index store that the end-to-end tests check after every hostile scenario."""

from __future__ import annotations

from collections import Counter

from indexer.events import FileStage
from indexer.service import KnowledgeBase


def assert_store_consistent(kb: KnowledgeBase) -> None:
    """No duplicate chunk rows per file, no chunks of files the files table does not know."""
    store = kb.store
    assert store is not None
    records = store.list_files()
    known = {f.path for f in records}
    assert len(known) == len(records), "duplicate rows in the files table"
    total = 0
    for f in records:
        rows = store.chunks_for_file(f.path)
        total += len(rows)
        ordinals = Counter(r["ordinal"] for r in rows)
        assert all(n == 1 for n in ordinals.values()), f"duplicate chunk ordinals for {f.path!r}"
        assert len({r["id"] for r in rows}) == len(rows), f"duplicate chunk ids for {f.path!r}"
        if f.stage in (FileStage.FAILED, FileStage.SKIPPED):
            assert not rows, f"{f.stage} file {f.path!r} still has chunks"
        if f.stage == FileStage.EMBEDDED:
            assert len(rows) == f.chunk_count and all(r["embedded"] for r in rows)
    # Every chunk row belongs to a known file: the per-file counts add up to the table.
    assert store.chunk_count() == total, "chunk rows for files not in the files table"
