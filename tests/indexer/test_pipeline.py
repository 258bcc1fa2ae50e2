"""IndexingPipeline via KnowledgeBase with the fake models: the indexing guarantees users rely on.

Pinned here, against a real LanceDB store in tmp_path (no watcher: changes are submitted the way
the watcher or the scanner would):

- an edit re-embeds only the chunks whose text changed; a touch (new mtime, same bytes) re-embeds
  and re-parses nothing and records the new mtime so the next scan skips the file;
- a file rename and a folder move re-point rows without re-embedding, in the store *and* the
  in-memory vector index; moving out of the watched folders drops the rows;
- a file over the size limit is skipped with a reason naming the limit (and loses old chunks);
  empty and text-less files fail with a reason and are never indexed as empty;
- ProgressUpdated ends at files_done == files_total with nothing pending, and shows an ETA while
  embedding; pause holds files between files and resume finishes them.

Why: these are the promises of docs/architecture.md ("a chunk whose text hash is unchanged is not
re-embedded; a move re-points rows; each file fails alone, visibly"). Embedding is the slow part,
so re-embedding on a rename or a touch is a real cost users would notice; stale rows are wrong
answers. The embedder is a `FakeEmbedder` that records every text it is given. Restarts, rescans,
deletes, folder removal, model and chunk-setting changes, and the rows of files that lose their
chunks are pinned in test_service.py.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from indexer.events import (
    Event,
    FileEmbedded,
    FileFailed,
    FileMoved,
    FileParsed,
    FileSkipped,
    FileStage,
    IndexIdle,
    ProgressUpdated,
)
from indexer.ingest.changes import Change
from indexer.ingest.pipeline import DEBOUNCE_S
from indexer.ingest.pipeline_vectors import _Pooled, take_window
from indexer.service import KnowledgeBase
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
    wait_for,
    write_doc,
)


# --------------------------------------------------------------------------- edits and touches
def test_paragraph_edit_reembeds_only_changed_chunks(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    f = docs / "notes.txt"
    paras = paragraphs("alpha", 8)
    write_doc(f, paras)
    events: list[Event] = []
    settings = make_settings(tmp_path / "home", [docs], chunk_tokens=32, chunk_overlap_tokens=0)
    kb, emb = open_kb(settings, on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        before = rows(kb, f)
        assert len(before) >= 4, "the fixture must give a multi-chunk file"
        assert sorted(emb.texts) == sorted(embed_text(r) for r in before)
        old_ids = {r["text_hash"]: r["id"] for r in before}
        mark, done_before = len(emb.texts), pipe_of(kb).progress.chunks_embedded

        paras[3] = paras[3].replace("alpha3w5", "zeppelin")
        write_doc(f, paras)
        assert kb.index(timeout=TIMEOUT).changed == 1

        after = rows(kb, f)
        fresh = [r for r in after if r["text_hash"] not in old_ids]
        assert 0 < len(fresh) < len(after)
        assert sorted(emb.since(mark)) == sorted(embed_text(r) for r in fresh)
        assert any("zeppelin" in r["text"] for r in fresh)
        assert pipe_of(kb).progress.chunks_embedded - done_before == len(fresh)
        for r in after:  # unchanged chunks keep their ids; every chunk has a vector
            assert r["embedded"]
            if r["text_hash"] in old_ids:
                assert r["id"] == old_ids[r["text_hash"]]
        last = of_type(events, FileEmbedded, f)[-1]
        assert (last.embedded, last.reused) == (len(fresh), len(after) - len(fresh))
        assert [h.anchor.path for h in kb.search("zeppelin", 3, mode="bm25")][:1] == [str(f)]
        assert_vector_index_matches_store(kb)
    finally:
        kb.close()


def test_touch_with_same_bytes_reembeds_and_reparses_nothing(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    f = docs / "same.txt"
    write_doc(f, paragraphs("beta", 5))
    write_doc(docs / "other.txt", paragraphs("gamma", 2))
    events: list[Event] = []
    kb, emb = open_kb(make_settings(tmp_path / "home", [docs], chunk_tokens=32),
                      on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        old = store_of(kb).get_file(str(f))
        assert old is not None and old.stage == FileStage.EMBEDDED
        ids = [r["id"] for r in rows(kb, f)]
        mark, n_events = len(emb.texts), len(events)

        st = f.stat()
        new_mtime = st.st_mtime_ns + 7_000_000_000
        os.utime(f, ns=(st.st_atime_ns, new_mtime))
        plan = kb.index(timeout=TIMEOUT)
        assert (plan.changed, plan.unchanged) == (1, 1)

        assert emb.since(mark) == []
        assert of_type(events[n_events:], FileParsed) == []
        rec = store_of(kb).get_file(str(f))
        assert rec is not None and rec.stage == FileStage.EMBEDDED
        assert rec.mtime_ns == new_mtime and rec.content_hash == old.content_hash
        assert [r["id"] for r in rows(kb, f)] == ids
        # The new mtime was recorded: the next scan does not even re-hash the file.
        assert kb.index(timeout=TIMEOUT).unchanged == 2
    finally:
        kb.close()


# --------------------------------------------------------------------------- moves and deletes
def test_rename_repoints_rows_without_reembedding(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    src, dest = docs / "draft.txt", docs / "final" / "report.txt"
    write_doc(src, paragraphs("delta", 4))
    events: list[Event] = []
    kb, emb = open_kb(make_settings(tmp_path / "home", [docs], chunk_tokens=32),
                      on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        ids = sorted(r["id"] for r in rows(kb, src))
        mark = len(emb.texts)
        dest.parent.mkdir()
        os.rename(src, dest)
        pipe_of(kb).submit([Change("move", str(src), str(dest))])
        assert kb.wait_idle(TIMEOUT)

        assert emb.since(mark) == []
        assert any(e.src == str(src) and e.dest == str(dest) for e in of_type(events, FileMoved))
        assert rows(kb, src) == [] and store_of(kb).get_file(str(src)) is None
        assert sorted(r["id"] for r in rows(kb, dest)) == ids
        rec = store_of(kb).get_file(str(dest))
        assert rec is not None and rec.stage == FileStage.EMBEDDED
        hits = kb.search("delta2w3", 3, mode="vector")
        assert hits and hits[0].anchor.path == str(dest)
        assert_vector_index_matches_store(kb)
    finally:
        kb.close()


def test_folder_move_repoints_all_files_and_move_out_deletes(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    for name in ("one", "two", "three"):
        write_doc(docs / "proj" / "deep" / f"{name}.txt", paragraphs(name, 3))
    write_doc(docs / "keep.txt", paragraphs("keep", 2))
    outside = (tmp_path / "outside").resolve()
    outside.mkdir()
    events: list[Event] = []
    kb, emb = open_kb(make_settings(tmp_path / "home", [docs], chunk_tokens=32),
                      on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        old = {Path(r.path).name: sorted(x["id"] for x in rows(kb, Path(r.path)))
               for r in kb.files()}
        mark = len(emb.texts)
        os.rename(docs / "proj", docs / "archive")
        pipe_of(kb).submit(
            [Change("move", str(docs / "proj"), str(docs / "archive"), is_dir=True)])
        assert kb.wait_idle(TIMEOUT)

        assert emb.since(mark) == []
        assert of_type(events, FileMoved)[-1].dest == str(docs / "archive")
        paths = sorted(r.path for r in kb.files())
        assert paths == sorted([str(docs / "keep.txt")] + [
            str(docs / "archive" / "deep" / f"{n}.txt") for n in ("one", "three", "two")])
        for p in paths:
            assert sorted(x["id"] for x in rows(kb, Path(p))) == old[Path(p).name]
        assert_vector_index_matches_store(kb)

        # Moved out of every watched folder: its rows go, nothing is embedded.
        shutil.move(str(docs / "archive"), str(outside / "archive"))
        pipe_of(kb).submit(
            [Change("move", str(docs / "archive"), str(outside / "archive"), is_dir=True)])
        assert kb.wait_idle(TIMEOUT)
        assert [r.path for r in kb.files()] == [str(docs / "keep.txt")]
        assert emb.since(mark) == []
        assert kb.search("one1w2", 5, mode="bm25") == []
        assert_vector_index_matches_store(kb)
    finally:
        kb.close()


# --------------------------------------------------------------------------- bad inputs
def test_file_over_size_limit_is_skipped_with_reason_naming_the_limit(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    big, grows = docs / "big.txt", docs / "grows.txt"
    write_doc(big, paragraphs("huge", 40))  # ~ 6 KB
    write_doc(grows, paragraphs("small", 1))
    assert big.stat().st_size > 2048 > grows.stat().st_size
    events: list[Event] = []
    kb, emb = open_kb(make_settings(tmp_path / "home", [docs], max_file_mb=0.002),
                      on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        skipped = of_type(events, FileSkipped, big)
        assert skipped and "0.002 MB limit" in skipped[0].reason
        rec = store_of(kb).get_file(str(big))
        assert rec is not None and rec.stage == FileStage.SKIPPED and "limit" in rec.reason
        assert (str(big), rec.reason) in kb.status().skipped
        assert rows(kb, big) == [] and not any("huge" in t for t in emb.texts)
        assert rows(kb, grows)
        assert kb.index(timeout=TIMEOUT).unchanged == 2  # a skipped file is not re-checked

        write_doc(grows, paragraphs("small", 40))  # now over the limit: old chunks must go
        kb.index(timeout=TIMEOUT)
        rec = store_of(kb).get_file(str(grows))
        assert rec is not None and rec.stage == FileStage.SKIPPED and "limit" in rec.reason
        assert of_type(events, FileSkipped, grows)
        assert rows(kb, grows) == [] and kb.search("small0w1", 5, mode="bm25") == []
        assert_vector_index_matches_store(kb)
    finally:
        kb.close()


def test_empty_and_textless_files_fail_visibly_and_are_never_indexed(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    empty, blank, tags = docs / "empty.txt", docs / "blank.md", docs / "tags.html"
    empty.write_bytes(b"")
    blank.write_text("   \n\n\t\n", encoding="utf-8")
    tags.write_text("<html><head><script>var x = 1;</script></head><body></body></html>",
                    encoding="utf-8")
    emptied = docs / "emptied.txt"
    write_doc(emptied, paragraphs("kappa", 2))
    events: list[Event] = []
    kb, emb = open_kb(make_settings(tmp_path / "home", [docs]), on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        assert rows(kb, emptied)
        emptied.write_bytes(b"")  # indexed before, empty now: its old text must not linger
        kb.index(timeout=TIMEOUT)

        failures = dict(kb.status().failures)
        for f in (empty, blank, tags, emptied):
            rec = store_of(kb).get_file(str(f))
            assert rec is not None and rec.stage == FileStage.FAILED, f.name
            assert rec.reason.strip() and failures[str(f)] == rec.reason
            assert any(e.reason == rec.reason for e in of_type(events, FileFailed, f))
            assert rows(kb, f) == [], f.name
            assert rec.content_hash == ""  # so any later change is indexed again
        assert "empty" in failures[str(empty)] and "empty" in failures[str(emptied)]
        assert not of_type(events, FileEmbedded, empty) and not of_type(events, FileParsed, blank)
        assert kb.search("kappa1w2", 5, mode="bm25") == []
        assert store_of(kb).chunk_count() == 0
        assert_vector_index_matches_store(kb)
        assert not any("var x" in t for t in emb.texts)
    finally:
        kb.close()


# --------------------------------------------------------------------------- progress and pause
def test_progress_ends_complete_and_shows_eta_while_embedding(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    for i in range(3):
        write_doc(docs / f"p{i}.txt", paragraphs(f"prog{i}x", 25))
    events: list[Event] = []
    settings = make_settings(tmp_path / "home", [docs], chunk_tokens=32, chunk_overlap_tokens=0,
                             embed_batch_size=1)
    kb, emb = open_kb(settings, RecordingEmbedder(delay=0.08), events.append)
    try:
        kb.index(timeout=TIMEOUT)
        wait_for(lambda: bool(of_type(events, IndexIdle)))
        progress = of_type(events, ProgressUpdated)
        total_chunks = store_of(kb).chunk_count()
        assert total_chunks >= 40 and len(emb.texts) == total_chunks

        final = progress[-1]
        assert final.files_total == 3 and final.files_done == final.files_total
        assert final.chunks_pending == 0 and final.chunks_embedded == total_chunks
        assert final.stage == "idle" and final.eta_seconds is None

        with_eta = [p for p in progress if p.eta_seconds is not None]
        assert with_eta, "an ETA must appear while chunks are being embedded"
        assert all(p.chunks_pending > 0 and 0 < p.eta_seconds < 3600 for p in with_eta)
        assert all(p.stage != "idle" for p in with_eta)
        for a, b in itertools.pairwise(progress):  # counters never go backwards
            assert b.files_done >= a.files_done and b.chunks_embedded >= a.chunks_embedded
            assert a.files_done <= a.files_total
    finally:
        kb.close()


def test_pause_holds_files_and_resume_finishes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pause takes effect between write groups; one file per group makes that every file.
    import indexer.ingest.pipeline
    import indexer.ingest.pipeline_files

    monkeypatch.setattr(indexer.ingest.pipeline, "GROUP_FILES", 1)
    monkeypatch.setattr(indexer.ingest.pipeline_files, "GROUP_FILES", 1)
    docs = make_docs(tmp_path)
    names = [f"h{i}.txt" for i in range(4)]
    for i, name in enumerate(names):
        write_doc(docs / name, paragraphs(f"hold{i}x", 2))
    events: list[Event] = []
    holder: list[KnowledgeBase] = []

    def on_event(event: Event) -> None:
        events.append(event)
        if isinstance(event, FileParsed) and holder:  # pause right after the first file
            holder.pop().set_paused(True)

    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]), on_event=on_event)
    try:
        holder.append(kb)
        kb.scan()
        wait_for(lambda: bool(of_type(events, FileParsed)))
        assert not kb.wait_idle(1.0)
        assert not kb.status().idle
        assert len(kb.files()) == 1, "files after the pause must not be touched"
        assert len(of_type(events, FileParsed)) == 1

        kb.set_paused(False)
        assert kb.wait_idle(TIMEOUT)
        recs = kb.files()
        assert sorted(Path(r.path).name for r in recs) == names
        assert all(r.stage == FileStage.EMBEDDED for r in recs)
        assert Counter(e.path for e in of_type(events, FileEmbedded)) == {
            str(docs / n): 1 for n in names}

        # Paused before any work: a new file is not even looked at until resumed.
        kb.set_paused(True)
        write_doc(docs / "late.txt", paragraphs("late", 2))
        assert kb.scan().added == 1
        assert not kb.wait_idle(1.0)
        assert store_of(kb).get_file(str(docs / "late.txt")) is None
        kb.set_paused(False)
        assert kb.wait_idle(TIMEOUT)
        rec = store_of(kb).get_file(str(docs / "late.txt"))
        assert rec is not None and rec.stage == FileStage.EMBEDDED
    finally:
        kb.close()


def test_added_folder_counts_its_files_in_progress(tmp_path: Path) -> None:
    first, later = make_docs(tmp_path), tmp_path / "later"
    later.mkdir()
    write_doc(first / "a.md", paragraphs("firstdoc", 2))
    for i in range(4):
        write_doc(later / f"n{i}.md", paragraphs(f"later{i}q", 2))
    events: list[Event] = []
    kb, _ = open_kb(make_settings(tmp_path / "home", [first]), on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        before = of_type(events, ProgressUpdated)[-1].files_total
        kb.add_folder(later)  # one folder change in the queue, four files behind it
        assert kb.wait_idle(TIMEOUT)
        wait_for(lambda: of_type(events, ProgressUpdated)[-1].stage == "idle")
        final = of_type(events, ProgressUpdated)[-1]
        assert final.files_total - before == 4
        assert final.files_done == final.files_total
    finally:
        kb.close()


# --------------------------------------------------------------------------- keeping the embedder fed
def test_take_window_takes_similar_lengths_around_the_oldest_text() -> None:
    pool = [_Pooled(length, seq, f"c{seq}", "t", "p")
            for seq, length in enumerate([50, 10, 200, 12, 180, 11, 60, 190])]
    pool.sort(key=lambda p: p.length)
    oldest = min(pool, key=lambda p: p.seq)  # length 50
    taken = take_window(pool, 3)
    assert oldest in taken and len(taken) == 3 and len(pool) == 5
    assert [p.length for p in taken] == [12, 50, 60]  # neighbours in length, not in arrival
    assert [p.length for p in pool] == [10, 11, 180, 190, 200]  # still sorted
    while pool:  # every text is taken eventually, the oldest always first
        first = min(pool, key=lambda p: p.seq)
        assert first in take_window(pool, 2)


def test_scan_changes_skip_the_debounce_that_watcher_changes_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A scan's changes are final: debouncing them only keeps the embedder waiting. An editor's
    # burst of saves (the watcher puts into `changes` directly) still waits for a quiet moment.
    docs = make_docs(tmp_path)
    for i in range(3):
        write_doc(docs / f"d{i}.txt", paragraphs(f"deb{i}q", 2))
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]))
    try:
        changes = pipe_of(kb).changes
        quiets: list[float] = []
        real_drain = changes.drain

        def drain(quiet_seconds: float = 0.3, **kwargs: Any) -> list[Change]:
            quiets.append(quiet_seconds)
            return real_drain(quiet_seconds=quiet_seconds, **kwargs)

        monkeypatch.setattr(changes, "drain", drain)
        kb.index(timeout=TIMEOUT)
        assert quiets and set(quiets) == {0.0}
        quiets.clear()
        write_doc(docs / "d0.txt", paragraphs("edited", 2))
        changes.put(Change("upsert", str(docs / "d0.txt")))  # what the watcher does
        wait_for(lambda: bool(quiets))
        assert kb.wait_idle(TIMEOUT)
        assert quiets[0] == DEBOUNCE_S
    finally:
        kb.close()


def test_embedding_starts_after_the_first_file_not_after_a_whole_group(tmp_path: Path) -> None:
    # Bulk runs wrote 32 files before the embedder (the bottleneck) saw any text: ~1 s idle at
    # the start of every run. Now the first file is written at once while the embedder is idle.
    docs = make_docs(tmp_path)
    n = 24  # fewer than GROUP_FILES: the old code wrote them all in one group
    for i in range(n):
        write_doc(docs / f"d{i:02}.txt", paragraphs(f"grp{i}x", 3))
    events: list[Event] = []
    parsed_at_first_call: list[int] = []

    class FirstCallProbe(RecordingEmbedder):
        def embed(self, texts: Sequence[str]) -> Vector:
            if not parsed_at_first_call:
                parsed_at_first_call.append(len(of_type(events, FileParsed)))
            return super().embed(texts)

    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]),
                    embedder=FirstCallProbe(delay=0.05), on_event=events.append)
    try:
        kb.index(timeout=TIMEOUT)
        assert parsed_at_first_call and parsed_at_first_call[0] < n // 2
        assert len(of_type(events, FileEmbedded)) == n
        assert all(r.stage == FileStage.EMBEDDED for r in kb.files())
    finally:
        kb.close()


def test_early_writes_stay_few_when_the_embedder_has_nothing_to_wait_for(
    tmp_path: Path,
) -> None:
    # With nothing to embed in between (fast embedder, or every vector reused) the embedder is
    # always "hungry"; early writes must still grow to full groups, not become a commit per file.
    docs = make_docs(tmp_path)
    n = 70
    for i in range(n):
        write_doc(docs / f"f{i:02}.txt", paragraphs(f"few{i}k", 1))
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]))
    try:
        store = store_of(kb)
        calls: list[int] = []
        real_upsert = store.upsert_files

        def upsert_files(records: Sequence[Any]) -> None:
            calls.append(len(records))
            real_upsert(records)

        store.upsert_files = upsert_files  # type: ignore[method-assign]
        kb.index(timeout=TIMEOUT)
        assert len(kb.files()) == n
        # Two commits per group: 1, 2, 4, 8, 16 files, then groups of 32 (a scan racing the
        # writer may split the batch once more); per file it would be 140.
        assert sum(calls) == 2 * n and len(calls) <= 32, calls
    finally:
        kb.close()
