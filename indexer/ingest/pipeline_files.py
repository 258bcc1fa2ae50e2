"""The writer stage: changes applied on the writer thread; files checked, hashed, parsed, chunked
and written in groups.

`FileWriter` is an object `IndexingPipeline` composes: it applies a batch of changes (upserts,
deletes, moves, whole folders) and hands chunks that need vectors to the `VectorStage`. Files
are written in groups because each LanceDB commit costs 10-30 ms here: one commit
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
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from indexer.errors import CairnError, Cancelled, StoreError
from indexer.events import (
    EventCallback,
    FileEmbedded,
    FileFailed,
    FileMoved,
    FileParsed,
    FileRemoved,
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
    is_utf8_name,
    write_failure_reason,
)
from indexer.ingest.parsing import needs_ocr, parse_file
from indexer.ingest.parsing.ocr import reporting_pages
from indexer.ingest.pipeline_vectors import VectorStage
from indexer.ingest.scanner import is_within
from indexer.storage.store import IndexStore
from indexer.storage.store_layout import FileRecord

log = logging.getLogger("indexer.ingest.pipeline")

GROUP_FILES = 32  # files written per group of commits (at most)
# Vectors are written in one commit per interval, not per file: each LanceDB commit costs
# ~20-30 ms here, which made small files cost ~0.3 s each.
VECTOR_WRITE_INTERVAL_S = 0.5


class FileWriter:
    """The writer stage: applies changes (upsert, delete, move; folders) to the store on the
    writer thread, and hands chunks that need vectors to the vector stage.

    Owns the chunking settings and the early-group size; shares with the pipeline that composes
    it the `progress` (with `cond`, which guards its file counts) and `stop`. `checkpoint` is
    called before each file and change (the pipeline runs waiting ops there and holds while
    paused); `emit_progress` reports progress (throttled by the pipeline).
    """

    def __init__(
        self,
        store: IndexStore,
        vectors: VectorStage,
        emit: EventCallback,
        roots: Callable[[], list[Path]],
        filter_for: Callable[[Path], PathFilter],
        *,
        count_tokens: Callable[[str], int],
        chunk_tokens: int,
        overlap_tokens: int,
        progress: IndexProgress,
        cond: threading.Condition,
        stop: threading.Event,
        checkpoint: Callable[[], None],
        emit_progress: Callable[[], None],
    ) -> None:
        self.store = store
        self._vectors = vectors
        self._emit = emit
        self._roots = roots
        self._filter_for = filter_for
        self._count_tokens = count_tokens
        self._chunk_tokens = chunk_tokens
        self._overlap = overlap_tokens
        # Stored with each file's parser name: files chunked differently are re-chunked.
        self.chunk_signature = f"@c{chunk_tokens}o{overlap_tokens}"
        self.progress = progress
        self._cond = cond
        self._stop = stop
        self._checkpoint = checkpoint
        self._emit_progress = emit_progress
        self._early_group = 1  # files in the next early-written group (doubles; reset per batch)

    # ------------------------------------------------------------------ changes
    def process_batch(self, batch: list[Change]) -> None:
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
            self._checkpoint()
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
            if time.monotonic() - self._vectors.last_write >= VECTOR_WRITE_INTERVAL_S:
                self._vectors.apply_vectors()
            self._emit_progress()
        self._flush_group(group, group_root)

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
            self._vectors.forget(p)
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
        self._vectors.moved(change.path, dest)
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
            files = sorted(path_filter.walk(path, root=root), key=needs_ocr)  # text first
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

    # ------------------------------------------------------------------ groups
    def _upsert_files(self, paths: list[Path], root: Path, path_filter: PathFilter) -> None:
        """Index files in groups: a handful of LanceDB commits per group, not per file."""
        for start in range(0, len(paths), GROUP_FILES):
            group = paths[start : start + GROUP_FILES]
            records = {r.path: r for r in self.store.get_files([str(p) for p in group])}
            parsed: list[ParsedFile] = []
            for path in group:
                if self._stop.is_set():
                    return
                self._checkpoint()
                try:
                    item = self._prepare_file(path, root, path_filter, records.get(str(path)))
                except Exception as exc:  # one file never aborts the group
                    log.exception("failed to index %s", path)
                    self._fail_safely(str(path), exc)
                    continue
                if item is None:
                    continue
                parsed.append(item)
                if len(parsed) >= self._early_group and self._vectors.hungry():
                    self._write_group(parsed)  # feed the embedder now (see module doc)
                    parsed = []
                    self._early_group = min(2 * self._early_group, GROUP_FILES)
            self._write_group(parsed)
            if time.monotonic() - self._vectors.last_write >= VECTOR_WRITE_INTERVAL_S:
                self._vectors.apply_vectors()
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
            with reporting_pages(self._before_ocr_page):
                doc = parse_file(path)
            self.progress.stage = "chunking"
            chunks = chunk_document(
                doc,
                count_tokens=self._count_tokens,
                max_tokens=self._chunk_tokens,
                overlap_tokens=self._overlap,
            )
        except Cancelled:
            return None  # closing mid-OCR: the file keeps its old state and is read next time
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

    def _before_ocr_page(self, done: int, total: int) -> None:
        """Before each scanned page (seconds of OCR each): show it, hold while paused, let an
        answer go first, and give up the file if Cairn is closing."""
        self.progress.stage = f"reading scanned page {done + 1}/{total}"
        self._emit_progress()
        self._checkpoint()
        self._vectors.wait_for_answers()
        if self._stop.is_set():
            raise Cancelled("indexing stopped during OCR")
        self.progress.stage = f"reading scanned page {done + 1}/{total}"

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
                self._vectors.queue_embedding(key, need, lengths, reused=n - len(need))
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
        self._vectors.forget(path)
        self._emit(FileFailed(path, reason))
        self._done_file()

    def _fail_safely(self, path: str, exc: Exception) -> None:
        """Report a file whose processing raised `exc`.

        An index write that failed (disk full, permissions) says nothing about the file: its row
        is left as it was, so the old text stays searchable and the next scan retries it. Any
        other error is recorded as the file's failure.
        """
        if isinstance(exc, StoreError):
            self._vectors.forget(path)
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
