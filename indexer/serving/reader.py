"""`ReadOnlyKnowledgeBase`: search and answer over a home that another process owns.

Why: people run the Cairn window and an agent (Claude Desktop, VS Code, a script) at once, and
only one process may own — lock and write — a home's index. A server therefore never takes the
lock and never writes: it opens the LanceDB tables read-only (`IndexStore.open_read_only`), loads
its own embedder (and, for answers, its own chat model), and before each query moves its read
handles to the latest version the owner committed. Both orders of start-up work: the window can
open the home while the server runs, and the server can start while the window runs. When no
process owns the home the index is served as it is, and nothing keeps it up to date.

Freshness: keyword search and the rows of hits are read at the owner's latest commit. The vectors
live in an in-memory matrix (`ExactVectorIndex`) that the owner's writes cannot notify across
processes, so when the `chunks` table's version moved it catches up (`ExactVectorIndex.sync`:
a diff of ids and paths, reading only new vectors), at most once per `reload_after_s`.

It is a `KnowledgeBase` (the same answering, the same settings) whose indexing and writing
methods raise `StoreError`; answers are not cached or traced here (both are files the owner
writes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from indexer.answer.answering import Turn
from indexer.answer.retrieval import Retriever
from indexer.collection_sets import in_scope
from indexer.config import load_settings
from indexer.errors import StoreError, UserInputError
from indexer.events import FileStage
from indexer.service import IndexStatus, KnowledgeBase, dir_size
from indexer.storage.store import IndexStore
from indexer.storage.vector_index import ExactVectorIndex

if TYPE_CHECKING:
    from indexer.answer.answering import StreamItem
    from indexer.config import Settings
    from indexer.ingest.pipeline import IndexingPipeline
    from indexer.service import ModelHub
    from indexer.storage.store_layout import FileRecord

log = logging.getLogger(__name__)

RELOAD_AFTER_S = 1.0


class ReadOnlyKnowledgeBase(KnowledgeBase):
    """A `KnowledgeBase` that reads a home without owning it (see the module doc).

    `open()` takes no lock and fails with `StoreError` only while there is no index yet; every
    query first follows the owner's latest commit. Thread-safe like its base.
    """

    reload_after_s: float = RELOAD_AFTER_S

    def __init__(self, settings: Settings, hub: ModelHub) -> None:
        super().__init__(settings, hub)  # events: nothing here indexes
        self._follow_lock = threading.Lock()
        self._vectors_version = -1
        self._vectors_loaded_at = 0.0
        self._settings_mtime: tuple[int, int, int] | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> Self:
        """Open the index read-only (no lock taken); `StoreError` if there is no index yet."""
        with self._open_lock:
            if self.store is not None:
                return self
            embedder = self._embedder()
            store = IndexStore.open_read_only(
                self.settings.paths.index_dir, embedder.model_id, embedder.dim)
            self.store = store
            # An index built with another embedder (the owner is rebuilding it) keeps serving
            # keyword search: its vectors must not be compared with ours.
            self.vectors = ExactVectorIndex(embedder.dim)
            self.retriever = Retriever(
                store, self.vectors, embedder.embed_query,
                k_rrf=self.settings.fusion_k, weights=(self.settings.bm25_weight, 1.0),
            )
        self._catch_up(force=True)
        return self

    def close(self) -> None:
        with self._open_lock:
            if self.store is not None:
                self.store.close()
                self.store = None
            self.vectors = None
            self.retriever = None
        self.shared.close()

    def _reader(self) -> tuple[IndexStore, Retriever]:
        if self.store is None or self.retriever is None:
            self.open()
        assert self.store is not None and self.retriever is not None
        self._follow()
        return self.store, self.retriever

    def _follow(self) -> None:
        """Catch up with the owner before a query; reopen once if the index went away under
        us (the owner swapped in a rebuilt index)."""
        try:
            self._catch_up()
        except StoreError:
            log.info("reopening the index after a failed refresh", exc_info=True)
            self.close()
            self.open()

    def _catch_up(self, force: bool = False) -> None:
        """Latest table versions, the vectors if the chunks moved on, the watched folders."""
        store, vectors = self.store, self.vectors
        if store is None or vectors is None:
            return
        with self._follow_lock:
            version = store.refresh()
            due = time.monotonic() - self._vectors_loaded_at >= self.reload_after_s
            if version != self._vectors_version and (force or due) and not store.needs_rebuild:
                if self._vectors_version < 0:  # first load: read every vector in batches
                    vectors.attach(store)
                    vectors.detach()  # no sink sees another process's writes: sync() does
                else:
                    vectors.sync(store)
                self._vectors_version, self._vectors_loaded_at = version, time.monotonic()
            self._follow_settings()

    def _follow_settings(self) -> None:
        """The owner may add or remove folders: re-read the settings file when it changed."""
        path = self.settings.paths.settings_file
        try:
            st = path.stat()
        except OSError:
            return
        mtime = (st.st_mtime_ns, st.st_size, st.st_ino)
        if mtime != self._settings_mtime:
            self._settings_mtime = mtime
            fresh = load_settings(self.settings.home)
            self.settings.folders = list(fresh.folders)

    def folders(self) -> list[Path]:
        """The watched folders as the owner last saved them."""
        self._follow_settings()
        return super().folders()

    def _require_open(self) -> tuple[IndexStore, IndexingPipeline, Retriever]:
        raise StoreError(
            "This Cairn server reads the index without owning it; indexing is done by the "
            "Cairn window or `cairn index` / `cairn watch`.")

    # ------------------------------------------------------------------ reads
    def files(self, folder: str | None = None) -> list[FileRecord]:
        store, _ = self._reader()
        return store.list_files(folder=folder)

    def get_file(self, path: str) -> FileRecord | None:
        store, _ = self._reader()
        return store.get_file(path)

    def chunks_for_file(self, path: str) -> list[dict[str, Any]]:
        """A file's chunk rows in document order (empty if it is not indexed)."""
        store, _ = self._reader()
        return store.chunks_for_file(path)

    def chunks(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Chunk rows by id (unknown ids left out)."""
        store, _ = self._reader()
        return store.get_chunks(ids)

    def embed(self, texts: Sequence[str]) -> Any:
        """Vectors of the index's embedding model (loaded on first use)."""
        return self._embedder().embed(list(texts))

    def count_tokens(self, text: str) -> int:
        return int(self._embedder().count_tokens(text))

    def embedder_id(self) -> str:
        return self._embedder().model_id

    def status(self, collection: str | None = None) -> IndexStatus:
        store, _ = self._reader()
        scope = self.collections.scope(collection)
        files = [f for f in store.list_files() if in_scope(f.path, scope)]
        by_stage: dict[str, int] = {str(s): 0 for s in FileStage}
        for f in files:
            by_stage[f.stage] = by_stage.get(f.stage, 0) + 1
        pending = store.pending_count()
        return IndexStatus(
            folders=tuple(scope) if scope is not None else tuple(map(str, self.folders())),
            files_by_stage=by_stage,
            chunks=store.chunk_count() if scope is None else sum(f.chunk_count for f in files),
            chunks_pending=pending,
            failures=tuple((f.path, f.reason) for f in files if f.stage == FileStage.FAILED),
            skipped=tuple((f.path, f.reason) for f in files if f.stage == FileStage.SKIPPED),
            index_bytes=dir_size(self.settings.paths.index_dir),
            idle=pending == 0 and not by_stage.get(str(FileStage.QUEUED)),
            models={role: {"status": st.status, "detail": st.detail, "model_id": st.model_id}
                    for role, st in self.hub.state().items()},
            embedder_error=None,
            watching=False,
        )

    def _search_retriever(self) -> Retriever:
        return self._reader()[1]

    def stream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        cancel: threading.Event | None = None,
        top_k: int | None = None,
        use_cache: bool = True,
        collection: str | None = None,
    ) -> Iterator[StreamItem]:
        """As `KnowledgeBase.stream`, without the answer cache and traces (the owner's files)."""
        if not question.strip():
            raise UserInputError("The question is empty.")
        self._reader()
        answerer = self._answerer()
        if self.collections.scope(collection) is not None:
            answerer = answerer.with_search(lambda q, k: self.search(q, k, collection=collection))
        yield from answerer.stream(question, history, cancel, top_k)

