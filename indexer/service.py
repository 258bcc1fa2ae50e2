"""`KnowledgeBase`: the one facade the CLI, the GUI and the tests talk to.

Built once per entry point from `Settings` and a `ModelHub` (the composition root). It owns the
store, the pipeline threads, the watcher and the answerer, and hides LanceDB and the models from
its callers. Everything that may take long (opening the store, loading models, indexing, answering)
happens on the caller's worker thread or the pipeline's threads, never at construction.

Only one process may own a home's index: `open()` takes an exclusive lock file and raises
`IndexLockedError` otherwise, so two Cairn processes can never corrupt one index.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

import filelock

from indexer.answer.answer_cache import AnswerCache
from indexer.answer.answering import (
    Answer,
    Answerer,
    AnswerSources,
    AnswerToken,
    StreamItem,
    Turn,
)
from indexer.answer.retrieval import Retriever
from indexer.answer.shared_search import SharedSearch
from indexer.answer.traces import TraceStore, hit_to_dict
from indexer.answer.whole_document import (
    DocumentAnswerer,
    DocumentItem,
    DocumentMode,
    chunk_hits,
    document_request,
    mode_for,
    resolve_names,
    split_mentions,
)
from indexer.collection_sets import Collections, in_scope, scoped_folders
from indexer.config import Settings, save_settings
from indexer.credentials import read_chat_api_key
from indexer.errors import CairnError, IndexLockedError, ModelUnavailableError, UserInputError
from indexer.events import EventCallback, FileStage, ScanFinished, ScanStarted, ignore_event
from indexer.ingest.changes import Change
from indexer.ingest.file_filter import PathFilter
from indexer.ingest.parsing import is_supported
from indexer.ingest.pipeline import IndexingPipeline
from indexer.ingest.scanner import KnownFile, is_within, reconcile
from indexer.ingest.watcher import FolderWatcher
from indexer.records import SearchHit
from indexer.service_types import IndexStatus, SettingsChange, dir_size
from indexer.storage.store import IndexStore
from indexer.storage.store_layout import FileRecord
from indexer.storage.vector_index import ExactVectorIndex
from models.errors import ModelError
from models.hub import ModelHub

if TYPE_CHECKING:
    from models.embedder import Embedder
    from models.generator import Generator as ChatModel

log = logging.getLogger(__name__)

SearchMode = Literal["hybrid", "bm25", "vector"]


def build_hub(settings: Settings) -> ModelHub:
    """Map settings onto the model layer (which knows nothing of `Settings`)."""
    return ModelHub(
        models_dir=settings.paths.models_dir,
        embedder_backend=settings.embedder_backend,
        embedder_model=settings.embedder_model,
        generator_backend=settings.generator_backend,
        chat_model=settings.chat_model,
        n_threads=settings.n_threads,
        n_gpu_layers=settings.n_gpu_layers,
        n_ctx=settings.n_ctx,
        embed_threads=settings.embed_threads,
        embed_batch_size=settings.embed_batch_size,
        chat_endpoint=settings.chat_endpoint,
        chat_endpoint_model=settings.chat_endpoint_model,
        chat_api_key=(
            read_chat_api_key(settings.home) if settings.generator_backend == "server" else ""
        ),
    )


class KnowledgeBase:
    """Index, watch, search and answer over the user's folders. Thread-safe public methods."""

    def __init__(
        self, settings: Settings, hub: ModelHub, on_event: EventCallback = ignore_event
    ) -> None:
        self.settings = settings
        self.hub = hub
        self._on_event = on_event
        self._lock: filelock.BaseFileLock | None = None
        self.store: IndexStore | None = None
        self.vectors: ExactVectorIndex | None = None
        self.pipeline: IndexingPipeline | None = None
        self.retriever: Retriever | None = None
        self.watcher: FolderWatcher | None = None
        self.traces = TraceStore(settings.paths.traces_dir)
        self._answer_cache: AnswerCache | None = None
        self._answerer_built: tuple[tuple[object, ...], Answerer] | None = None
        self._answerer_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self.shared = SharedSearch.for_settings(settings)  # a team's index, searched read-only
        self.collections = Collections(settings, self.folders, self.add_folder)  # folder views

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> Self:
        """Lock the home, open (or create) the index and start the pipeline threads."""
        with self._open_lock:
            if self.store is not None:
                return self
            paths = self.settings.paths.ensure()
            lock = filelock.FileLock(str(paths.lock_file), timeout=0)
            try:
                lock.acquire()
            except filelock.Timeout as exc:
                raise IndexLockedError(
                    f"Another Cairn process is using {paths.home}.",
                    hint="Close the other Cairn window or command, or use another CAIRN_HOME.",
                ) from exc
            self._lock = lock
            try:
                embedder = self._embedder()
                self.store = IndexStore.open(paths.index_dir, embedder.model_id, embedder.dim)
                if self.store.needs_rebuild:
                    self.store = self._rebuild(embedder)
                self.vectors = ExactVectorIndex.from_store(self.store)
                self.retriever = Retriever(
                    self.store, self.vectors, embedder.embed_query,
                    k_rrf=self.settings.fusion_k, weights=(self.settings.bm25_weight, 1.0),
                )
                self.pipeline = IndexingPipeline(
                    self.store,
                    embed=embedder.embed,
                    count_tokens=embedder.count_tokens,
                    roots=self.folders,
                    filter_for=self._filter_for,
                    emit=self._on_event,
                    chunk_tokens=self.settings.chunk_tokens,
                    overlap_tokens=self.settings.chunk_overlap_tokens,
                    embed_batch_size=self.settings.embed_batch_size,
                )
                self.pipeline.start()
                self._answer_cache = AnswerCache(embedder.embed_query, self._content_hash)
            except BaseException:
                self.close()
                raise
        return self

    def _rebuild(self, embedder: Embedder) -> IndexStore:
        """The embedding model (or schema) changed: start a fresh index, never mixing vectors.

        The new index is built in a sibling folder and swapped in by renames (crash-safe, see
        `IndexStore.swap_in`); the scan that follows re-indexes every file into it.
        """
        assert self.store is not None
        log.warning("rebuilding the index: %s", self.store.rebuild_reason)
        self.store.close()
        fresh = IndexStore.open_rebuild(
            self.settings.paths.index_dir, embedder.model_id, embedder.dim, resume=False
        )
        return fresh.swap_in()

    def close(self) -> None:
        """Stop watching and indexing (work in flight resumes next time), release the lock."""
        self.stop_watching()
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self.shared.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _embedder(self) -> Embedder:
        try:
            return self.hub.embedder()
        except ModelError as exc:
            raise ModelUnavailableError(exc.message, hint=exc.hint) from exc

    def _require_open(self) -> tuple[IndexStore, IndexingPipeline, Retriever]:
        if self.store is None or self.pipeline is None or self.retriever is None:
            self.open()
        assert self.store and self.pipeline and self.retriever
        return self.store, self.pipeline, self.retriever

    def reconfigure(
        self,
        new_settings: Settings,
        keys: Iterable[str] | None = None,
        before_reopen: Callable[[], None] | None = None,
    ) -> KnowledgeBase:
        """Persist and apply new settings; return the knowledge base to use from now on.

        `keys`: the settings that changed (default: those that differ from the current ones);
        only they are written to the settings file. What they need is `SettingsChange`'s
        decision: live keys are set on this instance (and a rescan runs if they change which
        files are indexed) and this instance is returned; any other key closes this instance
        and returns a fresh, open one over the same home (scanning and watching its folders;
        every file re-queued when chunking changed). `before_reopen` runs just before this
        instance closes (the GUI drains its reads there). Call from the thread that owns the
        knowledge base's lifecycle (the GUI's index thread).
        """
        change = (SettingsChange(frozenset(keys)) if keys is not None
                  else SettingsChange.between(self.settings, new_settings))
        if not change.keys:
            return self
        save_settings(new_settings, keys=set(change.keys))
        if not change.reopen:
            for key in change.keys:
                setattr(self.settings, key, getattr(new_settings, key))
            if self._answer_cache is not None:  # answers made under other settings are stale
                self._answer_cache.clear()
            if change.rescan:
                self.scan()
            return self
        if before_reopen is not None:
            before_reopen()
        self.close()
        fresh = KnowledgeBase(new_settings, build_hub(new_settings), self._on_event)
        try:
            fresh.open()
            if fresh.folders():
                fresh.scan()
                if change.rechunk:
                    # Unchanged files are skipped by content hash: re-queue every file so it is
                    # split again (chunks whose text did not change keep their vectors).
                    fresh.retry(*(record.path for record in fresh.files()))
                fresh.start_watching()
        except BaseException:
            fresh.close()
            raise
        return fresh

    # ------------------------------------------------------------------ folders
    def folders(self) -> list[Path]:
        return list(self.settings.folders)

    def add_folder(self, folder: Path | str) -> Path:
        """Add a folder (persisted) and queue it for indexing; watching picks it up if active."""
        path = Path(folder).expanduser().resolve()
        if not path.exists():
            raise UserInputError(f"Folder not found: {path}", hint="Check the path and try again.")
        if not path.is_dir():
            raise UserInputError(f"Not a folder: {path}", hint="Give a folder, not a file.")
        current = self.folders()
        if path in current:
            return path
        for existing in current:
            if is_within(str(path), str(existing)):
                raise UserInputError(f"{path} is already inside the watched folder {existing}.")
        self.settings.folders = [
            f for f in current if not is_within(str(f), str(path))
        ] + [path]
        save_settings(self.settings, keys={"folders"})
        if self.watcher is not None:
            self.watcher.add_root(path)
        if self.pipeline is not None:
            self.pipeline.submit([Change("upsert", str(path), is_dir=True)])
        return path

    def remove_folder(self, folder: Path | str) -> None:
        """Stop watching a folder and drop its files from the index (documents untouched)."""
        path = Path(folder).expanduser().resolve()
        if path not in self.folders():
            raise UserInputError(f"Not a watched folder: {path}")
        self.settings.folders = [f for f in self.folders() if f != path]
        save_settings(self.settings, keys={"folders"})
        if self.watcher is not None:
            self.watcher.remove_root(path)
        if self.pipeline is not None:
            self.pipeline.submit([Change("delete", str(path), is_dir=True)])

    def _filter_for(self, root: Path) -> PathFilter:
        s = self.settings
        return PathFilter(
            include_globs=s.include_globs,
            exclude_globs=s.exclude_globs,
            max_file_bytes=s.max_file_bytes,
            follow_symlinks=s.follow_symlinks,
            supported=is_supported,
        )

    # ------------------------------------------------------------------ indexing
    def scan(self) -> ScanFinished:
        """Reconcile disk with the index and queue the differences (returns at once)."""
        store, pipeline, _ = self._require_open()
        roots = self.folders()
        self._on_event(ScanStarted(tuple(str(r) for r in roots)))
        sig = pipeline.chunk_signature
        known = [
            KnownFile(f.path, f.size, f.mtime_ns, f.stage,
                      current=not f.parser or f.parser.endswith(sig))
            for f in store.list_files()
        ]
        plan = reconcile(roots, known, self._filter_for)
        pipeline.submit(list(plan.changes))
        finished = ScanFinished(plan.added, plan.changed, plan.removed, plan.unchanged)
        self._on_event(finished)
        return finished

    def index(self, timeout: float | None = None) -> ScanFinished:
        """One-shot: scan, wait until everything is parsed and embedded, then settle the index
        (new rows folded into the full-text index, so keyword scores are final)."""
        result = self.scan()
        if self.wait_idle(timeout):
            store, pipeline, _ = self._require_open()
            pipeline.on_writer(store.settle)  # a write: the writer thread does it
        return result

    def wait_idle(self, timeout: float | None = None) -> bool:
        _, pipeline, _ = self._require_open()
        ok = pipeline.wait_idle(timeout)
        if pipeline.embedder_error:
            raise ModelUnavailableError(
                f"Embedding failed: {pipeline.embedder_error}",
                hint="Files stay keyword-searchable; check `cairn status` for the model state.",
            )
        return ok

    def start_watching(self) -> None:
        """Live sync: watchdog events go to the pipeline's change queue."""
        _, pipeline, _ = self._require_open()
        if self.watcher is None:
            self.watcher = FolderWatcher(self.folders(), pipeline.changes, self._filter_for)
            self.watcher.start()

    def stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def set_paused(self, paused: bool) -> None:
        _, pipeline, _ = self._require_open()
        pipeline.set_paused(paused)

    def retry(self, *paths: str) -> None:
        """Re-queue files (e.g. a failed one after the user fixed it, or every file to re-chunk);
        returns once their rows say `queued`. The writer thread writes the rows, then takes the
        changes — in one job, so re-queuing a whole index waits for the writer once, not once
        per file."""
        store, pipeline, _ = self._require_open()

        def requeue() -> None:
            if len(paths) == 1:
                known = [p for p in paths if store.get_file(p) is not None]
            else:  # one read and one commit for the lot
                indexed = {f.path for f in store.list_files()}
                known = [p for p in paths if p in indexed]
            store.set_stages(known, FileStage.QUEUED, "retry requested")
            # after the rows, even if the caller stops waiting
            pipeline.submit([Change("upsert", path) for path in paths])

        if paths:
            pipeline.on_writer(requeue)

    def files(self, folder: str | None = None) -> list[FileRecord]:
        store, _, _ = self._require_open()
        return store.list_files(folder=folder)

    def status(self, collection: str | None = None) -> IndexStatus:
        """Files per stage, failures, models; of one collection's folders if `collection`."""
        store, pipeline, _ = self._require_open()
        scope = self.collections.scope(collection)
        files = [f for f in store.list_files() if in_scope(f.path, scope)]
        by_stage: dict[str, int] = {str(s): 0 for s in FileStage}
        for f in files:
            by_stage[f.stage] = by_stage.get(f.stage, 0) + 1
        failures = tuple((f.path, f.reason) for f in files if f.stage == FileStage.FAILED)
        skipped = tuple((f.path, f.reason) for f in files if f.stage == FileStage.SKIPPED)
        models = {
            role: {"status": st.status, "detail": st.detail, "model_id": st.model_id}
            for role, st in self.hub.state().items()
        }
        return IndexStatus(
            folders=tuple(scope) if scope is not None else tuple(map(str, self.folders())),
            files_by_stage=by_stage,
            chunks=store.chunk_count() if scope is None else sum(f.chunk_count for f in files),
            chunks_pending=pipeline.progress.chunks_pending,
            failures=failures,
            skipped=skipped,
            index_bytes=dir_size(self.settings.paths.index_dir),
            idle=pipeline.is_idle(),
            models=models,
            embedder_error=pipeline.embedder_error,
            watching=self.watcher is not None,
        )

    def _content_hash(self, path: str) -> str | None:
        if self.store is None:
            return None
        record = self.store.get_file(path)
        return record.content_hash if record else None

    # ------------------------------------------------------------------ search & answers
    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        mode: SearchMode = "hybrid",
        folders: Sequence[str] | None = None,
        exts: Sequence[str] | None = None,
        path_glob: str | None = None,
        collection: str | None = None,
    ) -> list[SearchHit]:
        """Hybrid (BM25 + vector, fused) search; no model generation involved. `collection`
        limits it to that collection's folders (None or "all": every folder)."""
        retriever = self._search_retriever()
        scope = self.collections.scope(collection)
        if scope is not None:
            folders = scoped_folders(scope, folders)
            if not folders:  # the collection is empty, or `folders` lie outside it
                return []
        if not query.strip():
            return []
        return self.shared.around(retriever).search(
            query,
            k or self.settings.top_k,
            mode=mode,
            folders=list(folders) if folders else None,
            exts=list(exts) if exts else None,
            path_glob=path_glob,
        )

    def _search_retriever(self) -> Retriever:
        """The retriever searches go through (a read-only view supplies its own)."""
        return self._require_open()[2]

    def _answerer(self) -> Answerer:
        """The answerer for the current settings: built once per change of the settings it
        copies (they may be changed in place, by `reconfigure` or directly), not per question."""
        s = self.settings
        key = (s.top_k, s.context_passages, s.min_relevance, s.second_look,
               s.max_answer_tokens, s.temperature, s.passage_focus, s.focus_keep,
               s.answer_format, s.worked_examples, s.strict_numbers, s.gate_codes,
               s.two_part_answers, s.two_part_follow_up)
        with self._answerer_lock:
            if self._answerer_built is None or self._answerer_built[0] != key:
                self._answerer_built = (key, self._build_answerer())
            return self._answerer_built[1]

    def _build_answerer(self) -> Answerer:
        embedder = self._embedder()
        s = self.settings

        def similarity(sentence: str, passages: Sequence[str]) -> list[float]:
            import numpy as np

            vecs = embedder.embed([sentence, *passages])
            return [float(np.dot(vecs[0], v)) for v in vecs[1:]]

        def generator() -> ChatModel:
            try:
                return self.hub.generator()
            except ModelError as exc:
                raise ModelUnavailableError(exc.message, hint=exc.hint) from exc

        return Answerer(
            search=lambda q, k: self.search(q, k),
            generator=generator,
            top_k=s.top_k,
            context_passages=s.context_passages,
            min_relevance=s.min_relevance,
            second_look=s.second_look,
            passage_focus=s.passage_focus,
            focus_keep=s.focus_keep,
            answer_format=s.answer_format,
            worked_examples=s.worked_examples,
            strict_numbers=s.strict_numbers,
            gate_codes=s.gate_codes,
            two_part_answers=s.two_part_answers,
            two_part_follow_up=s.two_part_follow_up,
            max_answer_tokens=s.max_answer_tokens,
            temperature=s.temperature,
            count_tokens=embedder.count_tokens,
            similarity=similarity,
            model_id=lambda: self.hub.chat_model_id,
            context_size=lambda: s.n_ctx,
        )

    def warm_up(self) -> None:
        """Prepare and load the chat model now (seconds), so the first answer does not wait."""
        self.hub.generator()

    def stream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        cancel: threading.Event | None = None,
        top_k: int | None = None,
        use_cache: bool = True,
        collection: str | None = None,
    ) -> Iterator[StreamItem]:
        """Stream an answer: `AnswerSources` (the passages, before the model reads them),
        `AnswerStage`/`AnswerToken` items, then one final `Answer`.

        Call from a worker thread; set `cancel` to stop between tokens. `collection`: answer
        from that collection's folders only (the answer cache serves unscoped questions only).
        """
        store, pipeline, _ = self._require_open()
        if not question.strip():
            raise UserInputError("The question is empty.")
        names, rest = split_mentions(question)  # `@report.pdf`: read the whole file
        if names and resolve_names(names, paths := [f.path for f in store.list_files()])[0]:
            mode, instruction = mode_for(rest, len(names))
            yield from self.stream_documents(names, mode, instruction, cancel, indexed=paths)
            return
        answerer = self._answerer()
        if self.collections.scope(collection) is not None:
            answerer = answerer.with_search(lambda q, k: self.search(q, k, collection=collection))
            use_cache = False
        if use_cache and self._answer_cache is not None and not history:
            cached = self._answer_cache.lookup(question)
            if cached is not None:  # traced too, so `trace last` and latency figures see it
                cached = replace(cached, trace_id="", stats={**cached.stats, "cached_from":
                                                             cached.trace_id})
                cached = replace(cached, trace_id=self.traces.record(cached))
                yield AnswerSources(cached.passages)
                yield AnswerToken(cached.text)
                yield cached
                return
        with pipeline.answering():  # embedding pauses for the answer (VectorStage.answering)
            for item in answerer.stream(question, history, cancel, top_k):
                if isinstance(item, Answer):
                    trace_id = self.traces.record(
                        item, retrieved=[hit_to_dict(h) for h in item.retrieved]
                    )
                    item = replace(item, trace_id=trace_id)
                    if use_cache and self._answer_cache is not None and item.found \
                            and not history:
                        self._answer_cache.store(question, item)
                yield item

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        cancel: threading.Event | None = None,
        top_k: int | None = None,
        use_cache: bool = True,
        collection: str | None = None,
    ) -> Answer:
        """Blocking form of `stream`: the final Answer only."""
        final: Answer | None = None
        for item in self.stream(question, history, cancel, top_k, use_cache, collection):
            if isinstance(item, Answer):
                final = item
        if final is None:  # pragma: no cover - stream always ends with an Answer
            raise CairnError("No answer was produced.")
        return final

    def stream_documents(self, files: Sequence[str], mode: DocumentMode = "summarize",
                         instruction: str = "", cancel: threading.Event | None = None,
                         indexed: Sequence[str] | None = None) -> Iterator[DocumentItem]:
        """Summarize / list / compare / ask over EVERY chunk of `files` (paths or file names):
        map-reduce with the chat model (`indexer/answer/whole_document.py`); `DocumentProgress`
        items, the text, then one `Answer`. Embedding pauses meanwhile, as for `stream`."""
        store, pipeline, _ = self._require_open()
        request = document_request(files, mode, instruction,
                                   indexed or [f.path for f in store.list_files()])
        s = self.settings
        answerer = DocumentAnswerer(lambda p: chunk_hits(store.chunks_for_file(p)),
                                    self._chat_model, context_size=s.n_ctx,
                                    answer_tokens=s.max_answer_tokens, temperature=s.temperature)
        with pipeline.answering():
            yield from answerer.stream(request, cancel)

    def _chat_model(self) -> ChatModel:
        try:
            return self.hub.generator()
        except ModelError as exc:
            raise ModelUnavailableError(exc.message, hint=exc.hint) from exc
