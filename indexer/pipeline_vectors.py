"""The embedding half of the indexing pipeline: the embedder thread and the vector write-back.

A mixin of `IndexingPipeline` (it shares the pipeline's queues, counters and condition
variable): the writer queues chunk texts here, the embedder thread turns them into vectors in
length-sorted batches (onnxruntime releases the GIL, so parsing overlaps it), and the writer
thread stores finished vectors in one commit per interval and marks finished files `embedded`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from indexer.events import EventCallback, FileEmbedded, FileStage
from indexer.file_state import EmbedJob, IndexProgress
from indexer.store import IndexStore

log = logging.getLogger("indexer.pipeline")


class VectorStage:
    """State it relies on is created by `IndexingPipeline.__init__`."""

    store: IndexStore
    progress: IndexProgress
    embedder_error: str | None
    _embed: Callable[[list[str]], object]
    _emit: EventCallback
    _batch: int
    _busy: int
    _cond: threading.Condition
    _embed_in: queue.Queue[EmbedJob | None]
    _embed_out: queue.Queue[Any]
    _remaining: dict[str, set[str]]
    _reused: dict[str, int]
    _last_vectors_write: float

    def _emit_progress(self, force: bool = False) -> None:  # defined by the pipeline
        raise NotImplementedError

    def _queue_embedding(self, path: str, items: list[tuple[str, str]]) -> None:
        self._remaining.setdefault(path, set()).update(i for i, _ in items)
        with self._cond:
            self.progress.chunks_pending += len(items)
        for start in range(0, len(items), self._batch):
            part = items[start : start + self._batch]
            with self._cond:
                self._busy += 1
            self._embed_in.put(
                EmbedJob([i for i, _ in part], [t for _, t in part], [path] * len(part))
            )

    def _embed_loop(self) -> None:
        """Embedder thread: gathers queued jobs into batches and computes vectors."""
        while True:
            job = self._embed_in.get()
            if job is None:
                return
            jobs = [job]
            # Gather more queued jobs so length-sorting has texts to sort (bounded batch).
            while sum(len(j.ids) for j in jobs) < self._batch * 4:
                try:
                    nxt = self._embed_in.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._embed_in.put(None)
                    break
                jobs.append(nxt)
            merged = EmbedJob(
                [i for j in jobs for i in j.ids],
                [t for j in jobs for t in j.texts],
                [p for j in jobs for p in j.paths],
            )
            self.progress.stage = "embedding"
            try:
                vectors = self._embed(merged.texts)
                self._embed_out.put((merged, vectors))
            except Exception as exc:  # model missing or broken: report, keep keyword search
                log.exception("embedding failed")
                self.embedder_error = str(exc)
                self._embed_out.put(exc)
            finally:
                with self._cond:
                    self._busy -= len(jobs) - 1  # the writer releases one per merged result

    def _apply_vectors(self) -> None:
        """Writer side: store finished vectors in one write per batch, update file stages."""
        results: list[tuple[EmbedJob, object]] = []
        while True:
            try:
                item = self._embed_out.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, BaseException):
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()
                continue
            results.append(item)
        self._last_vectors_write = time.monotonic()
        if not results:
            return
        try:
            ids = [i for job, _ in results for i in job.ids]
            matrix = np.concatenate([np.asarray(v, dtype=np.float32) for _, v in results])
            self.store.set_vectors(ids, matrix)  # the vector index follows via its store sink
            self.progress.record_embedded(len(ids))
            done_paths: list[str] = []
            for job, _ in results:
                for chunk_id, path in zip(job.ids, job.paths):
                    left = self._remaining.get(path)
                    if left is None:
                        continue
                    left.discard(chunk_id)
                    if not left:
                        del self._remaining[path]
                        done_paths.append(path)
            finished = [r for r in self.store.get_files(done_paths) if r.stage == FileStage.PARSED]
            self.store.set_stages([r.path for r in finished], FileStage.EMBEDDED)  # one commit
            for record in finished:
                n = record.chunk_count
                reused = self._reused.pop(record.path, 0)
                self._emit(FileEmbedded(record.path, n, embedded=n - reused, reused=reused))
        finally:
            with self._cond:
                self._busy -= len(results)
                self._cond.notify_all()
        self._emit_progress()
