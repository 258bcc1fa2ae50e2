"""The embedding half of the indexing pipeline: the embedder thread and the vector write-back.

A mixin of `IndexingPipeline` (it shares the pipeline's queues, counters and condition
variable): the writer queues chunk texts here, the embedder thread turns them into vectors, and
the writer thread stores finished vectors in one commit per result and marks finished files
`embedded`.

Indexing is embedding-bound, so this thread is kept busy on full, well-sorted batches:
- Queued texts wait in a pool of up to `POOL_TEXTS`, kept sorted by token count; each call takes
  `batch_size * 4` texts of similar length around the oldest one (so nothing starves). The
  embedder pads a batch to its longest text, and on the pydoc corpus taking texts in arrival
  order padded 3.2 % of the tokens against 1.4 % from a 512-text pool (the raw-ONNX ceiling's
  own sort): ~2 % of the model's work saved without making calls longer.
- `embed_backlog` (texts queued or pooled, not yet in a call) tells the writer when the
  embedder is about to run dry, so it writes what it has parsed instead of finishing a group of
  32 files first (see `pipeline_files.FileWriter`).
- The writer is woken (`_wake`) as soon as a result is ready, so vectors and the last
  `FileEmbedded` are not held back by the writer's poll interval.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.events import EventCallback, FileEmbedded, FileStage
from indexer.file_state import EmbedJob, IndexProgress
from indexer.store import IndexStore

log = logging.getLogger("indexer.pipeline")

#: Texts the embedder thread holds sorted by length to cut batches from (see module doc).
POOL_TEXTS = 512
#: Calls take this many batches' worth of texts (bounds the wait for the first vectors).
CALL_BATCHES = 4


@dataclass(frozen=True, slots=True)
class EmbedFailed:
    """An embed call raised: `texts` of them will never be written back."""

    texts: int


@dataclass(slots=True)
class _Pooled:
    length: int  # token count (estimated from characters for chunks resumed from the store)
    seq: int  # arrival order: the oldest text is always in the next call
    chunk_id: str
    text: str
    path: str


def take_window(pool: list[_Pooled], n: int) -> list[_Pooled]:
    """Remove and return up to `n` texts of similar length from `pool` (sorted by length),
    including the oldest one so every text is embedded eventually."""
    if len(pool) <= n:
        taken = pool[:]
        pool.clear()
        return taken
    oldest = min(range(len(pool)), key=lambda i: pool[i].seq)
    lo = max(0, min(oldest - n // 2, len(pool) - n))
    taken = pool[lo : lo + n]
    del pool[lo : lo + n]
    return taken


class VectorStage:
    """State it relies on is created by `IndexingPipeline.__init__`."""

    store: IndexStore
    progress: IndexProgress
    embedder_error: str | None
    _embed: Callable[[list[str]], object]
    _emit: EventCallback
    _batch: int
    _busy: int  # texts queued for embedding and not yet written back (or failed)
    _cond: threading.Condition
    _wake: threading.Event
    _embed_in: queue.Queue[EmbedJob | None]
    _embed_out: queue.Queue[Any]
    _remaining: dict[str, set[str]]
    _reused: dict[str, int]
    _last_vectors_write: float
    embed_backlog: int  # texts queued or pooled, not yet handed to the model

    def _emit_progress(self, force: bool = False) -> None:  # defined by the pipeline
        raise NotImplementedError

    def _queue_embedding(
        self, path: str, items: Sequence[tuple[str, str]], lengths: Sequence[int] | None = None
    ) -> None:
        """Queue chunk (id, embed text) pairs of one file; `lengths` are their token counts."""
        if not items:
            return
        self._remaining.setdefault(path, set()).update(i for i, _ in items)
        if lengths is None:  # resumed from the store: ~4 characters per token is near enough
            lengths = [len(t) // 4 + 2 for _, t in items]
        with self._cond:
            self.progress.chunks_pending += len(items)
            self._busy += len(items)
            self.embed_backlog += len(items)
        self._embed_in.put(
            EmbedJob([i for i, _ in items], [t for _, t in items], [path] * len(items),
                     list(lengths))
        )

    def _embed_loop(self) -> None:
        """Embedder thread: pools queued texts, embeds windows of similar length."""
        pool: list[_Pooled] = []
        seq = 0
        stopping = False
        while not stopping:
            # Block only when there is nothing to do; otherwise top the pool up and go on.
            block = not pool
            while len(pool) < POOL_TEXTS:
                try:
                    job = self._embed_in.get() if block else self._embed_in.get_nowait()
                except queue.Empty:
                    break
                block = False
                if job is None:
                    stopping = True  # unfinished work stays recorded in the store
                    break
                for cid, text, path, length in zip(
                    job.ids, job.texts, job.paths, job.lengths, strict=True
                ):
                    pool.append(_Pooled(length, seq, cid, text, path))
                    seq += 1
            if stopping or not pool:
                continue
            pool.sort(key=lambda p: p.length)
            # In arrival order: the embedder sorts by length itself, and vectors reach the store
            # and the vector index in the order files were written (ties in search keep it).
            taken = sorted(take_window(pool, self._batch * CALL_BATCHES), key=lambda p: p.seq)
            with self._cond:
                self.embed_backlog -= len(taken)
            self.progress.stage = "embedding"
            texts = [p.text for p in taken]
            try:
                vectors = self._embed(texts)
                result = EmbedJob([p.chunk_id for p in taken], texts, [p.path for p in taken])
                self._embed_out.put((result, vectors))
            except Exception as exc:  # model missing or broken: report, keep keyword search
                log.exception("embedding failed")
                self.embedder_error = str(exc)
                self._embed_out.put(EmbedFailed(len(taken)))
            self._wake.set()

    def _apply_vectors(self) -> None:
        """Writer side: store finished vectors in one write, update file stages."""
        results: list[tuple[EmbedJob, object]] = []
        failed = 0
        while True:
            try:
                item = self._embed_out.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, EmbedFailed):
                failed += item.texts
            else:
                results.append(item)
        self._last_vectors_write = time.monotonic()
        if failed:
            with self._cond:
                self._busy -= failed
                self._cond.notify_all()
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
                self._busy -= sum(len(job.ids) for job, _ in results)
                self._cond.notify_all()
        self._emit_progress()
