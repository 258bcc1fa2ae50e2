"""The file half of the writer thread: check, hash, parse and chunk files, write them in groups.

A mixin of `IndexingPipeline` (it shares the pipeline's store, events, progress and embedding
queue). Files are written in groups because each LanceDB commit costs 10-30 ms here: one commit
of `queued` rows per group, one lookup for reusable vectors, the chunk writes, one commit of final
rows. A file that fails, is skipped or is unchanged is settled on its own.

Group size adapts to the embedder, which is the bottleneck: while it has plenty queued, a group
is up to `GROUP_FILES` files; when it is about to run dry (fewer than one batch of texts waiting)
the group parsed so far is written at once, so its chunks reach the embedder now instead of after
31 more files. Without this the embedder sat idle for the first ~1 s of every bulk run (0.8-1 s
of a 15 s pydoc index). Early writes double the group size each time (1, 2, 4, ... files), so a
run where the embedder has nothing to do (all vectors reused, or a fast fake embedder) pays at
most ~5 extra groups per batch of changes, not a commit per file.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.errors import CairnError, StoreError
from indexer.events import (
    EventCallback,
    FileEmbedded,
    FileFailed,
    FileParsed,
    FileSkipped,
    FileStage,
)
from indexer.ingest.changes import Change
from indexer.ingest.chunking import chunk_document
from indexer.ingest.file_filter import PathFilter
from indexer.ingest.file_state import (
    IndexProgress,
    ParsedFile,
    file_row,
    hash_file,
    write_failure_reason,
)
from indexer.ingest.parsing import parse_file
from indexer.storage.store import IndexStore
from indexer.storage.store_layout import FileRecord

log = logging.getLogger("indexer.ingest.pipeline")

GROUP_FILES = 32  # files written per group of commits (at most)
# Vectors are written in one commit per interval, not per file: each LanceDB commit costs
# ~20-30 ms here, which made small files cost ~0.3 s each.
VECTOR_WRITE_INTERVAL_S = 0.5


class FileWriter:
    """State it relies on is created by `IndexingPipeline.__init__`."""

    store: IndexStore
    progress: IndexProgress
    chunk_signature: str
    embed_backlog: int
    _emit: EventCallback
    _count_tokens: Callable[[str], int]
    _chunk_tokens: int
    _overlap: int
    _batch: int
    _stop: Any  # threading.Event
    _remaining: dict[str, set[str]]
    _reused: dict[str, int]
    _last_vectors_write: float
    _early_group: int  # files in the next early-written group (doubles; reset per batch)

    # defined by the pipeline and its other mixins
    def _delete(self, change: Change) -> None:
        raise NotImplementedError

    def _root_of(self, path: str) -> Path | None:
        raise NotImplementedError

    def _wait_while_paused(self) -> None:
        raise NotImplementedError

    def _emit_progress(self, force: bool = False) -> None:
        raise NotImplementedError

    if TYPE_CHECKING:  # from VectorStage, which follows this class in the pipeline's MRO

        def _apply_vectors(self) -> None: ...

        def _queue_embedding(
            self,
            path: str,
            items: Sequence[tuple[str, str]],
            lengths: Sequence[int] | None = None,
        ) -> None: ...

    # ------------------------------------------------------------------ groups
    def _embedder_hungry(self) -> bool:
        """True when less than one batch of texts waits for the embedder (it may soon idle)."""
        return self.embed_backlog < self._batch

    def _upsert_files(self, paths: list[Path], root: Path, path_filter: PathFilter) -> None:
        """Index files in groups: a handful of LanceDB commits per group, not per file."""
        for start in range(0, len(paths), GROUP_FILES):
            group = paths[start : start + GROUP_FILES]
            records = {r.path: r for r in self.store.get_files([str(p) for p in group])}
            parsed: list[ParsedFile] = []
            for path in group:
                if self._stop.is_set():
                    return
                self._wait_while_paused()
                try:
                    item = self._prepare_file(path, root, path_filter, records.get(str(path)))
                except Exception as exc:  # one file never aborts the group
                    log.exception("failed to index %s", path)
                    self._fail_safely(str(path), exc)
                    continue
                if item is None:
                    continue
                parsed.append(item)
                if len(parsed) >= self._early_group and self._embedder_hungry():
                    self._write_group(parsed)  # feed the embedder now (see module doc)
                    parsed = []
                    self._early_group = min(2 * self._early_group, GROUP_FILES)
            self._write_group(parsed)
            if time.monotonic() - self._last_vectors_write >= VECTOR_WRITE_INTERVAL_S:
                self._apply_vectors()
            self._emit_progress()

    def _write_group(self, parsed: list[ParsedFile]) -> None:
        if not parsed:
            return
        try:
            self._write_parsed(parsed)
        except Exception as exc:
            log.exception("failed to write %d files", len(parsed))
            for item in parsed:
                self._fail_safely(str(item.path), exc)

    def _prepare_file(
        self, path: Path, root: Path, path_filter: PathFilter, record: FileRecord | None
    ) -> ParsedFile | None:
        """Check, hash, parse and chunk one file; None when it needs no (more) writing."""
        key = str(path)
        self.progress.current_path = key
        if not os.path.lexists(path):
            self._delete(Change("delete", key))
            return None
        verdict = path_filter.check_file(path, root)
        if not verdict.ok:
            if verdict.skip_visible:
                self._record(path, root, record, FileStage.SKIPPED, verdict.reason or "skipped",
                             content_hash="", chunk_count=0)
                self.store.remove_chunks([key])
                self._emit(FileSkipped(key, verdict.reason or "skipped"))
            elif record is not None:
                self._delete(Change("delete", key))
            self._done_file()
            return None
        try:
            st = path.stat()
            current = record is not None and record.parser.endswith(self.chunk_signature)
            if record and current and record.size == st.st_size and (
                record.mtime_ns == st.st_mtime_ns
                and record.stage in (FileStage.PARSED, FileStage.EMBEDDED)
            ):
                self._done_file()
                return None
            self.progress.stage = "hashing"
            content_hash, size, mtime_ns = hash_file(path)
        except FileNotFoundError:
            self._delete(Change("delete", key))
            return None
        except OSError as exc:
            self._fail(key, f"cannot read file: {exc.strerror or exc}", root)
            return None
        if record and current and record.content_hash == content_hash and record.stage in (
            FileStage.PARSED,
            FileStage.EMBEDDED,
        ):
            # Touched but identical (e.g. `touch`, a checkout): remember the new mtime only.
            self.store.upsert_files([replace(record, size=size, mtime_ns=mtime_ns)])
            self._done_file()
            return None
        self.progress.stage = "parsing"
        try:
            doc = parse_file(path)
            self.progress.stage = "chunking"
            chunks = chunk_document(
                doc,
                count_tokens=self._count_tokens,
                max_tokens=self._chunk_tokens,
                overlap_tokens=self._overlap,
            )
        except CairnError as exc:
            self.store.remove_chunks([key])
            self._fail(key, exc.message, root, seen=(size, mtime_ns))
            return None
        if not chunks:
            self.store.remove_chunks([key])
            self._fail(key, "no text could be extracted", root, seen=(size, mtime_ns))
            return None
        return ParsedFile(path, root, record, content_hash, size, mtime_ns,
                          doc.parser + self.chunk_signature, chunks)

    def _write_parsed(self, items: list[ParsedFile]) -> None:
        """Write a group of parsed files: queued rows, chunks, final rows, embedding jobs.

        Rows go `queued` (empty hash) before any chunk is written, so a crash in between leaves
        rows the scanner retries; a file gets its content hash only with its final row.
        """
        self.progress.stage = "writing"
        self.store.upsert_files([
            file_row(i.path, i.root, i.record, FileStage.QUEUED, "", content_hash="",
                     size=i.size, mtime_ns=i.mtime_ns)
            for i in items
        ])
        reuse = self.store.vectors_for_hashes([c.text_hash for i in items for c in i.chunks])
        finals: list[tuple[ParsedFile, list[tuple[str, str]], list[int], FileRecord]] = []
        for i in items:
            key = str(i.path)
            pending_ids = self.store.replace_chunks(key, str(i.root), i.path.suffix.lower(),
                                                    i.chunks, reuse)
            # replace_chunks lists the ids of the chunks it found no vector for, in order.
            fresh = [c for c in i.chunks if c.text_hash not in reuse]
            need = list(zip(pending_ids, [c.embed_text for c in fresh], strict=True))
            stage = FileStage.PARSED if need else FileStage.EMBEDDED
            finals.append((i, need, [c.token_count for c in fresh], file_row(
                i.path, i.root, i.record, stage, "", content_hash=i.content_hash, size=i.size,
                mtime_ns=i.mtime_ns, parser=i.parser, chunk_count=len(i.chunks),
            )))  # fmt: skip
        self.store.upsert_files([row for *_, row in finals])
        for i, need, lengths, _ in finals:
            key, n = str(i.path), len(i.chunks)
            self._emit(FileParsed(key, n))
            if need:
                self._reused[key] = n - len(need)
                self._queue_embedding(key, need, lengths)
            else:
                self._emit(FileEmbedded(key, n, embedded=0, reused=n))
            self._done_file()

    # ------------------------------------------------------------------ outcomes
    def _record(
        self,
        path: Path,
        root: Path,
        record: FileRecord | None,
        stage: FileStage,
        reason: str,
        **fields: object,
    ) -> None:
        self.store.upsert_files([file_row(path, root, record, stage, reason, **fields)])

    def _fail(
        self, path: str, reason: str, root: Path | None = None,
        seen: tuple[int, int] | None = None,
    ) -> None:
        """Record a failed file. `seen` is the (size, mtime) of the bytes that failed: a file
        rewritten since then differs from the row, so the next scan tries it again."""
        root = root or self._root_of(path)
        record = self.store.get_file(path)
        if root is not None:
            fingerprint = {"size": seen[0], "mtime_ns": seen[1]} if seen else {}
            self._record(Path(path), root, record, FileStage.FAILED, reason, content_hash="",
                         chunk_count=0, **fingerprint)
        self._remaining.pop(path, None)
        self._emit(FileFailed(path, reason))
        self._done_file()

    def _fail_safely(self, path: str, exc: Exception) -> None:
        """Report a file whose processing raised `exc`.

        An index write that failed (disk full, permissions) says nothing about the file: its row
        is left as it was, so the old text stays searchable and the next scan retries it. Any
        other error is recorded as the file's failure.
        """
        if isinstance(exc, StoreError):
            self._remaining.pop(path, None)
            self._emit(FileFailed(path, write_failure_reason(exc)))
            self._done_file()
            return
        reason = f"internal error: {exc}"
        try:
            self._fail(path, reason)
        except Exception:
            log.exception("could not record the failure of %s", path)
            self._emit(FileFailed(path, reason))
            self._done_file()

    def _done_file(self) -> None:
        self.progress.files_done = min(self.progress.files_done + 1, self.progress.files_total)
