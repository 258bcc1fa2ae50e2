"""Probes the indexing benchmarks measure with (`bench_indexing.py`): process RSS and load,
the other processes sharing the machine, an event log to wait on, a counter around the embedder,
and the raw onnxruntime ceiling (`RawOnnx`) the pipeline is compared with.

Imports no Cairn module at run time: `bench_indexing.py` puts the code under test on `sys.path`
first (`--other` measures another checkout with these same probes).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from indexer.events import Event
    from indexer.service import KnowledgeBase


def peak_rss_mb() -> float:
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1)


def current_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(np.ceil(q / 100 * len(s))) - 1))
    return s[k]


def background_load() -> list[dict[str, Any]]:
    """Other processes using CPU right now (ps), so the JSON says what shared the machine."""
    try:
        out = subprocess.run(
            ["ps", "-eo", "pid,pcpu,rss,etimes,args", "--sort=-pcpu"],
            check=False,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.splitlines()[1:]
    except (OSError, subprocess.SubprocessError):
        return []
    procs = []
    for line in out:
        parts = line.split(None, 4)
        if len(parts) < 5 or int(parts[0]) == os.getpid():
            continue
        if float(parts[1]) >= 5.0:
            procs.append(
                {
                    "pid": int(parts[0]),
                    "pcpu": float(parts[1]),
                    "rss_mb": round(int(parts[2]) / 1024),
                    "cmd": parts[4][:120],
                }
            )
    return procs[:6]


class EventLog:
    """Thread-safe event sink with waiting on a predicate."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[Event], bool], start: int, timeout: float) -> Event | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.1))

    def mark(self) -> int:
        with self._cond:
            return len(self.events)


class EmbedCounter:
    """Wraps an embedder's `embed` (instance attribute, set before the KB opens)."""

    def __init__(self, embedder: Any) -> None:
        self._inner = embedder.embed
        self.calls = 0
        self.texts = 0
        self.seconds = 0.0
        self.pipeline_calls = 0
        self.pipeline_texts = 0
        embedder.embed = self

    def __call__(self, texts: Sequence[str]) -> Any:
        t0 = time.perf_counter()
        try:
            return self._inner(texts)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1
            self.texts += len(texts)
            if threading.current_thread().name == "cairn-embedder":
                self.pipeline_calls += 1
                self.pipeline_texts += len(texts)


class RawOnnx:
    """The ceiling: onnxruntime directly, length-sorted greedy batches, numpy pooling."""

    def __init__(self, model_dir: Path, threads: int, window: int, max_batch_tokens: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(model_dir / "model.onnx"),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(window)
        self.tokenizer.no_padding()
        self.max_batch_tokens = max_batch_tokens

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        out: list[list[int]] = []
        cur: list[int] = []
        for i in order:  # ascending, so the newest text is the batch's longest
            if cur and (len(cur) + 1) * lengths[i] > self.max_batch_tokens:
                out.append(cur)
                cur = []
            cur.append(i)
        if cur:
            out.append(cur)
        return out

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, dict[str, int]]:
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        out = np.empty((len(texts), 0), dtype=np.float32)
        plan = self.batches(lengths)
        padded = 0
        for batch in plan:
            width = max(lengths[i] for i in batch)
            padded += width * len(batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            maskf = mask.astype(np.float32)
            pooled = np.einsum("bsd,bs->bd", hidden, maskf) / maskf.sum(1, keepdims=True)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            if out.shape[1] == 0:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[batch] = pooled
        return out, {"batches": len(plan), "tokens": sum(lengths), "padded_tokens": padded}


NO_SPIN_SNIPPET = """
import onnxruntime as _ort
_init = _ort.InferenceSession.__init__
def _no_spin(self, path, sess_options=None, *args, **kwargs):
    sess_options = sess_options or _ort.SessionOptions()
    sess_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    _init(self, path, sess_options, *args, **kwargs)
_ort.InferenceSession.__init__ = _no_spin
"""


def no_spin_everywhere() -> None:
    """Make every onnxruntime session of this process sleep instead of spin between parallel
    sections (the raw pass and the embedder alike, whatever code creates them): CPU time then
    counts work, not waiting for threads another process preempted."""
    exec(NO_SPIN_SNIPPET, {})  # noqa: S102 - a fixed snippet, shared with `compare`


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, this process's CPU seconds)."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def stored_embed_texts(kb: KnowledgeBase) -> list[str]:
    """Every stored chunk's embed text (same rule as Chunk.embed_text / pipeline._embed_text)."""
    assert kb.store is not None
    table = kb.store.tables.reader("chunks").to_arrow()
    cols = table.column_names
    texts = table.column("text").to_pylist()
    heads = table.column("heading").to_pylist() if "heading" in cols else [""] * len(texts)
    return [f"{h}\n{t}" if h else t for h, t in zip(heads, texts)]
