"""The embedding half of the indexing pipeline: the embedder thread and the vector write-back.

An object `IndexingPipeline` composes (`VectorStage`, owning its queues and counters; it shares
only the progress, the idle condition and the writer's wake-up with the pipeline): the writer
queues chunk texts here, the embedder thread turns them into vectors, and the writer thread
stores finished vectors in one commit per result and marks finished files `embedded`.

Indexing is embedding-bound, so this thread is kept busy on full, well-sorted batches:
- Queued texts wait in a pool of up to `POOL_TEXTS`, kept sorted by token count; each call takes
  `batch_size * 4` texts of similar length around the oldest one (so nothing starves). The
  embedder pads a batch to its longest text, and on the pydoc corpus taking texts in arrival
  order padded 3.2 % of the tokens against 1.4 % from a 512-text pool (the raw-ONNX ceiling's
  own sort): ~2 % of the model's work saved without making calls longer.
- `embed_backlog` (texts queued or pooled, not yet in a call) tells the writer when the
  embedder is about to run dry, so it writes what it has parsed instead of finishing a group of
  32 files first (see `pipeline_files.FileWriter`, which asks `hungry()`).
- The writer is woken (`_wake`) as soon as a result is ready, so vectors and the last
  `FileEmbedded` are not held back by the writer's poll interval.

Memory stays bounded however far the embedder falls behind (with the real model the writer parses
hundreds of chunks per second while MiniLM embeds ~8-90, so a first run of 100k chunks once held
every chunk text in the queue, ~130 MB of Python strings at 100k, and wrote vectors back in
commits of tens of thousands of rows whose Arrow tables and LanceDB merges pushed the peak RSS
past 2.6 GB at 150k chunks):
- At most `HELD_TEXTS` texts are in memory for the embedder (queued or pooled). Beyond that the
  writer records only chunk ids (`_Spilled`, ~100 bytes a chunk); the texts are already in the
  store, written keyword-searchable, and the embedder thread reads them back `POOL_TEXTS` at a
  time when its pool runs low. First in, first out, so vectors still follow the order files were
  written. A chunk that left the store before it was read back (its file deleted or rewritten)
  is settled as `Dropped`, without a vector, as an embedded-then-discarded one used to be.
- At most `RESULTS_WAITING` results wait for the writer (the embedder blocks beyond that), and
  the writer stores at most `WRITE_BACK_ROWS` vectors per commit.

Answers come first: while an answer is being generated (`answering()`, held by
`KnowledgeBase.stream`) the embedder starts no new call. ONNX Runtime and llama.cpp each want
every core, and llama.cpp's threads spin-wait for each other, so sharing 2 cores with the
embedder made an answer several times slower (measured in `bench/bench_answer_while_indexing.py`),
while pausing a few seconds of background embedding costs the user nothing they can see. A hold
older than `MAX_ANSWER_HOLD_S` is ignored, so a stream nobody finishes cannot stall indexing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.events import EventCallback, FileEmbedded, FileStage
from indexer.ingest.file_state import EmbedJob, IndexProgress
from indexer.storage.store import IndexStore

log = logging.getLogger("indexer.ingest.pipeline")

#: Texts the embedder thread holds sorted by length to cut batches from (see module doc).
POOL_TEXTS = 512
#: Calls take this many batches' worth of texts (bounds the wait for the first vectors).
CALL_BATCHES = 4
#: Chunk texts held in memory for the embedder at most (queued or pooled); the rest are read
#: back from the store when the pool runs low (see module doc).
HELD_TEXTS = 4 * POOL_TEXTS
#: Finished embed calls that may wait for the writer; the embedder waits beyond that.
RESULTS_WAITING = 32
#: Vectors stored per commit (at most one call's result more). A commit at 100k chunks costs
#: ~0.6 s plus ~0.2 ms a row here, so smaller commits only pay when the embedder outruns the
#: writer (the fake one), and a commit of 8k rows added ~30 MB RSS, of 17k ~110 MB.
WRITE_BACK_ROWS = 4096
#: Seconds an answer may hold the embedder (longer than any answer here; see module doc).
MAX_ANSWER_HOLD_S = 300.0


@dataclass(frozen=True, slots=True)
class EmbedFailed:
    """An embed call raised: `texts` of them will never be written back."""

    texts: int


@dataclass(frozen=True, slots=True)
class Dropped:
    """Queued chunks whose rows were gone when their text was read back (file deleted or
    rewritten meanwhile): settled without a vector."""

    ids: list[str]
    paths: list[str]


@dataclass(slots=True)
class _Spilled:
    """Chunks of one file waiting for the embedder whose texts stay in the store."""

    path: str
    ids: list[str]
    lengths: list[int] | None  # token counts; None: estimate from the text when read back


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
    """The embedding stage: owns the embedder's queues, its memory bound and the count of
    texts in flight. The writer hands it chunks (`queue_embedding`, `queue_stored`) and stores
    what it returns (`apply_vectors`, writer thread only); `run` is the embedder thread.

    Shared with the pipeline that composes it: `progress`, `cond` (guards the idle counters:
    `busy`, `embed_backlog`, the answer holds), `wake` (set when a result is ready for the
    writer), `stop` and `emit_progress`.
    """

    def __init__(
        self,
        store: IndexStore,
        embed: Callable[[list[str]], object],
        emit: EventCallback,
        *,
        batch_size: int,
        progress: IndexProgress,
        cond: threading.Condition,
        wake: threading.Event,
        stop: threading.Event,
        emit_progress: Callable[[], None],
        results_waiting: int = RESULTS_WAITING,
    ) -> None:
        self.store = store
        self._embed = embed
        self._emit = emit
        self._batch = batch_size
        self.progress = progress
        self._cond = cond
        self._wake = wake
        self._stop = stop
        self._emit_progress = emit_progress
        self._embed_in: queue.Queue[EmbedJob | None] = queue.Queue()
        # (EmbedJob, vectors) | EmbedFailed | Dropped; bounded: the embedder waits for the writer
        self._embed_out: queue.Queue[Any] = queue.Queue(maxsize=results_waiting)
        self._spill: deque[_Spilled] = deque()  # chunks whose texts wait in the store, oldest first
        self._spill_lock = threading.Lock()  # guards `_spill`, `_held` and puts into `_embed_in`
        self._held = 0  # texts in memory for the embedder: in `_embed_in` or in its pool
        self._remaining: dict[str, set[str]] = {}  # path -> chunk ids still waiting for vectors
        self._reused: dict[str, int] = {}  # path -> chunks whose vectors were reused
        self.busy = 0  # texts queued for embedding and not yet written back (or failed); `cond`
        self.embed_backlog = 0  # texts queued, pooled or spilled, not yet handed to the model
        self._answers = 0  # answers being generated now (`answering`), guarded by `cond`
        self._answers_since = 0.0  # monotonic time the oldest of them began
        self.embedder_error: str | None = None
        self.last_write = 0.0  # monotonic time of the last write-back (writer thread)

    # ------------------------------------------------------------------ writer side
    def hungry(self) -> bool:
        """True when less than one batch of texts waits for the embedder (it may soon idle)."""
        return self.embed_backlog < self._batch

    def forget(self, path: str) -> None:
        """Writer thread: `path` left the index; vectors still coming for it settle nothing."""
        self._remaining.pop(path, None)
        self._reused.pop(path, None)

    def moved(self, src: str, dest: str) -> None:
        """Writer thread: chunks waiting for vectors now belong to `dest`."""
        if src in self._remaining:
            self._remaining[dest] = self._remaining.pop(src)

    def close(self) -> None:
        """Wake the embedder thread so it sees `stop` (it leaves unfinished work in the store)."""
        self._embed_in.put(None)

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Hold embedding for the duration of an answer (nestable, any thread; see module doc).

        A call already running finishes (at most one call of `batch_size * CALL_BATCHES`
        texts, ~1-3 s here); the next one waits until no answer is left.
        """
        with self._cond:
            if not self._answers:
                self._answers_since = time.monotonic()
            self._answers += 1
        try:
            yield
        finally:
            with self._cond:
                self._answers -= 1
                self._cond.notify_all()

    def wait_for_answers(self) -> None:
        """Any indexing thread: wait while an answer is generated (OCR pages use it: recognising
        a page takes every core for seconds, as embedding does)."""
        self._wait_for_answers()

    def _wait_for_answers(self) -> None:
        """Embedder thread: wait while an answer is generated, unless stopping or held too long."""
        with self._cond:
            while (self._answers and not self._stop.is_set()
                   and time.monotonic() - self._answers_since < MAX_ANSWER_HOLD_S):
                self.progress.stage = "waiting for the answer"
                self._cond.wait(0.5)

    def queue_embedding(
        self,
        path: str,
        items: Sequence[tuple[str, str]],
        lengths: Sequence[int] | None = None,
        reused: int = 0,
    ) -> None:
        """Queue chunk (id, embed text) pairs of one file; `lengths` are their token counts,
        `reused` the file's chunks that kept their vectors (reported with `FileEmbedded`).

        The texts go to the embedder in memory while fewer than `HELD_TEXTS` are held there;
        otherwise only the ids are kept and the texts are read back from the store later.
        """
        if not items:
            return
        self._reused[path] = reused
        if lengths is None:  # resumed from the store: ~4 characters per token is near enough
            lengths = [len(t) // 4 + 2 for _, t in items]
        ids = [i for i, _ in items]
        self._count_queued(path, ids)
        with self._spill_lock:
            if not self._spill and self._held + len(ids) <= HELD_TEXTS:
                self._held += len(ids)
                self._embed_in.put(
                    EmbedJob(ids, [t for _, t in items], [path] * len(ids), list(lengths))
                )
                return
        self._spill_ids(path, ids, list(lengths))

    def queue_stored(self, path: str, ids: Sequence[str]) -> None:
        """Queue chunks already in the store by id only (resuming): texts are read back later."""
        if ids:
            self._count_queued(path, list(ids))
            self._spill_ids(path, list(ids), None)

    def _count_queued(self, path: str, ids: list[str]) -> None:
        self._remaining.setdefault(path, set()).update(ids)
        with self._cond:
            self.progress.chunks_pending += len(ids)
            self.busy += len(ids)
            self.embed_backlog += len(ids)

    def _spill_ids(self, path: str, ids: list[str], lengths: list[int] | None) -> None:
        with self._spill_lock:
            wake = not self._spill
            self._spill.append(_Spilled(path, ids, lengths))
            if wake:  # the embedder may be blocked on an empty queue: an empty job wakes it
                self._embed_in.put(EmbedJob([], [], []))

    def run(self) -> None:
        """Embedder thread: pools queued texts, embeds windows of similar length."""
        pool: list[_Pooled] = []
        seq = 0
        stopping = False
        while not stopping:
            # Block only when there is nothing to do; otherwise top the pool up and go on.
            block = not pool and not self._spill
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
            if stopping:
                continue
            if len(pool) < POOL_TEXTS:
                seq = self._refill(pool, seq)
            if not pool:
                continue
            pool.sort(key=lambda p: p.length)
            # In arrival order: the embedder sorts by length itself, and vectors reach the store
            # and the vector index in the order files were written (ties in search keep it).
            taken = sorted(take_window(pool, self._batch * CALL_BATCHES), key=lambda p: p.seq)
            with self._cond:
                self.embed_backlog -= len(taken)
            with self._spill_lock:
                self._held -= len(taken)
            self._wait_for_answers()
            self.progress.stage = "embedding"
            texts = [p.text for p in taken]
            try:
                vectors = self._embed(texts)
                result = EmbedJob([p.chunk_id for p in taken], [], [p.path for p in taken])
                self._put_result((result, vectors))
            except Exception as exc:  # model missing or broken: report, keep keyword search
                log.exception("embedding failed")
                self.embedder_error = str(exc)
                self._put_result(EmbedFailed(len(taken)))

    def _refill(self, pool: list[_Pooled], seq: int) -> int:
        """Embedder thread: move spilled chunks into `pool`, reading their texts from the store.

        Only once every text queued in memory has been pooled: those were queued before
        anything in the spill. Returns the next arrival number.
        """
        pieces: list[_Spilled] = []
        with self._spill_lock:
            if not self._spill or not self._embed_in.empty() or self._stop.is_set():
                return seq  # stopping: what is left stays recorded in the store
            want = POOL_TEXTS - len(pool)
            while self._spill and want > 0:
                head = self._spill[0]
                if len(head.ids) <= want:
                    pieces.append(self._spill.popleft())
                else:  # a file with more chunks than fit: take its first ones
                    lengths = head.lengths
                    pieces.append(_Spilled(head.path, head.ids[:want],
                                           lengths[:want] if lengths else None))
                    head.ids = head.ids[want:]
                    head.lengths = lengths[want:] if lengths else None
                want -= len(pieces[-1].ids)
        try:
            rows = self.store.embed_texts([i for p in pieces for i in p.ids])
        except Exception:  # e.g. the disk went away: keep them queued, try again shortly
            log.exception("reading queued chunk texts back failed")
            with self._spill_lock:
                self._spill.extendleft(reversed(pieces))
            self._stop.wait(0.5)
            return seq
        gone_ids: list[str] = []
        gone_paths: list[str] = []
        found = 0
        for piece in pieces:
            for j, cid in enumerate(piece.ids):
                row = rows.get(cid)
                if row is None:
                    gone_ids.append(cid)
                    gone_paths.append(piece.path)
                    continue
                path, text = row
                length = piece.lengths[j] if piece.lengths else len(text) // 4 + 2
                pool.append(_Pooled(length, seq, cid, text, path))
                seq += 1
                found += 1
        with self._spill_lock:
            self._held += found
        if gone_ids:
            with self._cond:
                self.embed_backlog -= len(gone_ids)
            self._put_result(Dropped(gone_ids, gone_paths))
        return seq

    def _put_result(self, item: object) -> None:
        """Hand a result to the writer; wait while `RESULTS_WAITING` are already waiting."""
        while True:
            self._wake.set()
            try:
                self._embed_out.put(item, timeout=0.1)
                break
            except queue.Full:
                if self._stop.is_set():
                    return  # unfinished work stays recorded in the store
        self._wake.set()

    def apply_vectors(self, everything: bool = False) -> None:
        """Writer side: store finished vectors (one commit of at most `WRITE_BACK_ROWS`, or
        all that wait with `everything`), update file stages."""
        while True:
            more = self._apply_some()
            if not (everything and more):
                break

    def _apply_some(self) -> bool:
        """One write-back commit; True if more results are waiting."""
        results: list[tuple[EmbedJob, object]] = []
        dropped: list[Dropped] = []
        failed = rows = 0
        while rows < WRITE_BACK_ROWS:
            try:
                item = self._embed_out.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, EmbedFailed):
                failed += item.texts
            elif isinstance(item, Dropped):
                dropped.append(item)
            else:
                results.append(item)
                rows += len(item[0].ids)
        more = not self._embed_out.empty()
        if more:
            self._wake.set()  # the writer comes straight back for the rest
        self.last_write = time.monotonic()
        gone = sum(len(d.ids) for d in dropped)
        if failed or gone:
            with self._cond:
                self.busy -= failed
                self.progress.chunks_pending = max(0, self.progress.chunks_pending - gone)
                self._cond.notify_all()
        if not results and not dropped:
            return more
        try:
            ids = [i for job, _ in results for i in job.ids]
            if ids:
                matrix = np.concatenate([np.asarray(v, dtype=np.float32) for _, v in results])
                self.store.set_vectors(ids, matrix)  # the vector index follows via its sink
                del matrix
                self.progress.record_embedded(len(ids))
            settle = [(job.ids, job.paths) for job, _ in results]
            settle += [(d.ids, d.paths) for d in dropped]
            done_paths: list[str] = []
            for chunk_ids, paths in settle:
                for chunk_id, path in zip(chunk_ids, paths):
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
                self.busy -= sum(len(job.ids) for job, _ in results)
                self.busy -= sum(len(d.ids) for d in dropped)
                self._cond.notify_all()
        self._emit_progress()
        return more
