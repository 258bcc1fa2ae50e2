"""KnowledgeBase across scans and restarts (fake models, real LanceDB in tmp_path).

Pinned here:
- restart reconciliation: files added, changed and deleted while Cairn was closed are found by the
  next open + scan (ScanFinished counts), unchanged files are neither re-parsed nor re-embedded;
- a rescan after a rename made with the watcher off reuses every vector;
- a delete and removing a watched folder drop rows (store and vector index) and the removal is
  persisted, so a restart does not bring the folder back;
- the embedding model id and dimension are stored with the index: opening the home with another
  embedder rebuilds it (docs/architecture.md: "a mismatch rebuilds beside the old index and swaps,
  never mixing vectors"), so every vector afterwards comes from the new model, even when the
  dimension is the same and the old vectors would fit;
- a new chunk size re-chunks every file on the next scan (chunk_signature) and re-embeds only
  chunk texts that did not exist before;
- a file that loses its chunks (grown over the size limit, or emptied) gets a files-table row that
  describes it as it is now, so the GUI shows no phantom chunks and the next scan leaves it alone;
- one writer: `retry`, `index()`'s settle and the start-up promotion of fully embedded files
  write on the `cairn-writer` thread, not on the caller's (docs/architecture.md, threads).

Why: the scanner is the only thing that sees changes made while Cairn was closed, and mixing the
vectors of two models gives silently wrong search results that no error ever reveals.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.errors import StoreError
from indexer.events import (
    Event,
    FileEmbedded,
    FileParsed,
    FileRemoved,
    FileSkipped,
    FileStage,
    ScanFinished,
)
from indexer.ingest.changes import Change
from indexer.ingest.file_state import hash_file
from indexer.service import KnowledgeBase
from indexer.storage.store import IndexStore, rebuild_dir_for
from models.embedder import Vector
from tests.indexer.builders import (
    TIMEOUT,
    RecordingEmbedder,
    assert_vector_index_matches_store,
    embed_text,
    make_docs,
    make_settings,
    of_type,
    open_kb,
    paragraphs,
    pipe_of,
    rows,
    store_of,
    write_doc,
)


class RolledEmbedder(RecordingEmbedder):
    """Another "model": same words, different vectors (rolled by one), any dimension."""

    def _vector(self, text: str) -> Vector:
        return np.roll(super()._vector(text), 1)


def all_rows(kb: KnowledgeBase, with_vectors: bool = False) -> list[dict[str, Any]]:
    return [r for f in kb.files()
            for r in store_of(kb).chunks_for_file(f.path, with_vectors=with_vectors)]


# --------------------------------------------------------------------------- restarts and rescans
def test_restart_finds_changes_made_while_closed(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    keep, edit, drop = docs / "keep.txt", docs / "edit.txt", docs / "drop.txt"
    new = docs / "s" / "new.md"
    write_doc(keep, paragraphs("keep", 3))
    edited = paragraphs("edit", 4)
    write_doc(edit, edited)
    write_doc(drop, paragraphs("dropword", 2))
    settings = make_settings(tmp_path / "home", [docs], chunk_tokens=32, chunk_overlap_tokens=0)
    kb, _ = open_kb(settings)
    kb.index(timeout=TIMEOUT)
    old_hashes = {r["text_hash"] for r in all_rows(kb)}
    created = store_of(kb).meta()["created_at"]
    kb.close()

    edited[1] = "A brand new second paragraph about lighthouses."
    write_doc(edit, [*edited, "And one more closing paragraph."])
    drop.unlink()
    write_doc(new, ["# New", "Notes about submarines and their periscopes."])

    events: list[Event] = []
    kb, emb = open_kb(settings, on_event=events.append)
    try:
        plan = kb.index(timeout=TIMEOUT)
        assert (plan.added, plan.changed, plan.removed, plan.unchanged) == (1, 1, 1, 1)
        assert of_type(events, ScanFinished) == [plan]
        assert store_of(kb).meta()["created_at"] == created, "same model: no rebuild"

        assert sorted(f.path for f in kb.files()) == sorted(map(str, (keep, edit, new)))
        assert all(f.stage == FileStage.EMBEDDED for f in kb.files())
        assert not of_type(events, FileParsed, keep) and not of_type(events, FileEmbedded, keep)
        fresh = [r for p in (edit, new) for r in rows(kb, p) if r["text_hash"] not in old_hashes]
        assert fresh and sorted(emb.texts) == sorted(embed_text(r) for r in fresh)
        assert len(fresh) < len(rows(kb, edit)) + len(rows(kb, new))
        assert kb.search("dropword1w1", 5, mode="bm25") == []
        assert kb.search("lighthouses", 1, mode="bm25")[0].anchor.path == str(edit)
        assert kb.search("periscopes", 1, mode="bm25")[0].anchor.path == str(new)
        assert_vector_index_matches_store(kb)
        again = kb.index(timeout=TIMEOUT)
        assert (again.added, again.changed, again.removed, again.unchanged) == (0, 0, 0, 3)
    finally:
        kb.close()


def test_rescan_after_rename_with_watcher_off_reuses_vectors(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    write_doc(docs / "a.txt", paragraphs("eps", 4))
    kb, emb = open_kb(make_settings(tmp_path / "home", [docs], chunk_tokens=32))
    try:
        kb.index(timeout=TIMEOUT)
        mark = len(emb.texts)
        os.rename(docs / "a.txt", docs / "b.txt")
        plan = kb.index(timeout=TIMEOUT)
        assert (plan.added, plan.removed) == (1, 1)
        assert emb.since(mark) == []
        assert [Path(r.path).name for r in kb.files()] == ["b.txt"]
        assert all(r["embedded"] for r in rows(kb, docs / "b.txt"))
        assert_vector_index_matches_store(kb)
    finally:
        kb.close()
def test_delete_and_remove_folder_drop_rows(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    other = (tmp_path / "other").resolve()
    write_doc(docs / "gone.txt", paragraphs("zeta", 3))
    write_doc(docs / "stay.txt", paragraphs("eta", 3))
    write_doc(other / "x.txt", paragraphs("theta", 3))
    write_doc(other / "sub" / "y.txt", paragraphs("iota", 3))
    events: list[Event] = []
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs, other], chunk_tokens=32),
                    on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        assert len(kb.files()) == 4
        (docs / "gone.txt").unlink()
        pipe_of(kb).submit([Change("delete", str(docs / "gone.txt"))])
        assert kb.wait_idle(TIMEOUT)
        assert of_type(events, FileRemoved, docs / "gone.txt")
        assert rows(kb, docs / "gone.txt") == []
        assert kb.search("zeta1w1", 5, mode="bm25") == []
        assert_vector_index_matches_store(kb)

        kb.remove_folder(other)
        assert kb.wait_idle(TIMEOUT)
        assert [r.path for r in kb.files()] == [str(docs / "stay.txt")]
        assert store_of(kb).chunk_count() == len(rows(kb, docs / "stay.txt"))
        for mode in ("bm25", "vector"):
            hits = kb.search("theta1w1 iota1w1", 10, mode=mode)  # type: ignore[arg-type]
            assert all(h.anchor.path == str(docs / "stay.txt") for h in hits)
        assert_vector_index_matches_store(kb)
        assert (other / "x.txt").exists(), "removing a folder never touches the documents"
        # The removal sticks: a rescan, and a restart with the saved settings, leave it out.
        assert kb.index(timeout=TIMEOUT).added == 0
    finally:
        kb.close()
    saved = make_settings(tmp_path / "home", chunk_tokens=32)  # the saved folders
    assert saved.folders == [docs]
    kb, emb = open_kb(saved)
    try:
        plan = kb.index(timeout=TIMEOUT)
        assert (plan.added, plan.removed, plan.unchanged) == (0, 0, 1)
        assert [r.path for r in kb.files()] == [str(docs / "stay.txt")] and emb.texts == []
    finally:
        kb.close()




def test_file_that_loses_its_chunks_gets_a_row_describing_it_as_it_is_now(tmp_path: Path) -> None:
    """Bug pin: a file indexed before, then grown over the limit (skipped) or emptied (failed),
    keeps the old row's chunk_count (shown per file in the GUI) and, when skipped, its old
    size/mtime/hash, so every later scan reports it changed and skips it again."""
    docs = make_docs(tmp_path)
    grows, emptied = docs / "grows.txt", docs / "emptied.txt"
    write_doc(grows, paragraphs("small", 1))
    write_doc(emptied, paragraphs("kappa", 2))
    events: list[Event] = []
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs], max_file_mb=0.002),
                    on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        write_doc(grows, paragraphs("small", 40))
        emptied.write_bytes(b"")
        assert kb.index(timeout=TIMEOUT).changed == 2
        n_skipped = len(of_type(events, FileSkipped, grows))
        stale: dict[str, tuple[object, object]] = {}
        for f, stage in ((grows, FileStage.SKIPPED), (emptied, FileStage.FAILED)):
            rec = store_of(kb).get_file(str(f))
            assert rec is not None and rec.stage == stage and rows(kb, f) == []
            st = f.stat()
            # The stored hash may be "" (unknown) or the current bytes', never the old content's.
            hash_ok = rec.content_hash in ("", hash_file(f)[0])
            for field, got, want in (("size", rec.size, st.st_size),
                                     ("mtime_ns", rec.mtime_ns, st.st_mtime_ns),
                                     ("chunk_count", rec.chunk_count, 0),
                                     ("content_hash", rec.content_hash, rec.content_hash
                                      if hash_ok else "'' or the current hash")):
                if got != want:
                    stale[f"{f.name}.{field}"] = (got, want)
        assert stale == {}, "rows still describe the old content: {name: (stored, actual)}"
        # Neither file changed again: the next scan leaves both alone.
        plan = kb.index(timeout=TIMEOUT)
        assert (plan.changed, plan.unchanged) == (0, 2)
        assert len(of_type(events, FileSkipped, grows)) == n_skipped
    finally:
        kb.close()


# ------------------------------------------------------------------------- model and chunk settings
@pytest.mark.parametrize(
    "new_model",
    [
        pytest.param(lambda: RolledEmbedder(dim=384, model_id="fake-v2"), id="same-dim"),
        pytest.param(lambda: RolledEmbedder(dim=64, model_id="fake-small"), id="other-dim"),
    ],
)
def test_other_embedding_model_rebuilds_and_never_mixes_vectors(
    tmp_path: Path, new_model: Any
) -> None:
    docs = make_docs(tmp_path)
    for name in ("a", "b", "c"):
        write_doc(docs / f"{name}.txt", paragraphs(f"{name}topic", 3))
    settings = make_settings(tmp_path / "home", [docs], chunk_tokens=32)
    kb, first = open_kb(settings)
    kb.index(timeout=TIMEOUT)
    old_meta, n_chunks = store_of(kb).meta(), store_of(kb).chunk_count()
    assert (old_meta["embed_model_id"], old_meta["embed_dim"]) == (first.model_id, "384")
    kb.close()

    new: RecordingEmbedder = new_model()
    assert new.model_id != first.model_id
    kb, _ = open_kb(settings, new)
    try:
        plan = kb.index(timeout=TIMEOUT)
        store = store_of(kb)
        meta = store.meta()
        assert (meta["embed_model_id"], meta["embed_dim"]) == (new.model_id, str(new.dim))
        assert store.dim == new.dim and not store.needs_rebuild
        assert plan.added == 3, "the rebuilt index starts empty and every file is indexed again"
        assert not rebuild_dir_for(store.index_dir).exists()

        chunks = all_rows(kb, with_vectors=True)
        assert len(chunks) == n_chunks
        # Every chunk was embedded by the new model; none kept an old model's vector.
        assert sorted(new.texts) == sorted(embed_text(r) for r in chunks)
        for r in chunks:
            assert r["embedded"] and len(r["vector"]) == new.dim
            np.testing.assert_allclose(r["vector"], new.embed_query(embed_text(r)), atol=1e-6)
        assert_vector_index_matches_store(kb)
        hits = kb.search("btopic1w3", 1, mode="vector")
        assert hits and hits[0].anchor.path == str(docs / "b.txt")
    finally:
        kb.close()


def test_one_shot_index_leaves_no_row_outside_the_full_text_index(tmp_path: Path) -> None:
    """`cairn index` / `cairn eval --folder` search right after indexing: keyword scores must
    already be the settled ones (docs/quality.md: BM25 MRR@10 0.894 unsettled, 0.917 settled)."""
    docs = make_docs(tmp_path)
    for i in range(5):
        write_doc(docs / f"n{i}.md", paragraphs(f"topic{i}", 3))
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]))
    try:
        kb.index(timeout=TIMEOUT)
        stats = kb.store.tables.reader("chunks").index_stats("text_idx")
        assert stats.num_unindexed_rows == 0 and stats.num_indexed_rows == kb.status().chunks > 0
    finally:
        kb.close()


def test_the_idle_writer_settles_rows_left_outside_the_full_text_index(tmp_path: Path) -> None:
    """Live sync (GUI, `cairn watch`) never calls `index()`: the writer settles once idle and
    `min_interval_s` after its last compaction (0 here; 30 s by default)."""
    docs = make_docs(tmp_path)
    write_doc(docs / "one.md", paragraphs("harbour", 2))
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]))
    try:
        kb.store.policy = replace(kb.store.policy, min_interval_s=3600.0)
        kb.scan()
        assert kb.wait_idle(TIMEOUT)

        def unindexed() -> int:
            return int(kb.store.tables.reader("chunks").index_stats("text_idx").num_unindexed_rows)

        assert unindexed() > 0  # a few fragments: no compaction is due
        kb.store.policy = replace(kb.store.policy, min_interval_s=0.0)
        deadline = time.monotonic() + 20
        while unindexed() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert unindexed() == 0
    finally:
        kb.close()


def test_fusion_settings_reach_the_retriever(tmp_path: Path) -> None:
    kb, _ = open_kb(make_settings(tmp_path / "home", [make_docs(tmp_path)],
                                  fusion_k=5, bm25_weight=2.0))
    try:
        assert (kb.retriever.k_rrf, kb.retriever.weights) == (5, (2.0, 1.0))
    finally:
        kb.close()


def test_chunk_size_change_rechunks_and_reuses_unchanged_vectors(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    guide, small = docs / "guide.md", docs / "small.txt"
    guide.write_text(
        "# Guide\n\n## Apples\n\nApples are crisp in autumn.\n\n"
        "## Pears\n\nPears ripen off the tree.\n\n## Rivers\n\n"
        + "\n\n".join(paragraphs("river", 12)) + "\n",
        encoding="utf-8",
    )
    small.write_text("A short note on otters.\n", encoding="utf-8")
    home = tmp_path / "home"
    kb, _ = open_kb(make_settings(home, [docs], chunk_tokens=200))
    kb.index(timeout=TIMEOUT)
    before = {p: rows(kb, p) for p in (guide, small)}
    old_hashes = {r["text_hash"] for rs in before.values() for r in rs}
    kb.close()

    events: list[Event] = []
    kb, emb = open_kb(make_settings(home, [docs], chunk_tokens=48), on_event=events.append)
    try:
        plan = kb.index(timeout=TIMEOUT)
        assert (plan.changed, plan.unchanged) == (2, 0), "every file is re-chunked"
        sig = pipe_of(kb).chunk_signature
        assert sig.startswith("@c48") and all(f.parser.endswith(sig) for f in kb.files())
        assert all(f.stage == FileStage.EMBEDDED for f in kb.files())

        after = rows(kb, guide)
        assert len(after) > len(before[guide])
        fresh = [r for r in after if r["text_hash"] not in old_hashes]
        assert 0 < len(fresh) < len(after), "unchanged chunk texts keep their vectors"
        assert sorted(emb.texts) == sorted(embed_text(r) for r in fresh)
        last = of_type(events, FileEmbedded, guide)[-1]
        assert (last.embedded, last.reused) == (len(fresh), len(after) - len(fresh))
        assert [r["text_hash"] for r in rows(kb, small)] == [r["text_hash"] for r in before[small]]
        assert of_type(events, FileEmbedded, small)[-1].embedded == 0
        assert store_of(kb).pending_count() == 0
        assert_vector_index_matches_store(kb)
        assert kb.index(timeout=TIMEOUT).unchanged == 2, "re-chunked once, not on every scan"
    finally:
        kb.close()


# --------------------------------------------------------------------------- one writer thread
STORE_WRITES = ("upsert_files", "set_stage", "set_stages", "remove_files", "move_file",
                "move_prefix", "replace_chunks", "remove_chunks", "set_vectors", "maintain",
                "settle")


@pytest.fixture
def store_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every store write made during the test, as (method, name of the thread that made it)."""
    seen: list[tuple[str, str]] = []
    for name in STORE_WRITES:
        real = getattr(IndexStore, name)

        def wrapper(self: IndexStore, *args: Any, _real: Any = real, _name: str = name,
                    **kwargs: Any) -> Any:
            seen.append((_name, threading.current_thread().name))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(IndexStore, name, wrapper)
    return seen


