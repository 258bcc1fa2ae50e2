"""Threads and the seam between the Qt-free core and the GUI thread.

Request → run → apply: the GUI captures inputs, an *op* runs them on a worker, and the op's
callbacks apply the result back on the GUI thread. Three kinds of workers exist:

- `SerialExecutor`: a QObject living on its own long-lived QThread, woken by a queued signal for
  each op and running them one at a time. Cairn has two: "cairn-index" (open/scan/index/folders,
  the only thread that changes the knowledge base's lifecycle) and "cairn-answer" (generation).
- `ReadPool`: a private QThreadPool for short reads (search, files, status); stale results are
  simply dropped by their callers.
- `EventBridge`: the core's plain `on_event` callback, called from core threads, re-emitted as a
  `Signal(object)` that is delivered on the GUI thread (queued connection).

Nothing here imports the core: it moves callables and objects between threads.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, QTimer, Signal, Slot

log = logging.getLogger(__name__)

_op_ids = itertools.count(1)


@dataclass(eq=False)
class Op:
    """A unit of background work with GUI-thread callbacks.

    `fn(report)` runs on a worker; `report(item)` may be called from the worker any number of
    times and each item reaches `on_progress(item)` on the GUI thread, in order. The return value
    goes to `on_done(result)`, an exception to `on_error(exc)`. `quit_after` makes the executor's
    thread leave its event loop when the op is finished (used for shutdown).
    """

    name: str
    fn: Callable[[Callable[[Any], None]], Any]
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    on_progress: Callable[[Any], None] | None = None
    quit_after: bool = False
    id: int = field(default_factory=lambda: next(_op_ids))


class PythonThread(QThread):
    """A QThread whose event loop runs inside a Python frame.

    A plain QThread runs its loop in C++, and PySide creates and destroys a Python thread state
    around each slot call, so `threading.local` data does not survive from one op to the next.
    The core relies on it: `filelock` keeps its lock state thread-local, so a lock taken in the
    "open" op could not be released by a later "close" op (the home stayed locked). Running
    `exec()` from Python keeps one thread state for the thread's whole life.
    """

    def run(self) -> None:
        self.exec()


class _ExecutorWorker(QObject):
    """Lives on the executor thread; runs each op it receives.

    Signals:
        op_progressed(object, object): (op, item) reported by a running op.
        op_finished(object, object): (op, result) after `op.fn` returned.
        op_failed(object, object): (op, exception) after `op.fn` raised.
    """

    op_progressed = Signal(object, object)
    op_finished = Signal(object, object)
    op_failed = Signal(object, object)

    @Slot(object)
    def _on_op_submitted(self, op: Op) -> None:
        def report(item: Any) -> None:
            self.op_progressed.emit(op, item)

        try:
            result = op.fn(report)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, none escapes
            if not isinstance(exc, Exception):
                log.error("op %s raised %r", op.name, exc)
            self.op_failed.emit(op, exc)
        else:
            self.op_finished.emit(op, result)
        finally:
            if op.quit_after:
                thread = QThread.currentThread()
                if thread is not None:
                    thread.quit()


class SerialExecutor(QObject):
    """One long-lived QThread that runs ops in submission order.

    Signals:
        op_submitted(object): internal wake-up carrying an `Op` to the worker thread.
        busy_changed(bool): emitted on the GUI thread when the executor starts or drains work.
    """

    op_submitted = Signal(object)
    busy_changed = Signal(bool)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._thread = PythonThread()
        self._thread.setObjectName(name)
        self._worker = _ExecutorWorker()
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self.op_submitted.connect(self._worker._on_op_submitted, Qt.ConnectionType.QueuedConnection)
        self._worker.op_progressed.connect(self._on_op_progressed, Qt.ConnectionType.QueuedConnection)
        self._worker.op_finished.connect(self._on_op_finished, Qt.ConnectionType.QueuedConnection)
        self._worker.op_failed.connect(self._on_op_failed, Qt.ConnectionType.QueuedConnection)
        self._pending = 0
        self._accepting = True
        self._thread.start()

    @property
    def thread(self) -> QThread:
        return self._thread

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def submit(self, op: Op) -> bool:
        """Queue `op`; False (and nothing runs) once the executor is shutting down."""
        if not self._accepting:
            return False
        self._pending += 1
        if self._pending == 1:
            self.busy_changed.emit(True)
        self.op_submitted.emit(op)
        return True

    def shutdown(self, final: Op | None = None, timeout_ms: int = 30_000) -> bool:
        """Run `final` (if any) after the queued ops, then stop the thread and wait for it."""
        self._accepting = False
        if not self._thread.isRunning():
            return True
        if final is not None:
            final.quit_after = True
            self._pending += 1
            self.op_submitted.emit(final)
        else:
            self.op_submitted.emit(Op("quit", lambda report: None, quit_after=True))
        ok = self._thread.wait(timeout_ms)
        if not ok:  # pragma: no cover - only when an op hangs
            log.error("thread %s did not stop within %d ms", self.name, timeout_ms)
        return bool(ok)

    def _settle(self) -> None:
        self._pending = max(0, self._pending - 1)
        if self._pending == 0:
            self.busy_changed.emit(False)

    def _wanted(self, op: Op) -> bool:
        # After shutdown began the GUI may be half torn down: only the final op reports back.
        return self._accepting or op.quit_after

    @Slot(object, object)
    def _on_op_progressed(self, op: Op, item: Any) -> None:
        if op.on_progress is not None and self._wanted(op):
            op.on_progress(item)

    @Slot(object, object)
    def _on_op_finished(self, op: Op, result: Any) -> None:
        self._settle()
        if op.on_done is not None and self._wanted(op):
            op.on_done(result)

    @Slot(object, object)
    def _on_op_failed(self, op: Op, exc: BaseException) -> None:
        self._settle()
        if not self._wanted(op):
            return
        if op.on_error is not None:
            op.on_error(exc)
        else:
            log.error("background op %s failed: %s", op.name, exc, exc_info=exc)


class _TaskSignals(QObject):
    """Carries a pool task's outcome to the GUI thread.

    Signals:
        task_finished(object): the result.
        task_failed(object): the exception.
    """

    task_finished = Signal(object)
    task_failed = Signal(object)


class _PoolTask(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _TaskSignals) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._fn = fn
        self._signals = signals

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            self._signals.task_failed.emit(exc)
        else:
            self._signals.task_finished.emit(result)


class ReadPool(QObject):
    """A small private thread pool for short reads; callbacks run on the GUI thread."""

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._signals: set[_TaskSignals] = set()
        self._accepting = True

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> bool:
        """Run `fn()` on the pool. False when the pool no longer accepts work (shutdown)."""
        if not self._accepting:
            return False
        signals = _TaskSignals()
        self._signals.add(signals)

        def finished(result: Any) -> None:
            self._signals.discard(signals)
            if on_done is not None and self._accepting:
                on_done(result)

        def failed(exc: BaseException) -> None:
            self._signals.discard(signals)
            if on_error is not None and self._accepting:
                on_error(exc)
            elif self._accepting:
                log.warning("background read failed: %s", exc)

        signals.task_finished.connect(finished, Qt.ConnectionType.QueuedConnection)
        signals.task_failed.connect(failed, Qt.ConnectionType.QueuedConnection)
        self._pool.start(_PoolTask(fn, signals))
        return True

    def wait_idle(self, timeout_ms: int = 10_000) -> bool:
        """Block until running reads finished (call from a worker, never the GUI thread)."""
        return bool(self._pool.waitForDone(timeout_ms))

    def active(self) -> int:
        return self._pool.activeThreadCount()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop accepting work, drop queued tasks and wait for running ones."""
        self._accepting = False
        self._pool.clear()
        ok = self._pool.waitForDone(timeout_ms)
        self._signals.clear()
        return bool(ok)


