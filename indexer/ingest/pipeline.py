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
The modules: this one (lifecycle, writer loop, changes: delete / move / folders),
`pipeline_files` (hash → parse → chunk → grouped writes), `pipeline_vectors` (embedder thread,
vector write-back).

Crash safety: a file's row gets its new content hash only *after* its chunks are written, and a
file stays `parsed` until every chunk has a vector; on restart the scanner re-queues files stuck in
`queued` and the writer re-feeds chunks that have no vector yet. Nothing already embedded is
embedded again, because vectors are reused by chunk text hash.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from indexer.errors import StoreError
from indexer.events import (
    EventCallback,
    FileFailed,
    FileMoved,
    FileRemoved,
    FileStage,
    IndexIdle,
    ProgressUpdated,
)
from indexer.ingest.changes import Change, ChangeQueue
from indexer.ingest.file_filter import PathFilter
from indexer.ingest.file_state import EmbedJob, IndexProgress, is_utf8_name
from indexer.ingest.pipeline_files import GROUP_FILES, VECTOR_WRITE_INTERVAL_S, FileWriter
from indexer.ingest.pipeline_vectors import RESULTS_WAITING, VectorStage, _Spilled
from indexer.ingest.scanner import is_within
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


class IndexingPipeline(FileWriter, VectorStage):
    """Owns the writer and embedder threads. Created and driven by `KnowledgeBase`.

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
        self._embed = embed
        self._count_tokens = count_tokens
        self._roots = roots
        self._filter_for = filter_for
        self._emit = emit
        self._chunk_tokens = chunk_tokens
        self._overlap = overlap_tokens
        # Stored with each file's parser name: files chunked differently are re-chunked.
        self.chunk_signature = f"@c{chunk_tokens}o{overlap_tokens}"
        self._batch = embed_batch_size
        self._embed_in: queue.Queue[EmbedJob | None] = queue.Queue()
        # (EmbedJob, vectors) | EmbedFailed | Dropped; bounded: the embedder waits for the writer
        self._embed_out: queue.Queue[Any] = queue.Queue(maxsize=RESULTS_WAITING)
        self._spill: deque[_Spilled] = deque()  # queued chunks whose texts stay in the store
        self._spill_lock = threading.Lock()
        self._held = 0  # texts in memory for the embedder (queued or pooled)
        self._remaining: dict[str, set[str]] = {}  # path -> chunk ids still waiting for vectors
        self._reused: dict[str, int] = {}  # path -> chunks whose vectors were reused
        self._stop = threading.Event()
        self._busy = 0  # texts queued for embedding and not yet written back
        self.embed_backlog = 0  # texts waiting for the embedder (not yet in a call), anywhere
        self._early_group = 1
        self._wake = threading.Event()  # vectors ready, or changes submitted
        self._prompt = threading.Event()  # submitted changes: no debounce
        self._batches_done = 0  # change batches fully applied (see ChangeQueue.batches_taken)
        self._cond = threading.Condition()
        self._answers = 0  # see VectorStage.answering
        self._answers_since = 0.0
        self._paused = threading.Event()
        self.progress = IndexProgress()
        self._last_progress = 0.0
        self._last_vectors_write = 0.0
        self._threads: list[threading.Thread] = []
        self._writer: threading.Thread | None = None
        self._ops: queue.SimpleQueue[_WriterOp] = queue.SimpleQueue()  # see `on_writer`
        self.embedder_error: str | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start both threads and re-feed chunks left without vectors by an earlier run."""
        self._writer = threading.Thread(target=self._writer_loop, name="cairn-writer",
                                        daemon=True)
        self._threads = [
            self._writer,
            threading.Thread(target=self._embed_loop, name="cairn-embedder", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.on_writer(self._promote_fully_embedded)
        self.submit_pending_embeddings()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop threads; work not finished stays recorded in the store and resumes next start."""
        self._stop.set()
        self.changes.close()
        self._embed_in.put(None)
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
            self._queue_stored(path, ids)

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
            self._busy == 0
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
                if self.embedder_error:
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
                self._apply_vectors()
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
                        self._process_batch(batch)
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
        self._apply_vectors(everything=True)
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

    def _process_batch(self, batch: list[Change]) -> None:
        group: list[Path] = []  # consecutive plain file upserts under one root
        group_root: Path | None = None
        self._early_group = 1  # the embedder may be idle: feed it after the first file
        for change in batch:
            if self._stop.is_set():
                return
            if change.kind == "upsert" and not change.is_dir and is_utf8_name(change.path):
                root = self._root_of(change.path)
                if root is not None and not os.path.isdir(change.path):
                    if root != group_root or len(group) >= GROUP_FILES:
                        self._flush_group(group, group_root)
                        group, group_root = [], root
                    group.append(Path(change.path))
                    continue
            self._flush_group(group, group_root)
            group, group_root = [], None
            self._wait_while_paused()
            if not is_utf8_name(change.path) or not is_utf8_name(change.dest or ""):
                # LanceDB strings are UTF-8: such a path cannot be stored or even looked up.
                change = self._reject_name(change)
                if change is None:
                    continue
            try:
                if change.kind == "delete":
                    self._delete(change)
                elif change.kind == "move":
                    self._move(change)
                else:
                    self._upsert_path(change)
            except Exception as exc:  # one file never aborts the batch
                log.exception("failed to apply %s", change)
                if change.kind == "upsert" and not change.is_dir:
                    self._fail_safely(change.path, exc)
            if time.monotonic() - self._last_vectors_write >= VECTOR_WRITE_INTERVAL_S:
                self._apply_vectors()
            self._emit_progress()
        self._flush_group(group, group_root)

    def _wait_while_paused(self) -> None:
        """Hold the writer while paused; finished vectors and ops are still stored meanwhile.

        Called before each file and change, so waiting ops (`on_writer`) are run here too.
        """
        self._run_ops()
        while self._paused.is_set() and not self._stop.is_set():
            self._run_ops()
            self._apply_vectors()
            time.sleep(0.1)

    def _flush_group(self, paths: list[Path], root: Path | None) -> None:
        if paths and root is not None:
            self._upsert_files(paths, root, self._filter_for(root))

    def _reject_name(self, change: Change) -> Change | None:
        """Report a name that is not valid UTF-8; return what is still to do with the change.

        Such a path never reaches the store, so a move from it is a new file at `dest` and a
        move to it removes the source's rows.
        """
        if change.kind == "move" and change.dest is not None:
            if is_utf8_name(change.dest):
                return Change("upsert", change.dest, is_dir=change.is_dir)
            self._delete(Change("delete", change.path, is_dir=change.is_dir))
            bad = change.dest
        else:
            bad = change.path
        if change.kind == "delete" or change.is_dir:
            log.warning("ignoring a path that is not valid UTF-8: %r", bad)
            return None
        reason = "the file name is not valid UTF-8; rename the file to index it"
        self._emit(FileFailed(bad, reason))
        self._done_file()
        return None

    def _root_of(self, path: str) -> Path | None:
        for root in self._roots():
            if is_within(path, str(root)):
                return root
        return None

    def _delete(self, change: Change) -> None:
        if change.is_dir:
            paths = [f.path for f in self.store.list_files() if is_within(f.path, change.path)]
        else:
            paths = [change.path] if self.store.get_file(change.path) else []
        if not paths:
            return
        self.store.remove_files(paths)
        for p in paths:
            self._remaining.pop(p, None)
            self._emit(FileRemoved(p))

    def _move(self, change: Change) -> None:
        dest = change.dest or ""
        if self._root_of(dest) is None:  # moved out of every watched folder
            self._delete(Change("delete", change.path, is_dir=change.is_dir))
            return
        if change.is_dir:
            self.store.move_prefix(change.path, dest)
            self._emit(FileMoved(change.path, dest))
            # Files under the new name may now be excluded/included differently: re-check cheaply.
            self._upsert_path(Change("upsert", dest, is_dir=True))
            return
        if self.store.get_file(change.path) is None:
            self._upsert_path(Change("upsert", dest))
            return
        root = self._root_of(dest)
        assert root is not None
        verdict = self._filter_for(root).check_file(Path(dest), root)
        if not verdict.ok:
            self._delete(Change("delete", change.path))
            if verdict.skip_visible:
                self._upsert_path(Change("upsert", dest))
            return
        self.store.move_file(change.path, dest, folder=str(root))
        if change.path in self._remaining:
            self._remaining[dest] = self._remaining.pop(change.path)
        self._emit(FileMoved(change.path, dest))
        self._upsert_path(Change("upsert", dest))  # no-op unless the content also changed

    def _upsert_path(self, change: Change) -> None:
        path = Path(change.path)
        root = self._root_of(change.path)
        if root is None:
            return
        path_filter = self._filter_for(root)
        if change.is_dir or path.is_dir():
            # Reconcile the folder: index what is there, drop rows for what no longer is.
            seen: set[str] = set()
            files = list(path_filter.walk(path, root=root))
            with self._cond:  # the folder counted as one file in `submit`; now its files do
                self.progress.files_total += len(files) - 1
            seen.update(str(f) for f in files)
            self._upsert_files(files, root, path_filter)
            gone = [
                f.path for f in self.store.list_files()
                if is_within(f.path, change.path) and f.path not in seen
                and (not os.path.lexists(f.path)
                     or not path_filter.check_file(Path(f.path), root).ok)
            ]
            for stale in gone:
                self._delete(Change("delete", stale))
            if not path.exists():
                self._delete(Change("delete", change.path, is_dir=True))
            return
        self._upsert_files([path], root, path_filter)

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
