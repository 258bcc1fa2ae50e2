"""The indexing pipeline: one writer thread and one embedding thread.

    ChangeQueue ──drain──▶ writer: stat → hash → parse → chunk → write chunks (keyword-searchable)
                                │ chunk texts that need vectors
                                ▼
                           embedder thread: length-sorted batches through the ONNX model
                                │ (ids, vectors)
                                ▼
                           writer: write vectors (batched), mark files embedded

Why two threads: embedding is the bottleneck (~95 chunks/s of ~130 tokens on 2 cores here) and
onnxruntime releases the GIL, so parsing later files overlaps embedding earlier ones. Only the
writer thread touches LanceDB for writing (DESIGN: one writer); the embedder computes, and reads
back the texts of chunks queued while it was far behind (memory stays bounded, see
`pipeline_vectors`).
Everything here is arranged so the embedder never waits: a scan's changes are taken without the
editor debounce, the first files are written in small groups while the embedder has little
queued (`pipeline_files`), and the writer wakes as soon as vectors are ready (`pipeline_vectors`).
The pipeline is composed of two stages that own their state and talk through the queues between
them: `IndexingPipeline` (this module: lifecycle, the writer loop, idle/pause, progress and the
writes other threads hand the writer, `on_writer`) builds a `FileWriter` (`pipeline_files`: the
changes, upsert / delete / move / folders, hash → parse → chunk → grouped writes) and a
`VectorStage` (`pipeline_vectors`: the embedding queues and memory bound, the embedder thread,
the vector write-back). They share only the progress, the idle condition and the stop/wake-up
events; the writer stage hands chunks to the vector stage, which hands results back to the writer
thread.

Crash safety: a file's row gets its new content hash only *after* its chunks are written, and a
file stays `parsed` until every chunk has a vector; on restart the scanner re-queues files stuck in
`queued` and the writer re-feeds chunks that have no vector yet. Nothing already embedded is
embedded again, because vectors are reused by chunk text hash.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from indexer.errors import StoreError
from indexer.events import EventCallback, FileStage, IndexIdle, ProgressUpdated
from indexer.ingest.changes import Change, ChangeQueue
from indexer.ingest.file_filter import PathFilter
from indexer.ingest.file_state import IndexProgress
from indexer.ingest.pipeline_files import GROUP_FILES as GROUP_FILES  # noqa: PLC0414
from indexer.ingest.pipeline_files import FileWriter
from indexer.ingest.pipeline_vectors import RESULTS_WAITING, VectorStage
from indexer.storage.store import IndexStore

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25
MAINTAIN_INTERVAL_S = 2.0
# Editors save a file several times in a burst: watcher changes are taken once they have been
# quiet this long. A scan's (or retry's) changes are final already and are taken at once.
DEBOUNCE_S = 0.2
# How often the idle writer looks for watcher changes (below DEBOUNCE_S, so it adds no delay)
# and, at the latest, for finished vectors (the embedder wakes it sooner).
POLL_S = 0.1

T = TypeVar("T")


@dataclass(slots=True)
class _WriterOp:
    """A store write asked for by another thread, run by the writer (see `on_writer`)."""

    fn: Callable[[], Any]
    done: threading.Event
    result: Any = None
    error: BaseException | None = None


class IndexingPipeline:
    """Owns the writer and embedder threads and composes the stages they run (`files`, the
    writer stage; `vectors`, the vector stage). Created and driven by `KnowledgeBase`.

    `roots` is read on every change so folders added or removed at run time take effect; `embed`
    is the embedder's batch function (called only on the embedder thread).
    """

    def __init__(
        self,
        store: IndexStore,
        embed: Callable[[list[str]], object],
        count_tokens: Callable[[str], int],
        roots: Callable[[], list[Path]],
        filter_for: Callable[[Path], PathFilter],
        emit: EventCallback,
        *,
        chunk_tokens: int,
        overlap_tokens: int,
        embed_batch_size: int = 32,
    ) -> None:
        self.store = store
        self.changes = ChangeQueue()
        self.progress = IndexProgress()
        self._stop = threading.Event()
        self._wake = threading.Event()  # vectors ready, ops or changes submitted
        self._prompt = threading.Event()  # submitted changes: no debounce
        self._paused = threading.Event()
        # Guards the idle counters: batches done here, texts in flight in the vector stage.
        self._cond = threading.Condition()
        self._batches_done = 0  # change batches fully applied (see ChangeQueue.batches_taken)
        self._last_progress = 0.0
        self._threads: list[threading.Thread] = []
        self._writer: threading.Thread | None = None
        self._ops: queue.SimpleQueue[_WriterOp] = queue.SimpleQueue()  # see `on_writer`
        self._emit = emit
        self.vectors = VectorStage(
            store, embed, emit, batch_size=embed_batch_size, progress=self.progress,
            cond=self._cond, wake=self._wake, stop=self._stop,
            emit_progress=self._emit_progress, results_waiting=RESULTS_WAITING,
        )
        self.files = FileWriter(
            store, self.vectors, emit, roots, filter_for, count_tokens=count_tokens,
            chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens, progress=self.progress,
            cond=self._cond, stop=self._stop, checkpoint=self._wait_while_paused,
            emit_progress=self._emit_progress,
        )

    # ------------------------------------------------------------------ the stages' faces
    @property
    def chunk_signature(self) -> str:
        """Stored with each file's parser name: files chunked differently are re-chunked."""
        return self.files.chunk_signature

    @property
    def embedder_error(self) -> str | None:
        return self.vectors.embedder_error

    @property
    def embed_backlog(self) -> int:
        return self.vectors.embed_backlog

    def answering(self) -> AbstractContextManager[None]:
        """Hold embedding while an answer is generated (`VectorStage.answering`)."""
        return self.vectors.answering()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start both threads and re-feed chunks left without vectors by an earlier run."""
        self._writer = threading.Thread(target=self._writer_loop, name="cairn-writer",
                                        daemon=True)
        self._threads = [
            self._writer,
            threading.Thread(target=self.vectors.run, name="cairn-embedder", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.on_writer(self._promote_fully_embedded)
        self.submit_pending_embeddings()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop threads; work not finished stays recorded in the store and resumes next start."""
        self._stop.set()
        self.changes.close()
        self.vectors.close()
        for t in self._threads:
            t.join(timeout)
        self._threads = []
        self._writer = None

    def on_writer(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run `fn` on the writer thread, the only thread that writes to the store, and return
        its result (or raise its exception) here.

        The writer takes such ops before each change and each file it works on, and while
        idle or paused, so the wait is at most one file's parse or one group's commits.
        Raises `StoreError` if the pipeline stops before running `fn`, and `TimeoutError` after
        `timeout` seconds (the op then still runs, in order, later).
        """
        writer = self._writer
        if threading.current_thread() is writer:
            return fn()
        if writer is None or self._stop.is_set():
            raise StoreError("The index is closing; try again once it is open.")
        op = _WriterOp(fn, threading.Event())
        self._ops.put(op)  # before the wake-up: the writer looks at the ops once woken
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not op.done.wait(0.1):
            if not writer.is_alive() and not op.done.is_set():
                raise StoreError("The index closed before the change was written.")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"the writer did not take the op within {timeout} s")
        if op.error is not None:
            raise op.error
        return op.result  # type: ignore[no-any-return]

    def _run_ops(self, cancel: bool = False) -> None:
        """Writer thread: run the ops other threads are waiting for (or fail them: stopping)."""
        while True:
            try:
                op = self._ops.get_nowait()
            except queue.Empty:
                return
            try:
                if cancel:
                    raise StoreError("The index closed before the change was written.")
                op.result = op.fn()
            except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
                op.error = exc
            finally:
                op.done.set()

    def submit(self, changes: list[Change]) -> None:
        """Queue changes that need no debounce (a scan's, a retry): the writer takes them at
        once, where the watcher's go through `changes` directly and wait for a quiet moment."""
        with self._cond:
            self.progress.files_total += sum(1 for c in changes if c.kind == "upsert")
        self._prompt.set()  # before: a drain racing the puts must not debounce them either
        for change in changes:
            self.changes.put(change)
        self._prompt.set()  # after: the writer may have cleared it while the puts ran
        self._wake.set()

    def submit_pending_embeddings(self) -> None:
        """Queue every stored chunk that has no vector yet (resume after a crash or restart).

        By id only: the embedder reads the texts back in bounded batches, so resuming 100k
        unembedded chunks does not load 100k texts at once.
        """
        by_path: dict[str, list[str]] = {}
        for chunk_id, path in self.store.pending_chunk_paths():
            by_path.setdefault(path, []).append(chunk_id)
        for path, ids in by_path.items():
            self.vectors.queue_stored(path, ids)

    def _promote_fully_embedded(self) -> None:
        """Mark `embedded` the files a crash left `parsed` after their last vectors were stored.

        The vectors commit and the stage update are two writes; a kill between them would
        otherwise leave the file waiting for embeddings forever, with nothing left to embed.
        """
        parsed = self.store.list_files(stage=FileStage.PARSED)
        if not parsed:
            return
        waiting = {path for _, path in self.store.pending_chunk_paths()}
        for record in parsed:
            if record.path not in waiting:
                self.store.set_stage(record.path, FileStage.EMBEDDED)
                log.info("%s had all its vectors; marked embedded", record.path)

    def set_paused(self, paused: bool) -> None:
        """Pause between write groups (the GUI's pause button); queued changes are kept.

        Files already parsed in the current group (at most `GROUP_FILES`) are still written.
        """
        (self._paused.set if paused else self._paused.clear)()

    def _idle_locked(self) -> bool:
        return (
            self.vectors.busy == 0
            and self.changes.pending() == 0
            and self.changes.batches_taken == self._batches_done
        )

    def is_idle(self) -> bool:
        with self._cond:
            return self._idle_locked()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until all queued work is done. True if idle, False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._idle_locked():
                if self.vectors.embedder_error:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.1 if remaining is None else min(0.1, remaining))
        return True

    # ------------------------------------------------------------------ writer thread
    def _writer_loop(self) -> None:
        idle_announced = True
        last_maintain = 0.0
        while not self._stop.is_set():
            try:
                self._wake.clear()  # before looking: a wake-up from here on is not lost
                self._run_ops()
                self.vectors.apply_vectors()
                if self._paused.is_set():
                    time.sleep(0.1)
                    continue
                batch = self._next_batch()
                if batch:
                    if idle_announced:  # say at once that work resumed: "idle" is stale now
                        self.progress.stage = "hashing"
                        self._emit_progress(force=True)
                    idle_announced = False
                    try:
                        self.files.process_batch(batch)
                    finally:
                        with self._cond:
                            self._batches_done += 1
                            self._cond.notify_all()
                    continue
                now = time.monotonic()
                if now - last_maintain > MAINTAIN_INTERVAL_S:
                    # Cheap when nothing is due (~1 ms); compacts after bursts of small writes
                    # so search stays fast and old versions don't pile up under constant edits.
                    last_maintain = now  # before: a failing compaction must not spin
                    self.store.maintain(settle=self.is_idle())
                if self.is_idle() and not idle_announced:
                    self.progress.stage = "idle"
                    self.progress.current_path = None
                    self._emit_progress(force=True)
                    self._emit(IndexIdle())
                    idle_announced = True
            except Exception:  # the writer must survive anything one batch throws
                log.exception("writer loop error")
                time.sleep(0.5)
        self.vectors.apply_vectors(everything=True)
        self._run_ops(cancel=True)

    def _next_batch(self) -> list[Change]:
        """The next batch of changes, or [] after waiting up to POLL_S for something to do."""
        prompt = self._prompt.is_set()
        if not prompt and self.changes.pending() == 0:
            # Nothing queued: wait for finished vectors or a submit rather than in `drain`,
            # which only a change would wake. Watcher changes are seen within POLL_S.
            self._wake.wait(POLL_S)
            return []
        self._prompt.clear()
        quiet = 0.0 if prompt else DEBOUNCE_S
        return self.changes.drain(quiet_seconds=quiet, max_wait=1.0, timeout=POLL_S)

    def _wait_while_paused(self) -> None:
        """Hold the writer while paused; finished vectors and ops are still stored meanwhile.

        Called before each file and change, so waiting ops (`on_writer`) are run here too.
        """
        self._run_ops()
        while self._paused.is_set() and not self._stop.is_set():
            self._run_ops()
            self.vectors.apply_vectors()
            time.sleep(0.1)

    # ------------------------------------------------------------------ progress
    def _emit_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        p = self.progress
        self._emit(
            ProgressUpdated(
                files_done=p.files_done,
                files_total=p.files_total,
                chunks_embedded=p.chunks_embedded,
                chunks_pending=p.chunks_pending,
                current_path=p.current_path,
                stage=p.stage,
                eta_seconds=p.eta(),
            )
        )
