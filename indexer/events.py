"""Frozen event records the core emits through a plain callback.

The core knows nothing of Qt: `KnowledgeBase` calls `on_event(event)` from its worker threads; the
CLI prints them, the GUI turns the callback into a `Signal(object)`. Events are immutable so they can
cross threads safely. Names are past tense: each says what already happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Union


class FileStage(StrEnum):
    """Where a file is in the pipeline. Shown to users, stored in the files table."""

    QUEUED = "queued"
    PARSED = "parsed"  # keyword-searchable; embeddings pending
    EMBEDDED = "embedded"  # fully indexed
    FAILED = "failed"  # see reason
    SKIPPED = "skipped"  # excluded by a rule that is worth showing (e.g. too large)


def _now() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class FileQueued:
    path: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class FileParsed:
    """Text extracted and chunks written: the file is keyword-searchable from now on."""

    path: str
    chunks: int
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class FileEmbedded:
    """Vectors written: the file is semantically searchable. `reused` chunks were not re-embedded."""

    path: str
    chunks: int
    embedded: int
    reused: int
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class FileFailed:
    path: str
    reason: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class FileSkipped:
    path: str
    reason: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class FileRemoved:
    path: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class FileMoved:
    """Rows re-pointed from `src` to `dest`; nothing re-embedded."""

    src: str
    dest: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class ScanStarted:
    folders: tuple[str, ...]
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class ScanFinished:
    """Startup reconciliation done: counts of what it found to do."""

    added: int
    changed: int
    removed: int
    unchanged: int
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class ProgressUpdated:
    """Periodic pipeline progress (throttled by the emitter, ~4 per second at most)."""

    files_done: int
    files_total: int
    chunks_embedded: int
    chunks_pending: int
    current_path: str | None
    stage: str
    eta_seconds: float | None
    at: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class IndexIdle:
    """The writer drained its queue: everything known is indexed (or failed)."""

    at: float = field(default_factory=_now)


Event = Union[
    FileQueued,
    FileParsed,
    FileEmbedded,
    FileFailed,
    FileSkipped,
    FileRemoved,
    FileMoved,
    ScanStarted,
    ScanFinished,
    ProgressUpdated,
    IndexIdle,
]
EventCallback = Callable[[Event], None]


def ignore_event(event: Event) -> None:
    """Default callback: drop events (used where nobody listens)."""
