"""Embedding throughput: raw onnxruntime vs FastEmbedEmbedder (and fastembed's own batching).

Prints one JSON object. All run the same ONNX file with the same thread count and the same
length-sorted batches on ~300 real chunks (150-250 tokens, paragraphs of CPython's pydoc
topics). "raw" is the ceiling: our own tokenisation, one session.run per batch, mean pooling and
L2 normalisation in numpy. "embedder" is `FastEmbedEmbedder.embed` as the benchmark calls it
(it tokenizes the texts itself); "embedder_counted" is the same call on texts whose token ids
`count_tokens` left in its cache beforehand (untimed), as in the indexing pipeline, where the
chunker has counted every chunk. "fastembed_sorted" is how the embedder worked before it ran
onnxruntime itself: the same sorted batches through fastembed's `embed` (tokenizes again,
pools in float64). The headline is `ratio_embedder_vs_raw`, the median of per-round ratios
(each round runs all, rotating which goes first, so drifting load on a shared machine hits all
sides alike). On a busy shared machine use `--threads 1 --clock cpu`: CPU time of a
single-threaded run barely depends on other load. `--fastembed-default` adds fastembed's own
batching (batch 256, padded to the longest text): slower, and it peaks at several GB of memory.

    .venv/bin/python bench/bench_embedder.py [--n 300] [--threads 0] [--rounds 5] [--sweep]
    .venv/bin/python bench/bench_embedder.py --threads 1 --clock cpu   # on a busy machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # raw ONNX Runtime sessions here too (models/offline.py)

from models.catalog import DEFAULT_EMBEDDER
from models.embedder import DEFAULT_MAX_BATCH_TOKENS, FastEmbedEmbedder, plan_batches
from models.provisioning import resolve_embedder_dir

DEFAULT_TOPICS = Path("/work/shared/eval/pydoc_topics_3.11.7.json")


def load_chunks(count_tokens: Callable[[str], int], n: int, lo: int, hi: int) -> list[str]:
    """Merge consecutive paragraphs of each topic into chunks of lo..hi tokens."""
    if DEFAULT_TOPICS.exists():
        topics: dict[str, str] = json.loads(DEFAULT_TOPICS.read_text(encoding="utf-8"))
    else:  # same text, from the running interpreter's stdlib
        from pydoc_data.topics import topics
    chunks: list[str] = []
    for _name, text in sorted(topics.items()):
        current = ""
        for para in (p.strip() for p in re.split(r"\n\s*\n", text)):
            if not para:
                continue
            candidate = f"{current}\n\n{para}" if current else para
            size = count_tokens(candidate)
            if size > hi:
                current = para if count_tokens(para) <= hi else ""
                size = count_tokens(current) if current else 0
            else:
                current = candidate
            if current and size >= lo:
                chunks.append(current)
                current = ""
                if len(chunks) >= n:
                    return chunks
    return chunks


class RawOrt:
    """The ceiling: onnxruntime directly, the same sorted batches, numpy mean pooling."""

    def __init__(
        self, model_dir: Path, threads: int, batch_size: int, max_batch_tokens: int
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(model_dir / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(256)
        self.tokenizer.no_padding()
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        out = np.empty((len(texts), 384), dtype=np.float32)
        for batch in plan_batches(lengths, self.batch_size, self.max_batch_tokens):
            width = max(lengths[i] for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(None, feeds)[0]
            maskf = mask.astype(np.float32)
            pooled = np.einsum("bsd,bs->bd", hidden, maskf) / maskf.sum(1, keepdims=True)
            out[batch] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
_clock: Callable[[], float] = time.perf_counter


def rate(fn: Callable[[], np.ndarray], n: int) -> tuple[float, np.ndarray]:
    """Texts per second of `fn`, by the chosen clock (wall, or this process's CPU time)."""
    start = _clock()
    vectors = fn()
    return n / (_clock() - start), vectors


def fastembed_model(model_dir: Path, threads: int) -> Any:
    """fastembed's TextEmbedding on the same folder (mean pooling + L2, as Cairn registered
    it before it ran onnxruntime itself)."""
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    name = "local/bench-fastembed-reference"
    if name.lower() not in {m["model"].lower() for m in TextEmbedding.list_supported_models()}:
        TextEmbedding.add_custom_model(
            model=name, pooling=PoolingType.MEAN, normalization=True,
            sources=ModelSource(hf=name), dim=384, model_file="model.onnx",
        )
    return TextEmbedding(model_name=name, specific_model_path=str(model_dir),
                         cache_dir=str(model_dir), threads=threads or None)


def fastembed_sorted(model: Any, ours: FastEmbedEmbedder, texts: list[str]) -> np.ndarray:
    """The previous embedder: Cairn's length-sorted batches, each through fastembed's embed."""
    encodings = ours._tokenizer.encode_batch(texts, add_special_tokens=True)
    lengths = [min(len(e.ids), ours._window) for e in encodings]
    out = np.empty((len(texts), ours.dim), dtype=np.float32)
    for batch in plan_batches(lengths, ours.batch_size, ours.max_batch_tokens):
        vectors = model.embed([texts[i] for i in batch], batch_size=len(batch))
        out[batch] = np.asarray(list(vectors), dtype=np.float32)
    return out


def peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--threads", type=int, default=0, help="0 = onnxruntime default")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-batch-tokens", type=int, default=DEFAULT_MAX_BATCH_TOKENS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument(
        "--sweep", action="store_true", help="also time max_batch_tokens 1024..8192 (ours)"
    )
    parser.add_argument(
        "--fastembed-default",
        action="store_true",
        help="also time fastembed's own batching once (batch 256; peaks at ~6.7 GB here)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="cpu: process CPU time, robust on a shared machine (use with --threads 1)",
    )
    args = parser.parse_args()
    global _clock
    _clock = CLOCKS[args.clock]

    models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    model_dir = resolve_embedder_dir(DEFAULT_EMBEDDER, models_dir)
    ours = FastEmbedEmbedder(
        model_dir,
        DEFAULT_EMBEDDER,
        args.threads,
        args.batch_size,
        max_batch_tokens=args.max_batch_tokens,
    )
    ours.load()
    texts = load_chunks(ours.count_tokens, args.n, 150, 250)
    tokens = [ours.count_tokens(t) for t in texts]
    raw = RawOrt(model_dir, args.threads, args.batch_size, args.max_batch_tokens)
    previous = fastembed_model(model_dir, args.threads)
    fns: dict[str, Callable[[], np.ndarray]] = {
        "raw_ort": lambda: raw.embed(texts),
        "embedder": lambda: ours.embed(texts),
        "embedder_counted": lambda: ours.embed(texts),
        "fastembed_sorted": lambda: fastembed_sorted(previous, ours, texts),
    }
    for fn in fns.values():  # warm-up: first runs of a session allocate
        fn()

    # Rounds rotate which goes first: on a shared machine the load drifts, and a ratio taken
    # within one round sees nearly the same load on all sides.
    runs: dict[str, list[float]] = {name: [] for name in fns}
    ratios: dict[str, list[float]] = {name: [] for name in fns if name != "raw_ort"}
    vectors: dict[str, np.ndarray] = {}
    order = list(fns)
    for r in range(args.rounds):
        names = order[r % len(order) :] + order[: r % len(order)]
        for name in names:
            ours.ids_cache.clear()
            if name == "embedder_counted":
                for text in texts:  # what the chunker did before the pipeline embeds
                    ours.count_tokens(text)
            speed, vectors[name] = rate(fns[name], len(texts))
            runs[name].append(speed)
        for name, per_round in ratios.items():
            per_round.append(runs[name][-1] / runs["raw_ort"][-1])

    report: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "texts": len(texts),
        "tokens_mean": round(statistics.mean(tokens), 1),
        "tokens_min": min(tokens),
        "tokens_max": max(tokens),
        "threads": args.threads,
        "clock": args.clock,
        "batch_size": args.batch_size,
        "max_batch_tokens": args.max_batch_tokens,
        "rounds": args.rounds,
        "chunks_per_s_best": {k: round(max(v), 2) for k, v in runs.items()},
        "chunks_per_s_median": {k: round(statistics.median(v), 2) for k, v in runs.items()},
        "chunks_per_s_all": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "ratio_vs_raw_per_round": {k: [round(x, 3) for x in v] for k, v in ratios.items()},
        "ratio_vs_raw": {k: round(statistics.median(v), 3) for k, v in ratios.items()},
        "ratio_embedder_vs_raw": round(statistics.median(ratios["embedder"]), 3),
        "ratio_embedder_vs_raw_best": round(max(runs["embedder"]) / max(runs["raw_ort"]), 3),
        "max_abs_diff_vs_raw": {
            k: float(np.abs(vectors[k] - vectors["raw_ort"]).max()) for k in ratios
        },
    }
    if args.sweep:
        sweep: dict[str, float] = {}
        for budget in (1024, 2048, 4096, 8192):
            ours.max_batch_tokens = budget
            sweep[str(budget)] = round(rate(lambda: ours.embed(texts), len(texts))[0], 2)
        ours.max_batch_tokens = args.max_batch_tokens
        report["sweep_max_batch_tokens_chunks_per_s"] = sweep
    report["peak_rss_mb_before_fastembed_default"] = peak_rss_mb()
    if args.fastembed_default:

        def fastembed_default() -> np.ndarray:
            return np.asarray(list(previous.embed(texts, batch_size=256)), dtype=np.float32)

        speed, _ = rate(fastembed_default, len(texts))
        report["fastembed_default_chunks_per_s"] = round(speed, 2)
        report["peak_rss_mb_after_fastembed_default"] = peak_rss_mb()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