def test_retry_and_index_write_on_the_writer_thread(
    tmp_path: Path, store_writes: list[tuple[str, str]]
) -> None:
    docs = make_docs(tmp_path)
    write_doc(docs / "a.txt", paragraphs("alpha", 3))
    empty = docs / "empty.txt"
    empty.write_text("", encoding="utf-8")  # fails: no text could be extracted
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs], chunk_tokens=32))
    try:
        kb.index(timeout=TIMEOUT)
        assert ("settle", "cairn-writer") in store_writes  # done before index() returned
        assert store_of(kb).get_file(str(empty)).stage == FileStage.FAILED  # type: ignore[union-attr]

        write_doc(empty, paragraphs("fixed", 2))
        kb.set_paused(True)  # a paused writer still takes ops: retry must not hang
        before = len(store_writes)
        kb.retry(str(empty))
        record = store_of(kb).get_file(str(empty))
        assert record is not None and record.stage == FileStage.QUEUED
        assert ("set_stages", "cairn-writer") in store_writes[before:]
        kb.set_paused(False)
        kb.index(timeout=TIMEOUT)
        record = store_of(kb).get_file(str(empty))
        assert record is not None and record.stage == FileStage.EMBEDDED
        assert kb.search("fixed1w3", mode="bm25")
    finally:
        kb.close()
    off_writer = {(name, thread) for name, thread in store_writes if thread != "cairn-writer"}
    assert not off_writer, f"store writes off the writer thread: {off_writer}"


