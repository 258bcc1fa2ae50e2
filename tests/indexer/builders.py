"""Builders the indexer tests share: fake-model settings and knowledge bases, small corpora, waits
and probes of the store. Plain functions, because tests call them with arguments; the fixtures
built on them are in `conftest.py`.

Start here when a test needs a knowledge base:

- `make_settings(home, [docs], **overrides)`: settings with the fake embedder and generator;
- `open_kb(settings)`: an opened knowledge base whose embedder records every text it embeds
  (returns the knowledge base and the `RecordingEmbedder`); `open_hub_kb(settings)` keeps the
  hub's own fake models;
- the `indexed_kb` fixture (conftest.py) when the test only needs a corpus indexed and closed
  afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.config import Settings, load_settings
from indexer.events import Event
from indexer.ingest.pipeline import IndexingPipeline
from indexer.service import KnowledgeBase, build_hub
from indexer.storage.store import IndexStore
from models.embedder import FakeEmbedder, Vector

TIMEOUT = 60.0


# ------------------------------------------------------------------------ settings and bases
class RecordingEmbedder(FakeEmbedder):
    """The fake embedder, recording every text it embeds; `delay` slows each call."""

    def __init__(self, *, delay: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay = delay
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vector:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.texts.extend(texts)
        return super().embed(texts)

    def since(self, mark: int) -> list[str]:
        with self._lock:
            return list(self.texts[mark:])


def make_settings(home: Path, folders: list[Path] | None = None, **overrides: Any) -> Settings:
    """Settings in `home` with the fake models. Without `folders`, the saved ones (if any)."""
    if folders is not None:
        overrides["folders"] = folders
    return load_settings(home, embedder_backend="fake", generator_backend="fake", **overrides)


def open_kb(
    settings: Settings,
    embedder: RecordingEmbedder | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> tuple[KnowledgeBase, RecordingEmbedder]:
    """A KnowledgeBase whose hub hands out `embedder` (same seam as the real model)."""
    emb = embedder if embedder is not None else RecordingEmbedder()
    hub = build_hub(settings)
    hub.embedder = lambda: emb  # type: ignore[method-assign]
    kb = KnowledgeBase(settings, hub, on_event or (lambda e: None)).open()
    return kb, emb


def open_hub_kb(settings: Settings) -> KnowledgeBase:
    """An opened KnowledgeBase over the hub's own fake models (nothing swapped in)."""
    return KnowledgeBase(settings, build_hub(settings)).open()


def wait_for(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# ------------------------------------------------------------------------ corpora
def make_docs(tmp_path: Path) -> Path:
    """An empty documents folder, tmp_path/docs (resolved)."""
    docs = (tmp_path / "docs").resolve()
    docs.mkdir()
    return docs


def paragraphs(topic: str, n: int, words: int = 14) -> list[str]:
    """n distinct paragraphs of about `words` words each (one chunk each at chunk_tokens=32)."""
    return [" ".join(f"{topic}{i}w{j}" for j in range(words)) + "." for i in range(n)]


def write_doc(path: Path, paras: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(paras) + "\n", encoding="utf-8")


def write_valve_docs(docs: Path) -> None:
    """valves.md (how to close the zephyrine valve) and kitchen.txt (an unrelated note)."""
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "valves.md").write_text(
        "# Maintenance\n\nThe zephyrine valve closes with a quarter turn counterclockwise. "
        "Close the zephyrine valve before servicing the pump.\n", encoding="utf-8")
    (docs / "kitchen.txt").write_text(
        "Granite countertops need sealing once a year with a penetrating sealer.\n",
        encoding="utf-8")


# ------------------------------------------------------------------------ probes
def store_of(kb: KnowledgeBase) -> IndexStore:
    assert kb.store is not None
    return kb.store


def pipe_of(kb: KnowledgeBase) -> IndexingPipeline:
    assert kb.pipeline is not None
    return kb.pipeline


def rows(kb: KnowledgeBase, path: Path) -> list[dict[str, Any]]:
    return store_of(kb).chunks_for_file(str(path))


def embed_text(row: dict[str, Any]) -> str:
    return f"{row['heading']}\n{row['text']}" if row["heading"] else str(row["text"])


def of_type(events: list[Event], kind: type, path: Path | None = None) -> list[Any]:
    return [e for e in list(events) if isinstance(e, kind)
            and (path is None or getattr(e, "path", None) == str(path))]


def assert_vector_index_matches_store(kb: KnowledgeBase) -> None:
    """The in-memory vector index holds exactly the store's embedded chunks (no ghosts)."""
    assert kb.vectors is not None
    embedded = {i for ids, _, _ in store_of(kb).embedded_batches() for i in ids}
    assert len(kb.vectors) == len(embedded)
    q = np.ones(store_of(kb).dim, dtype=np.float32)
    assert {cid for cid, _ in kb.vectors.search(q, len(embedded) + 10)} == embedded
