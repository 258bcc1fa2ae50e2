"""Answers come first: embedding waits while an answer is generated (`VectorStage.answering`).

Why: ONNX Runtime and llama.cpp each use every core, and llama.cpp's threads spin-wait for each
other, so on a 2-core laptop an answer asked during a first indexing run was several times
slower with the embedder beside it (bench/bench_answer_while_indexing.py). Pinned here with the
fake models, through `KnowledgeBase.stream` (the seam the GUI and CLI use):

- no embedding call starts while an answer streams (one may already be running, or may slip
  through the instant the answer starts), and indexing finishes afterwards;
- a hold nobody releases (a stream the caller abandoned) stops holding after
  `MAX_ANSWER_HOLD_S`, so indexing cannot stall for good;
- stopping the pipeline is not delayed by a held embedder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import indexer.ingest.pipeline_vectors as pv
from indexer.answer.answering import Answer, AnswerToken
from models.embedder import Vector
from models.generator import FakeGenerator
from tests.indexer.builders import (
    TIMEOUT,
    RecordingEmbedder,
    make_docs,
    make_settings,
    open_kb,
    paragraphs,
    pipe_of,
    store_of,
    wait_for,
    write_doc,
)

FILES, PARAS = 30, 4  # 240 chunks at chunk_tokens=32, 8 texts a call: 30 calls


class TimedEmbedder(RecordingEmbedder):
    """Records when each embedding call starts."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self.starts: list[float] = []

    def embed(self, texts: Sequence[str]) -> Vector:
        self.starts.append(time.monotonic())
        return super().embed(texts)


def write_corpus(docs: Path) -> None:
    for i in range(FILES):
        write_doc(docs / f"valve-{i:02}.md", paragraphs(f"zephyrine valve {i}", PARAS))


def test_no_embedding_call_starts_while_an_answer_streams(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    write_corpus(docs)
    settings = make_settings(tmp_path / "home", [docs], chunk_tokens=32, embed_batch_size=2,
                             min_relevance=0.0)
    emb = TimedEmbedder(delay=0.15)
    kb, _ = open_kb(settings, emb)
    try:
        kb.scan()
        generator = kb.hub.generator()
        assert isinstance(generator, FakeGenerator)
        generator.piece_delay = 0.1  # ~1.5 s of streaming
        wait_for(lambda: len(emb.starts) >= 2)  # indexing is embedding now
        assert len(emb.starts) < FILES * PARAS // 4, "embedding finished before the answer"
        streamed_from = streamed_to = 0.0
        final: Answer | None = None
        for item in kb.stream("How does the zephyrine valve 3 work?", use_cache=False):
            if isinstance(item, AnswerToken) and not streamed_from:
                streamed_from = time.monotonic()
            if isinstance(item, Answer):
                final = item
        streamed_to = time.monotonic()
        assert final is not None and streamed_from
        assert streamed_to - streamed_from > 0.5
        during = [t for t in emb.starts if streamed_from < t < streamed_to]
        assert len(during) <= 1, f"{len(during)} embedding calls started while answering"
        assert kb.wait_idle(TIMEOUT), "indexing did not finish after the answer"
        assert store_of(kb).pending_count() == 0
        assert len(set(emb.texts)) >= store_of(kb).chunk_count() >= FILES * PARAS
    finally:
        kb.close()


def test_an_abandoned_hold_expires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pv, "MAX_ANSWER_HOLD_S", 0.5)
    docs = make_docs(tmp_path)
    write_corpus(docs)
    settings = make_settings(tmp_path / "home", [docs], chunk_tokens=32, embed_batch_size=2)
    emb = TimedEmbedder(delay=0.0)
    kb, _ = open_kb(settings, emb)
    try:
        hold = pipe_of(kb).answering()
        hold.__enter__()  # entered and, until the end, never left
        started = time.monotonic()
        kb.scan()
        assert kb.wait_idle(TIMEOUT), "a stale hold stalled indexing"
        assert store_of(kb).pending_count() == 0
        assert emb.starts and max(emb.starts) - started >= 0.4, "the hold did not hold at all"
        hold.__exit__(None, None, None)
    finally:
        kb.close()


def test_close_is_not_delayed_by_a_held_embedder(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    write_corpus(docs)
    settings = make_settings(tmp_path / "home", [docs], chunk_tokens=32, embed_batch_size=2)
    emb = TimedEmbedder(delay=0.05)
    kb, _ = open_kb(settings, emb)
    pipeline = pipe_of(kb)
    with pipeline.answering():
        kb.scan()
        wait_for(lambda: pipeline.progress.stage == "waiting for the answer")
        closer = threading.Thread(target=kb.close)
        t0 = time.monotonic()
        closer.start()
        closer.join(TIMEOUT)
        assert not closer.is_alive() and time.monotonic() - t0 < 10