def test_retry_many_files_is_one_writer_job(
    tmp_path: Path, store_writes: list[tuple[str, str]]
) -> None:
    """Re-chunking re-queues every file: one job on the writer, every row `queued` on return."""
    docs = make_docs(tmp_path)
    for name in ("a", "b", "c"):
        write_doc(docs / f"{name}.txt", paragraphs(name, 2))
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs], chunk_tokens=32))
    try:
        kb.index(timeout=TIMEOUT)
        kb.retry()  # nothing to do: returns at once, writes nothing
        kb.set_paused(True)
        before = len(store_writes)
        paths = [str(docs / f"{name}.txt") for name in ("a", "b", "c")]
        kb.retry(*paths)
        assert all(store_of(kb).get_file(p).stage == FileStage.QUEUED  # type: ignore[union-attr]
                   for p in paths)
        assert store_writes[before] == ("set_stages", "cairn-writer")  # one commit for all
        assert ("set_stage", "cairn-writer") not in store_writes[before:]
        kb.set_paused(False)
        kb.index(timeout=TIMEOUT)
        assert all(store_of(kb).get_file(p).stage == FileStage.EMBEDDED  # type: ignore[union-attr]
                   for p in paths)
    finally:
        kb.close()
    assert all(thread == "cairn-writer" for _, thread in store_writes)


