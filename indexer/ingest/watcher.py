"""Live folder watching: watchdog events become `Change`s on the `ChangeQueue`.

The handler runs on watchdog's observer thread and does no real work: a name-only filter check
(no disk access) and `queue.put`. Parsing, hashing and size checks happen on the writer thread.

How events map to changes:

- file created / modified / closed-after-write → `upsert`; file deleted → `delete`
- file moved → `move`; if only the destination is wanted (an editor's "write `x.tmp`, rename
  over `x`" save, or a file renamed into the folder) → `upsert dest`; if only the source is
  wanted (renamed to `x~`, moved to an excluded folder) → `delete src`
- folder moved → one `move(is_dir=True)`; watchdog's synthetic per-file moves are dropped
- folder deleted → `delete(is_dir=True)` (the queue folds the per-file deletes into it)
- folder created (incl. moved in from outside a root) → `upsert(is_dir=True)`: "scan it", since
  inotify may deliver the files inside before the new folder is watched
- paths excluded by the filter (`.git` internals, editor temp files…) → nothing
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Self

from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from indexer.errors import UserInputError
from indexer.ingest.changes import Change, ChangeQueue
from indexer.ingest.file_filter import PathFilter

log = logging.getLogger(__name__)

FilterSource = PathFilter | Callable[[Path], PathFilter]

# Only these reach the handler; inotify is not even asked for the rest (opens, attribute changes,
# folder "modified" noise on every file change).
_EVENT_FILTER = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]


class _RootHandler(FileSystemEventHandler):
    """Turns one root's events into queue puts. Runs on the observer thread: keep it trivial."""

    def __init__(self, root: Path, queue: ChangeQueue, path_filter: PathFilter) -> None:
        super().__init__()
        self._root = os.fspath(root)
        self._queue = queue
        self._filter = path_filter

    def _file_ok(self, path: str) -> bool:
        return bool(path) and self._filter.is_candidate(path, self._root)

    def _dir_ok(self, path: str) -> bool:
        return bool(path) and not self._filter.is_excluded(path, self._root, is_dir=True)

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._dispatch(event)
        except Exception:  # an exception here would kill watchdog's observer thread
            log.exception("watch handler failed on %r", event)

    def _dispatch(self, event: FileSystemEvent) -> None:
        if event.is_synthetic:
            return  # watchdog's per-file echo of a folder move/creation: the folder change covers it
        kind = event.event_type
        src = os.fsdecode(event.src_path)
        is_dir = event.is_directory
        if kind in (EVENT_TYPE_CREATED, EVENT_TYPE_MODIFIED, EVENT_TYPE_CLOSED):
            if is_dir:
                if kind == EVENT_TYPE_CREATED and self._dir_ok(src):
                    self._queue.put(Change("upsert", src, is_dir=True))
            elif self._file_ok(src):
                self._queue.put(Change("upsert", src))
        elif kind == EVENT_TYPE_DELETED:
            if self._dir_ok(src) if is_dir else self._file_ok(src):
                self._queue.put(Change("delete", src, is_dir=is_dir))
        elif kind == EVENT_TYPE_MOVED:
            dest = os.fsdecode(event.dest_path)
            ok = self._dir_ok if is_dir else self._file_ok
            src_ok, dest_ok = ok(src), ok(dest)
            if src_ok and dest_ok:
                self._queue.put(Change("move", src, dest, is_dir=is_dir))
            elif dest_ok:
                self._queue.put(Change("upsert", dest, is_dir=is_dir))
            elif src_ok:
                self._queue.put(Change("delete", src, is_dir=is_dir))


class FolderWatcher:
    """Watches folders recursively and feeds a `ChangeQueue`.

    `path_filter` is one `PathFilter` for every root, or a function building one per root.
    `start()` returns once the watches are in place (inotify watches are added synchronously),
    so changes made after it returns are seen. `stop()` joins watchdog's threads; the queue is
    left open for its owner to close.
    """

    def __init__(
        self, roots: Iterable[Path], queue: ChangeQueue, path_filter: FilterSource
    ) -> None:
        self._queue = queue
        self._filter_source = path_filter
        self._roots: list[Path] = []
        for r in roots:
            p = Path(r).absolute()
            if p not in self._roots:
                self._roots.append(p)
        self._watches: dict[Path, ObservedWatch] = {}
        self._observer: BaseObserver | None = None
        self._lock = threading.RLock()
        self.unwatched: dict[Path, str] = {}  # roots that could not be watched, with the reason

    @property
    def roots(self) -> tuple[Path, ...]:
        with self._lock:
            return tuple(self._roots)

    @property
    def running(self) -> bool:
        with self._lock:
            return self._observer is not None

    def _filter_for(self, root: Path) -> PathFilter:
        if isinstance(self._filter_source, PathFilter):
            return self._filter_source
        return self._filter_source(root)

    def _schedule(self, observer: BaseObserver, root: Path) -> None:
        handler = _RootHandler(root, self._queue, self._filter_for(root))
        self._watches[root] = observer.schedule(
            handler, os.fspath(root), recursive=True, event_filter=_EVENT_FILTER
        )

    def start(self) -> None:
        """Start watching every root. A root that cannot be watched (missing, unreadable) is
        logged and listed in `unwatched` rather than stopping the others. Idempotent."""
        with self._lock:
            if self._observer is not None:
                return
            observer = Observer()
            observer.start()
            self._observer = observer
            self.unwatched = {}
            for root in self._roots:
                try:
                    self._schedule(observer, root)
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    log.warning("cannot watch %s: %s", root, reason)
                    self.unwatched[root] = reason

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop watching and join watchdog's threads. Idempotent; `start()` may follow."""
        with self._lock:
            observer, self._observer = self._observer, None
            self._watches.clear()
        if observer is None:
            return
        observer.stop()
        if observer.is_alive():
            observer.join(timeout)

    def add_root(self, root: Path) -> None:
        """Watch one more folder (at once if running). Raises `UserInputError` if it cannot be
        watched, since this is an explicit user action."""
        path = Path(root).absolute()
        with self._lock:
            if path in self._roots:
                return
            if self._observer is not None:
                try:
                    self._schedule(self._observer, path)
                except OSError as exc:
                    raise UserInputError(
                        f"Cannot watch {path}: {exc.strerror or exc}",
                        hint="Check that the folder exists and is readable.",
                    ) from exc
            self._roots.append(path)

    def remove_root(self, root: Path) -> None:
        """Stop watching a folder; events already queued stay queued."""
        path = Path(root).absolute()
        with self._lock:
            if path not in self._roots:
                return
            self._roots.remove(path)
            self.unwatched.pop(path, None)
            watch = self._watches.pop(path, None)
            if watch is not None and self._observer is not None:
                self._observer.unschedule(watch)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
