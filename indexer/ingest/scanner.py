"""Startup reconciliation: compare what is on disk with what the index believes.

The watcher only sees changes made while Cairn runs; anything edited, added, renamed or deleted
while it was closed is found here. The scanner is cheap by design: it compares size and mtime
from `os.stat` with the files table and emits `Change`s for the writer. Content hashes are
checked later by the pipeline (a touched-but-identical file is re-hashed, never re-parsed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from indexer.events import FileStage
from indexer.ingest.changes import Change
from indexer.ingest.file_filter import PathFilter
from indexer.ingest.parsing import needs_ocr


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """What reconciliation found: changes for the writer plus counts for the UI."""

    changes: tuple[Change, ...]
    added: int
    changed: int
    removed: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class KnownFile:
    """The subset of a files-table row the scanner needs."""

    path: str
    size: int
    mtime_ns: int
    stage: str
    current: bool = True  # False: indexed with other chunk settings, so re-chunk it


def is_within(path: str, root: str) -> bool:
    """True if `path` is `root` or inside it (string test on resolved absolute paths)."""
    root = root.rstrip(os.sep)
    return path == root or path.startswith(root + os.sep)


def reconcile(
    roots: Iterable[Path],
    known: Iterable[KnownFile],
    filter_for: Callable[[Path], PathFilter],
    on_error: Callable[[str, str], None] | None = None,
) -> ScanPlan:
    """Walk `roots` and diff against `known` rows.

    - on disk, not known → upsert (added)
    - known with another size/mtime, stuck in `queued` (a crash mid-file), or indexed with other
      chunk settings → upsert (changed; unchanged chunk texts keep their vectors)
    - known, same size/mtime → nothing (a failed file stays failed until it changes or is retried)
    - known but gone from disk, or no longer under any root → delete (removed)
    """
    roots = [Path(r) for r in roots]
    by_path = {k.path: k for k in known}
    seen: set[str] = set()
    changes: list[Change] = []
    added = changed = unchanged = 0
    for root in roots:
        path_filter = filter_for(root)
        for file_path in path_filter.walk(root, on_error=on_error):
            key = str(file_path)
            seen.add(key)
            record = by_path.get(key)
            if record is None:
                changes.append(Change("upsert", key))
                added += 1
                continue
            try:
                st = file_path.stat()
            except OSError:
                continue  # vanished during the walk: the watcher (or next scan) sees the delete
            stuck = record.stage == FileStage.QUEUED or not record.current
            if stuck or st.st_size != record.size or st.st_mtime_ns != record.mtime_ns:
                changes.append(Change("upsert", key))
                changed += 1
            else:
                unchanged += 1
    # Text first: files that need OCR (seconds a page) go after every other upsert (stable).
    changes.sort(key=lambda c: c.kind == "upsert" and needs_ocr(c.path))
    root_strs = [str(r) for r in roots]
    removed = 0
    for path in by_path:
        if path in seen:
            continue
        if any(is_within(path, r) for r in root_strs) and os.path.lexists(path) and _still_wanted(
            Path(path), roots, filter_for
        ):
            # Known, present, under a root, but the walk did not yield it (e.g. unreadable dir):
            # leave it alone rather than deleting a document we merely failed to list.
            continue
        changes.append(Change("delete", path))
        removed += 1
    return ScanPlan(tuple(changes), added, changed, removed, unchanged)


def _still_wanted(path: Path, roots: list[Path], filter_for: Callable[[Path], PathFilter]) -> bool:
    for root in roots:
        if is_within(str(path), str(root)):
            return filter_for(root).check_file(path, root).ok
    return False
