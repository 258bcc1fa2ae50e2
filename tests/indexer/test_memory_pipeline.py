"""Memory bounds of the indexing pipeline, against a real LanceDB store in tmp_path.

Why: with the real model the writer parses hundreds of chunks per second while the embedder
manages ~8-90, so a first run of 100k chunks used to hold every chunk text in the embedding
queue and to write vectors back in commits of tens of thousands of rows (peak RSS 2.7 GB at
150k chunks, bench/bench_scale.py). Pinned here, with the bounds shrunk so a few files cross
them:

- at most `HELD_TEXTS` texts wait in memory; the rest are read back from the store, in batches
  of at most `POOL_TEXTS`, and every chunk is still embedded exactly once;
- a file deleted or rewritten while its chunks wait in the store is settled without embedding
  its old texts (and `wait_idle` returns);
- vector write-back commits stay near `WRITE_BACK_ROWS` rows however far the writer fell behind;
- resuming an index with every chunk unembedded reads texts back in bounded batches.

No RSS figures here (they belong in the bench); the tests observe the queues and store calls.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import indexer.ingest.pipeline
import indexer.ingest.pipeline_vectors as pv
from indexer.events import Event, FileParsed, FileStage
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

FILES, PARAS = 12, 5  # one chunk per paragraph at chunk_tokens=32: 60 chunks


class GatedEmbedder(RecordingEmbedder):
    """Embeds nothing until `gate` is set (the writer runs far ahead, as with the real model);
    with `fail` set it raises instead, so nothing gets a vector."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.fail = False

    def embed(self, texts: Sequence[str]) -> Vector:
        self.gate.wait(TIMEOUT)
        if self.fail:
            raise RuntimeError("model gone")
        return super().embed(texts)


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pv, "POOL_TEXTS", 6)
    monkeypatch.setattr(pv, "HELD_TEXTS", 10)


def queued_texts(kb: KnowledgeBase) -> int:
    return sum(len(job.texts) for job in list(pipe_of(kb).vectors._embed_in.queue))


def settings_for(tmp_path: Path, docs: Path) -> Any:
    return make_settings(tmp_path / "home", [docs], chunk_tokens=32, chunk_overlap_tokens=0)


def write_corpus(docs: Path) -> list[Path]:
    files = [docs / f"d{i:02}.txt" for i in range(FILES)]
    for i, f in enumerate(files):
        write_doc(f, paragraphs(f"mem{i}z", PARAS))
    return files


def open_gated(tmp_path: Path) -> tuple[KnowledgeBase, GatedEmbedder, list[Event], list[Path]]:
    """The corpus on disk and a knowledge base whose embedder waits for its gate (not scanned)."""
    docs = make_docs(tmp_path)
    files = write_corpus(docs)
    events: list[Event] = []
    emb = GatedEmbedder()
    kb, _ = open_kb(settings_for(tmp_path, docs), emb, events.append)
    return kb, emb, events, files


def stored_embed_texts(kb: KnowledgeBase, files: Sequence[Path]) -> Counter[str]:
    return Counter(embed_text(r) for f in files for r in rows(kb, f))


def test_backlog_beyond_the_bound_waits_in_the_store_and_is_embedded_once(
    tmp_path: Path, small_bounds: None
) -> None:
    kb, emb, events, files = open_gated(tmp_path)
    try:
        store = store_of(kb)
        reads: list[int] = []
        real_read = store.embed_texts

        def embed_texts(ids: Sequence[str]) -> dict[str, tuple[str, str]]:
            reads.append(len(ids))
            return real_read(ids)

        store.embed_texts = embed_texts  # type: ignore[method-assign]
        kb.scan()
        wait_for(lambda: len(of_type(events, FileParsed)) == FILES)
        # Every file is keyword-searchable while the embedder has not returned a vector.
        assert store.chunk_count() == FILES * PARAS and store.pending_count() == FILES * PARAS
        assert kb.search("mem11z0w3", mode="bm25")
        # The old pipeline queued all 60 texts here; now at most HELD_TEXTS are in memory.
        assert queued_texts(kb) <= pv.HELD_TEXTS
        assert sum(len(s.ids) for s in pipe_of(kb).vectors._spill) >= FILES * PARAS - 2 * pv.HELD_TEXTS

        emb.gate.set()
        assert kb.wait_idle(TIMEOUT)
        assert reads and max(reads) <= pv.POOL_TEXTS
        assert all(r.stage == FileStage.EMBEDDED for r in kb.files())
        assert store.pending_count() == 0
        assert Counter(emb.texts) == stored_embed_texts(kb, files)  # each exactly once
        assert_vector_index_matches_store(kb)
        assert not pipe_of(kb).vectors._spill and pipe_of(kb).vectors._held == 0
    finally:
        emb.gate.set()
        kb.close()