class EventBridge(QObject):
    """The core's `on_event` callback as a Qt signal.

    Pass the bridge itself as `KnowledgeBase(on_event=bridge)`: it is called on core threads and
    only emits. Receivers live on the GUI thread, so delivery is queued.

    Signals:
        event_received(object): one frozen core event (`indexer.events`).
    """

    event_received = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._closed = threading.Event()

    def __call__(self, event: object) -> None:
        if self._closed.is_set():
            return
        try:
            self.event_received.emit(event)
        except RuntimeError:  # the C++ object is gone during interpreter shutdown
            pass

    def close(self) -> None:
        """Drop events from now on (the window is going away)."""
        self._closed.set()


class Throttle(QObject):
    """Coalesce bursts into at most one call per `interval_ms` (latest value wins).

    `push(value)` stores the value; the callback gets the most recent value once per interval.
    With `leading=True` the first push of a quiet period is delivered at once (fresh first
    feedback), later ones at the end of the interval. Used for progress (≤ 10 updates/s), file
    and status refreshes, and re-rendering a streaming answer.
    """

    def __init__(
        self,
        interval_ms: int,
        callback: Callable[[Any], None],
        parent: QObject | None = None,
        leading: bool = False,
    ) -> None:
        super().__init__(parent)
        self._callback = callback
        self._leading = leading
        self._value: Any = None
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timeout)

    def push(self, value: Any = None) -> None:
        if self._leading and not self._timer.isActive():
            self._timer.start()  # the quiet period starts now; pushes during it coalesce
            self._callback(value)
            return
        self._value = value
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Deliver a pending value now."""
        self._timer.stop()
        self._on_timeout()

    def cancel(self) -> None:
        self._timer.stop()
        self._dirty = False
        self._value = None

    @Slot()
    def _on_timeout(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        value, self._value = self._value, None
        self._callback(value)