def test_start_up_promotion_writes_on_the_writer_thread(
    tmp_path: Path, store_writes: list[tuple[str, str]]
) -> None:
    """A crash between the last vectors and the stage update leaves a file `parsed` with every
    vector stored; the next start marks it `embedded`, on the writer thread too."""
    docs = make_docs(tmp_path)
    f = docs / "a.txt"
    write_doc(f, paragraphs("alpha", 3))
    settings = make_settings(tmp_path / "home", [docs], chunk_tokens=32)
    kb, _ = open_kb(settings)
    try:
        kb.index(timeout=TIMEOUT)
        store = store_of(kb)
        pipe_of(kb).on_writer(lambda: store.set_stage(str(f), FileStage.PARSED))
    finally:
        kb.close()
    kb, _ = open_kb(settings)
    try:
        record = store_of(kb).get_file(str(f))  # promoted before open() returned
        assert record is not None and record.stage == FileStage.EMBEDDED
    finally:
        kb.close()
    assert store_writes.count(("set_stage", "cairn-writer")) == 2
    assert all(thread == "cairn-writer" for _, thread in store_writes), store_writes


def test_writer_ops_report_errors_and_a_stopped_pipeline(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]))
    pipeline = pipe_of(kb)
    try:
        assert pipeline.on_writer(lambda: threading.current_thread().name) == "cairn-writer"

        def broken() -> None:
            raise ValueError("op failed")

        with pytest.raises(ValueError, match="op failed"):
            pipeline.on_writer(broken)
        assert pipeline.on_writer(lambda: 7, timeout=TIMEOUT) == 7  # the writer lives on
    finally:
        kb.close()
    with pytest.raises(StoreError):
        pipeline.on_writer(lambda: None)
