"""The GUI's composition root: Settings → ModelHub → KnowledgeBase, built on a worker.

`Controller` owns everything that is not a widget: the two long-lived worker threads, the read
pool, the event bridge and the `KnowledgeBase` once it is open. Widgets call its methods (which
return at once) and listen to its signals (delivered on the GUI thread). It is also the one
shutdown fan-out: `shutdown()` stops generation, drains reads, closes the knowledge base on the
thread that opened it and joins both threads.

The core is imported lazily, inside the ops that run on the index thread, so the window paints
before lancedb, fastembed or llama.cpp are even imported. Opening takes seconds (mostly importing
lancedb and loading the embedder), so requests made meanwhile (a question, a search, adding a
folder) are queued and run as soon as the index is open, or fail with the reason it did not open;
the window can take input as soon as the settings are known.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from desktop_app.bridge import EventBridge, Op, ReadPool, SerialExecutor, Throttle
from indexer.errors import Cancelled
from indexer.events import (
    FileEmbedded,
    FileFailed,
    FileMoved,
    FileParsed,
    FileQueued,
    FileRemoved,
    FileSkipped,
    IndexIdle,
    ProgressUpdated,
    ScanFinished,
)
from indexer.paths import default_home

if TYPE_CHECKING:
    from indexer.answer.answering import Turn
    from indexer.config import Settings
    from indexer.service import IndexStatus, KnowledgeBase

log = logging.getLogger(__name__)

# While the core opens, the index thread runs imports (lancedb, pydantic schemas, fastembed) for
# seconds in pure-Python stretches. A GUI callback that wants the GIL then waits a whole switch
# interval (5 ms by default) each time before the worker is asked to let go. 1 ms keeps the
# window's event handling close to its idle latency; restored once the index is open.
STARTUP_SWITCH_INTERVAL_S = 0.001

_FILE_EVENTS = (FileQueued, FileParsed, FileEmbedded, FileFailed, FileSkipped, FileRemoved, FileMoved)


def _scan_and_watch(kb: KnowledgeBase) -> None:
    """Reconcile the folders with the index, then follow their changes (index thread)."""
    kb.scan()
    kb.start_watching()


class Controller(QObject):
    """Runs the knowledge base off the GUI thread and reports back with signals.

    Signals:
        settings_loaded(object): the `Settings` the session runs with (first stage of start-up).
        kb_opened(object): the `KnowledgeBase` is open and indexing can start (requests queued
            while it opened are sent right after this).
        kb_failed(object): opening failed; the exception (a `CairnError` carries a hint). Queued
            requests fail with it.
        kb_reloaded(object): settings were applied; the (possibly new) `KnowledgeBase`.
        event_received(object): every core event, on the GUI thread, unthrottled.
        progress_updated(object): the latest `ProgressUpdated`, at most 10 per second.
        files_changed(): file stages changed; listeners re-read `files()` (≤ 1 per 1.5 s).
        status_refreshed(object): a fresh `IndexStatus`.
        folders_changed(object): the watched folders (list of Path) after an add or remove.
        indexing_paused(bool): pause state after `set_paused`.
        models_changed(): a model started or finished loading (re-check what is ready).
        error_reported(str, object): (what failed, exception) for the notice bar.
        collections_changed(object): name → folders after a collection was changed.

    `collection`: the collection searches, answers and the status are limited to (None: all
    folders); set by the window's switcher (`desktop_app/collection_switcher.py`).
    """

    settings_loaded = Signal(object)
    kb_opened = Signal(object)
    kb_failed = Signal(object)
    kb_reloaded = Signal(object)
    event_received = Signal(object)
    progress_updated = Signal(object)
    files_changed = Signal()
    status_refreshed = Signal(object)
    folders_changed = Signal(object)
    indexing_paused = Signal(bool)
    models_changed = Signal()
    error_reported = Signal(str, object)
    collections_changed = Signal(object)

    def __init__(
        self,
        home: Path | str | None = None,
        overrides: dict[str, Any] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._home = Path(home).expanduser().resolve() if home else None
        self._overrides = dict(overrides or {})
        self.settings: Settings | None = None
        self.kb: KnowledgeBase | None = None
        self.opening = False  # start() ran and the index is not open (nor failed) yet
        self.open_error: BaseException | None = None
        self.paused = False
        self.closing = False
        self.freeze_gc = True
        self.warming_up = False
        self.last_progress: ProgressUpdated | None = None
        self.last_status: IndexStatus | None = None
        self.collection: str | None = None
        self._answer_cancel: threading.Event | None = None
        self._deferred: list[Callable[[], None]] = []
        self._owned_kb: KnowledgeBase | None = None  # touched on the index thread only
        self._status_reading = False
        self._status_again = False
        # Requests made while the core opens: (run once open, fail with the open error).
        self._until_open: list[tuple[Callable[[], Any], Callable[[BaseException], None] | None]] = []
        self._queued_answer: Callable[[BaseException], None] | None = None  # its on_error
        self._switch_interval: float | None = None
        self._gc_paused = False

        self.bridge = EventBridge(self)
        self.bridge.event_received.connect(
            self._on_event_received, Qt.ConnectionType.QueuedConnection
        )
        self.index_executor = SerialExecutor("cairn-index", self)
        self.answer_executor = SerialExecutor("cairn-answer", self)
        self.answer_executor.busy_changed.connect(self._on_answer_busy_changed)
        self.pool = ReadPool(2, self)
        self._progress = Throttle(100, self._emit_progress, self)
        # `files()` and `status()` read whole tables (status also sizes the index folder) and
        # hold the GIL while they convert rows: measured, refreshing them on every burst of file
        # events slowed indexing by a third and caused GUI stalls. So: at most every 1.5 s / 3 s
        # while files change, and at once when the index goes idle.
        self._files = Throttle(1500, lambda _v: self.files_changed.emit(), self, leading=True)
        self._status = Throttle(3000, lambda _v: self.refresh_status(), self, leading=True)

    # ------------------------------------------------------------------ start-up
    @property
    def home(self) -> Path:
        """The home this session uses, known before the settings load (settings never move it),
        so the window can read its conversation history while the core is still importing."""
        return self._home or default_home()

    def start(self) -> None:
        """Stage 2 of start-up: load settings, build the hub and open the index on the worker."""
        home, overrides, bridge = self._home, self._overrides, self.bridge
        self.opening = True
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, STARTUP_SWITCH_INTERVAL_S))
        if self.freeze_gc and gc.isenabled():
            # The open imports ~10^5 long-lived objects; the cyclic collector rescans all of them
            # again and again meanwhile. Measured (real embedder, 2 cores): collections were a
            # third of the open's CPU (3.8 s -> 2.5 s without) and the full ones held the GIL
            # for 0.1-0.5 s each, the longest start-up stalls. Imports leave almost no cyclic
            # garbage (~700 objects), so the collector rests until the index is open, then the
            # survivors are frozen (below).
            gc.disable()
            self._gc_paused = True

        def open_core(report: Callable[[Any], None]) -> Any:
            from indexer.config import load_settings

            settings = load_settings(home, **overrides)
            report(settings)
            from indexer.service import KnowledgeBase, build_hub  # heavy: lancedb, models

            kb = KnowledgeBase(settings, build_hub(settings), on_event=bridge)
            self._owned_kb = kb  # index thread only: shutdown closes it even if never delivered
            kb.open()
            return kb  # the scan follows as its own op: searching need not wait for it

        self.index_executor.submit(
            Op("open", open_core, self._on_kb_opened, self._on_kb_failed, self._on_settings_loaded)
        )

    def _on_settings_loaded(self, settings: Settings) -> None:
        self.settings = settings
        self.settings_loaded.emit(settings)

    def _end_opening(self, opened: bool = False) -> None:
        self.opening = False
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        if opened and self.freeze_gc:
            # The heavy imports are done: move their ~10^5 long-lived objects out of the cyclic
            # collector's reach. Measured: full collections then took 60-90 ms with the GIL held
            # (on whichever thread triggered them) and were the GUI's longest stalls. (No
            # gc.collect() first: that alone is a 100 ms pause, for a few MB of garbage.)
            gc.freeze()
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()

    def _on_kb_opened(self, kb: KnowledgeBase) -> None:
        self._end_opening(opened=not self.closing)
        if self.closing:
            return
        self.kb = kb
        if kb.folders():
            # Walking big folders takes seconds; the index is searchable meanwhile.
            self._index_op("Scanning the folders", _scan_and_watch)
        self.kb_opened.emit(kb)
        queued, self._until_open = self._until_open, []
        self._queued_answer = None
        for run, _fail in queued:
            run()
        self.refresh_status()
        self.files_changed.emit()

    def _on_kb_failed(self, exc: BaseException) -> None:
        self._end_opening()
        self.open_error = exc
        log.error("could not open the knowledge base: %s", exc)
        self.kb_failed.emit(exc)
        queued, self._until_open = self._until_open, []
        self._queued_answer = None
        for _run, fail in queued:
            if fail is not None:
                fail(exc)

    def _when_open(
        self, run: Callable[[], Any], fail: Callable[[BaseException], None] | None
    ) -> bool:
        """Queue a request made while the core is opening. False if it is not opening (closed,
        failed, or being reloaded): the caller reports that nothing was started."""
        if self.closing or not self.opening:
            return False
        self._until_open.append((run, fail))
        return True

    # ------------------------------------------------------------------ events
    @Slot(object)
    def _on_event_received(self, event: object) -> None:
        if self.closing:
            return
        self.event_received.emit(event)
        if isinstance(event, ProgressUpdated):
            self.last_progress = event
            self._progress.push(event)
        elif isinstance(event, _FILE_EVENTS):
            self._files.push()
            self._status.push()
        elif isinstance(event, (IndexIdle, ScanFinished)):
            self._progress.flush()
            self._files.cancel()
            self._status.cancel()
            self.files_changed.emit()
            self.refresh_status()

    def _emit_progress(self, event: ProgressUpdated) -> None:
        self.progress_updated.emit(event)

    # ------------------------------------------------------------------ index operations
    def _index_op(
        self,
        name: str,
        fn: Callable[[KnowledgeBase], Any],
        on_done: Callable[[Any], None] | None = None,
    ) -> bool:
        kb = self.kb

        def failed(exc: BaseException) -> None:
            self.error_reported.emit(name, exc)

        if kb is None or self.closing:
            return self._when_open(lambda: self._index_op(name, fn, on_done), failed)
        return self.index_executor.submit(Op(name, lambda report: fn(kb), on_done, failed))

    def add_folder(self, path: Path | str) -> bool:
        """Watch and index a folder (persisted); queued while the core opens. False when the core
        is closed or failed to open."""

        def run(kb: KnowledgeBase) -> list[Path]:
            kb.add_folder(path)
            kb.start_watching()
            return kb.folders()

        return self._index_op("Adding the folder", run, self._on_folders_changed)

    def remove_folder(self, path: Path | str) -> bool:
        """Stop watching a folder and drop its files from the index (documents untouched)."""

        def run(kb: KnowledgeBase) -> list[Path]:
            kb.remove_folder(path)
            return kb.folders()

        return self._index_op("Removing the folder", run, self._on_folders_changed)

    def change_collections(self, name: str, fn: Callable[[KnowledgeBase], Any],
                           on_done: Callable[[], None] | None = None) -> bool:
        """Run `fn(kb)` (a `kb.collections` change) on the index thread: it may start watching
        a folder. Then `on_done()`, `collections_changed` and the folders' signals."""

        def run(kb: KnowledgeBase) -> tuple[dict[str, list[Path]], list[Path]]:
            fn(kb)
            if kb.watcher is None and kb.folders():
                kb.start_watching()
            return kb.collections.as_dict(), kb.folders()

        def done(result: tuple[dict[str, list[Path]], list[Path]]) -> None:
            if on_done is not None:
                on_done()
            self.collections_changed.emit(result[0])
            self._on_folders_changed(result[1])

        return self._index_op(name, run, done)

    def _on_folders_changed(self, folders: list[Path]) -> None:
        self.folders_changed.emit(folders)
        self.files_changed.emit()
        self.refresh_status()

    def set_paused(self, paused: bool) -> bool:
        def run(kb: KnowledgeBase) -> bool:
            kb.set_paused(paused)
            return paused

        def done(value: bool) -> None:
            self.paused = value
            self.indexing_paused.emit(value)

        return self._index_op("Pausing indexing" if paused else "Resuming indexing", run, done)

    def retry(self, path: str) -> bool:
        """Queue one (failed) file again."""
        return self._index_op("Retrying the file", lambda kb: kb.retry(path), lambda _r: None)

    def rescan(self) -> bool:
        return self._index_op("Scanning the folders", lambda kb: kb.scan())

    # ------------------------------------------------------------------ reads (pool)
    def read(
        self,
        fn: Callable[[KnowledgeBase], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> bool:
        """Run a short read against the open knowledge base on the pool (queued while it opens)."""
        kb = self.kb
        if kb is None or self.closing:
            return self._when_open(lambda: self.read(fn, on_done, on_error), on_error)
        return self.pool.run(lambda: fn(kb), on_done, on_error)

    def search(
        self,
        query: str,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> bool:
        collection = self.collection
        return self.read(lambda kb: kb.search(query, collection=collection), on_done, on_error)

    def files(self, on_done: Callable[[Any], None]) -> bool:
        return self.read(lambda kb: kb.files(), on_done)

    def refresh_status(self) -> bool:
        """Read `status()` on the pool. Calls while one read runs coalesce into one more read."""
        if self._status_reading:
            self._status_again = True
            return True

        def settle() -> None:
            self._status_reading = False
            if self._status_again:
                self._status_again = False
                self.refresh_status()

        def done(status: IndexStatus | None) -> None:
            if status is not None:
                self.last_status = status
                self.status_refreshed.emit(status)
            settle()

        def failed(exc: BaseException) -> None:
            log.warning("status: %s", exc)
            settle()

        collection = self.collection

        def read(kb: KnowledgeBase) -> IndexStatus | None:
            if collection is not None and collection not in kb.collections.names():
                return None  # renamed or deleted meanwhile: the switcher asks again
            return kb.status(collection)

        started = self.read(read, done, failed)
        self._status_reading = started
        return started

    # ------------------------------------------------------------------ answers
    def ask(
        self,
        question: str,
        history: Sequence[Turn],
        on_item: Callable[[Any], None],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> threading.Event | None:
        """Stream an answer on the generation thread. Returns the cancel Event (None if closed).

        Every `AnswerStage`/`AnswerToken` and the final `Answer` reach `on_item`; `on_done`
        gets the final `Answer`. Asked while the core opens, the question waits for it (Stop
        drops it at once).
        """
        kb = self.kb
        cancel = threading.Event()
        if kb is None or self.closing:

            def when_open() -> None:
                if cancel.is_set():
                    on_error(Cancelled("Stopped before the index was open."))
                else:
                    self._submit_answer(question, history, cancel, on_item, on_done, on_error)

            if not self._when_open(when_open, on_error):
                return None
            self._queued_answer = on_error
            self._answer_cancel = cancel
            return cancel
        self._submit_answer(question, history, cancel, on_item, on_done, on_error)
        return cancel

    def _submit_answer(
        self,
        question: str,
        history: Sequence[Turn],
        cancel: threading.Event,
        on_item: Callable[[Any], None],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        kb = self.kb
        assert kb is not None
        history, collection = tuple(history), self.collection

        def run(report: Callable[[Any], None]) -> Any:
            final = None
            for item in kb.stream(question, history, cancel=cancel, collection=collection):
                report(item)
                final = item
            return final

        self._answer_cancel = cancel
        self.answer_executor.submit(Op("answer", run, on_done, on_error, on_item))

    def warm_up(self) -> bool:
        """Prepare and load the chat model on the generation thread, before the first question.

        Assembling the default model from its packages and loading it takes seconds; doing it
        now (while the person reads the welcome page or indexing runs) keeps the first answer
        quick. A question asked meanwhile simply queues behind it on the same thread.
        """
        kb = self.kb
        if kb is None or self.closing or self.warming_up:
            return False

        def finished(_result: Any) -> None:
            self.warming_up = False
            self.models_changed.emit()
            self.refresh_status()

        def failed(exc: BaseException) -> None:
            finished(None)
            self.error_reported.emit("Preparing the chat model", exc)

        self.warming_up = True
        self.answer_executor.submit(Op("warm up", lambda report: kb.warm_up(), finished,
                                       failed))
        self.models_changed.emit()
        return True

    def stop_answer(self) -> None:
        """Ask the running generation to stop between tokens (a queued question is dropped)."""
        if self._answer_cancel is not None:
            self._answer_cancel.set()
        on_error, self._queued_answer = self._queued_answer, None
        if on_error is not None:
            self._until_open = [item for item in self._until_open if item[1] is not on_error]
            self._answer_cancel = None
            # Reported from the event loop, like a real answer's end: the caller is still
            # inside its stop() when this runs.
            stopped = Cancelled("Stopped before the index was open.")
            QTimer.singleShot(0, self, lambda: on_error(stopped))

    @property
    def answering(self) -> bool:
        return self.answer_executor.busy

    @Slot(bool)
    def _on_answer_busy_changed(self, busy: bool) -> None:
        if busy:
            return
        self._answer_cancel = None
        deferred, self._deferred = self._deferred, []
        for fn in deferred:
            fn()
        if not self.closing:
            self.refresh_status()  # the chat model may have loaded

    # ------------------------------------------------------------------ settings
    def apply_settings(self, changes: dict[str, Any]) -> bool:
        """Persist changed settings and apply them on the index thread: the core decides what
        they need (`KnowledgeBase.reconfigure`: in place, a rescan, a reopen, a re-chunk)."""
        if not changes or self.kb is None or self.closing:
            return False
        if self.answering:  # never swap the knowledge base under a running answer
            self.stop_answer()
            self._deferred.append(lambda: self.apply_settings(changes))
            return True
        kb, pool = self.kb, self.pool
        from indexer.service import SettingsChange  # loaded by now: the knowledge base is open

        live = not SettingsChange(frozenset(changes)).reopen
        if not live:
            self.kb = None  # no new reads against the old instance

        def run(report: Callable[[Any], None]) -> Any:
            new = kb.settings.model_copy(deep=True)
            for key, value in changes.items():
                setattr(new, key, value)  # validated (validate_assignment)
            fresh = kb.reconfigure(new, keys=changes, before_reopen=pool.wait_idle)
            if fresh is not kb:
                self._owned_kb = fresh
            return fresh

        def done(new_kb: KnowledgeBase) -> None:
            self.kb = new_kb
            self.settings = new_kb.settings
            self.kb_reloaded.emit(new_kb)
            self.refresh_status()
            self.files_changed.emit()

        def failed(exc: BaseException) -> None:
            if not live:
                self.kb = None
            self.error_reported.emit("Applying the settings", exc)

        return self.index_executor.submit(Op("apply settings", run, done, failed))

    # ------------------------------------------------------------------ shutdown
    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Stop generation, drain reads, close the knowledge base, join both threads."""
        if self.closing:
            return
        self.closing = True
        self._until_open.clear()
        self._queued_answer = None
        if self.opening:
            self._end_opening()
        self.bridge.close()
        for throttle in (self._progress, self._files, self._status):
            throttle.cancel()
        self.stop_answer()
        self.answer_executor.shutdown(timeout_ms=timeout_ms)
        self.pool.shutdown(timeout_ms=timeout_ms)

        def close_core(report: Callable[[Any], None]) -> None:
            # Runs after any queued index op, so it also closes an instance opened meanwhile.
            kb, self._owned_kb = self._owned_kb, None
            if kb is not None:
                kb.close()

        self.index_executor.shutdown(Op("close", close_core), timeout_ms=timeout_ms)
        self.kb = None