def test_files_deleted_or_rewritten_while_waiting_in_the_store_are_settled(
    tmp_path: Path, small_bounds: None
) -> None:
    kb, emb, events, files = open_gated(tmp_path)
    try:
        kb.scan()
        wait_for(lambda: len(of_type(events, FileParsed)) == FILES)
        gone, rewritten = files[-1], files[-2]  # the last written: their texts were spilled
        old_texts = {embed_text(r) for f in (gone, rewritten) for r in rows(kb, f)}
        gone.unlink()
        write_doc(rewritten, paragraphs("fresh", 3))
        kb.scan()
        wait_for(lambda: store_of(kb).get_file(str(gone)) is None
                 and any("fresh" in r["text"] for r in rows(kb, rewritten)))
        emb.gate.set()
        assert kb.wait_idle(TIMEOUT)  # dropped chunks must not leave the pipeline busy
        assert not old_texts & set(emb.texts), "texts of rows already gone were embedded"
        recs = {r.path: r for r in kb.files()}
        assert str(gone) not in recs
        assert all(r.stage == FileStage.EMBEDDED for r in recs.values())
        assert Counter(emb.texts) == stored_embed_texts(kb, files[:-1])
        assert_vector_index_matches_store(kb)
    finally:
        emb.gate.set()
        kb.close()


def test_vector_write_back_commits_stay_bounded(
    tmp_path: Path, small_bounds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pv, "WRITE_BACK_ROWS", 8)
    monkeypatch.setattr(indexer.ingest.pipeline, "RESULTS_WAITING", 2)
    docs = make_docs(tmp_path)
    write_corpus(docs)
    events: list[Event] = []
    emb = GatedEmbedder()
    settings = make_settings(tmp_path / "home", [docs], chunk_tokens=32, chunk_overlap_tokens=0,
                             embed_batch_size=1)  # calls of 4 texts
    kb, _ = open_kb(settings, emb, events.append)
    try:
        store = store_of(kb)
        commits: list[int] = []
        real_set = store.set_vectors

        def set_vectors(ids: Sequence[str], vectors: Any) -> int:
            commits.append(len(ids))
            return real_set(ids, vectors)

        store.set_vectors = set_vectors  # type: ignore[method-assign]
        kb.scan()
        wait_for(lambda: len(of_type(events, FileParsed)) == FILES)
        emb.gate.set()  # the whole backlog at once: the old writer stored it in one commit
        assert kb.wait_idle(TIMEOUT)
        assert sum(commits) == FILES * PARAS
        assert len(commits) >= FILES * PARAS // (8 + 3)
        assert max(commits) <= 8 + 3  # the bound, or one call's result (4 texts) over it
        assert all(r.stage == FileStage.EMBEDDED for r in kb.files())
        assert_vector_index_matches_store(kb)
    finally:
        emb.gate.set()
        kb.close()


def test_resume_reads_unembedded_texts_back_in_bounded_batches(
    tmp_path: Path, small_bounds: None
) -> None:
    docs = make_docs(tmp_path)
    files = write_corpus(docs)
    big = docs / "big.txt"  # more chunks than the pool holds: split across reads
    write_doc(big, paragraphs("bigfile", 13))
    files.append(big)
    events: list[Event] = []
    emb = GatedEmbedder()
    settings = settings_for(tmp_path, docs)
    kb, _ = open_kb(settings, emb, events.append)
    kb.scan()
    wait_for(lambda: len(of_type(events, FileParsed)) == FILES + 1)
    emb.fail = True  # the run ends with nothing embedded, as a crash during a first run would
    emb.gate.set()
    kb.close()

    kb, rec = open_kb(settings)
    try:
        store = store_of(kb)
        assert store.pending_count() == FILES * PARAS + 13
        assert kb.wait_idle(TIMEOUT)
        assert store.pending_count() == 0
        assert all(r.stage == FileStage.EMBEDDED for r in kb.files())
        assert Counter(rec.texts) == stored_embed_texts(kb, files)
        assert_vector_index_matches_store(kb)
    finally:
        kb.close()
