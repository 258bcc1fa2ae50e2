"""Small pieces of the pipeline's bookkeeping: fingerprints, name checks, rows, progress/ETA.

Kept apart from `pipeline.py` so the thread logic there stays readable; nothing here touches the
store or starts threads.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from indexer.events import FileStage
from indexer.records import Chunk
from indexer.storage.store_layout import FileRecord

HASH_BLOCK = 1 << 20


def hash_file(path: Path) -> tuple[str, int, int]:
    """Content hash (blake2b-128 hex) plus the size and mtime seen while reading it."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        while block := fh.read(HASH_BLOCK):
            h.update(block)
    return h.hexdigest(), st.st_size, st.st_mtime_ns


def is_utf8_name(path: str) -> bool:
    """False for names with undecodable bytes (Python keeps them as lone surrogates)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class IndexProgress:
    """Counters behind `ProgressUpdated`, with a throughput estimate for the ETA."""

    def __init__(self) -> None:
        self.files_total = 0
        self.files_done = 0
        self.chunks_embedded = 0
        self.chunks_pending = 0
        self.current_path: str | None = None
        self.stage = "idle"
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=64)

    def record_embedded(self, n: int) -> None:
        self.chunks_embedded += n
        self.chunks_pending = max(0, self.chunks_pending - n)
        self._rate_samples.append((time.monotonic(), self.chunks_embedded))

    def eta(self) -> float | None:
        if len(self._rate_samples) < 2 or not self.chunks_pending:
            return None
        (t0, c0), (t1, c1) = self._rate_samples[0], self._rate_samples[-1]
        if t1 <= t0 or c1 <= c0:
            return None
        return self.chunks_pending / ((c1 - c0) / (t1 - t0))


@dataclass(slots=True)
class ParsedFile:
    """A file read, hashed, parsed and chunked, waiting for its group's write."""

    path: Path
    root: Path
    record: FileRecord | None
    content_hash: str
    size: int
    mtime_ns: int
    parser: str
    chunks: list[Chunk]


@dataclass(slots=True)
class EmbedJob:
    """Chunk texts of one or more files for the embedder thread (`lengths`: token counts, which
    the embedder thread sorts by; results coming back leave them empty)."""

    ids: list[str]
    texts: list[str]
    paths: list[str]
    lengths: list[int] = field(default_factory=list)


def file_row(
    path: Path,
    root: Path,
    record: FileRecord | None,
    stage: FileStage,
    reason: str,
    **fields: object,
) -> FileRecord:
    """The files-table row for `path` in `stage`, from its old row (if any) and `fields`.

    Without an explicit size the file is stat'ed, so the row describes the file as it is now
    and the next scan leaves it alone.
    """
    base = record or FileRecord(
        path=str(path), folder=str(root), ext=path.suffix.lower(), size=0, mtime_ns=0,
        content_hash="", stage=FileStage.QUEUED,
    )
    updates: dict[str, object] = {"stage": stage, "reason": reason, "folder": str(root)}
    updates.update(fields)
    if "size" not in fields:
        try:
            st = path.stat()
            updates.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
        except OSError:
            pass
    return replace(base, **updates)  # type: ignore[arg-type]


def write_failure_reason(exc: BaseException) -> str:
    """What to tell the user when the index could not be written (no Rust source paths)."""
    text = str(exc)
    if "No space left" in text or "os error 28" in text or "Errno 28" in text:
        return ("the disk is full: Cairn could not write the index. Free some space; the file "
                "is indexed again on the next scan")
    if "Permission denied" in text or "os error 13" in text:
        return "Cairn may not write its index folder (permission denied); the file is retried"
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"could not write the index ({first[:160]}); the file is retried on the next scan"
