"""Search latency (BM25, exact vector, hybrid) against LanceDB's flat vector search, and churn.

Prints one JSON object. For each size (default 10k and 100k chunks of ~120 words, 384-d unit
vectors, 20 chunks per file) it bulk-loads a real `IndexStore`, builds the full-text index
with `maintain(force=True)` and times the same queries through `Retriever.search` in each mode,
plus the raw `ExactVectorIndex.search` and LanceDB's flat cosine search (`ratio_*` = LanceDB
time / ours). Text is synthetic: pseudo-words drawn from a Zipf distribution, so posting-list
lengths look like natural language; queries are 2-3 mid-frequency words.

Query embedding (`--embedder`):
- `real`: models.embedder.FastEmbedEmbedder (MiniLM); `*_with_embed` latencies include it.
- `fake`: models.embedder.FakeEmbedder (hashed bag of words; near-zero cost).
- `synthetic`: a random unit vector per query (no cost); also the fallback for `auto` (the
  default) when the real model cannot be loaded. `query_embed_ms` reports the embedding alone.
Chunk vectors are random unit vectors here: embedding 100k chunks takes hours on 2 cores.

Recall: Cairn's vector side is an exact scan, so recall@10 against LanceDB's exact (flat, cosine)
search should be 1.0 up to float rounding; `recall_at_10_vs_lancedb_flat` checks that on every
query of each size, and `--real-index <Cairn index dir>` checks it on *real* embeddings: the
embedded chunks of an existing Cairn index (read only; built with the same model as
`--embedder real`), queried with the real embeddings of the first words of sampled chunks.

Churn (`--churn-edits`, default 1000, on the `--churn-size` store): single-file edits exactly as
the writer makes them (one chunk of the file changes: replace_chunks, set_vectors for the one
new chunk, upsert_files), each followed by `maintain()`; reports write and maintenance
latency, fragment and version counts, disk size, and search latency before, during (one query
every 10 edits), at the end of the burst, and after the idle writer's next compaction.

    .venv/bin/python bench/bench_search.py [--sizes 10000,100000] [--queries 200]
        [--embedder auto|real|fake|synthetic] [--churn-size 10000] [--churn-edits 1000]
        [--real-index ~/.local/share/cairn/index] [--recall-queries 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.answer.retrieval import Retriever
from indexer.events import FileStage
from indexer.records import Chunk, text_hash
from indexer.storage.store import FileRecord, IndexStore
from indexer.storage.store_layout import MaintenancePolicy, chunks_schema, vector_matrix
from indexer.storage.vector_index import ExactVectorIndex

DIM = 384
CHUNKS_PER_FILE = 20
WORDS_PER_CHUNK = 120
K = 10


# ----------------------------------------------------------------------------- data
class Corpus:
    """Zipf-distributed pseudo-words; deterministic for a seed."""

    def __init__(self, seed: int, vocab_size: int = 30_000) -> None:
        self.rng = np.random.default_rng(seed)
        syll = np.array(["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "dra"])
        words = {
            "".join(self.rng.choice(syll, size=self.rng.integers(2, 5))) for _ in range(60_000)
        }
        self.vocab = np.array(sorted(words)[:vocab_size])
        self.rng.shuffle(self.vocab)
        ranks = np.arange(1, len(self.vocab) + 1)
        p = 1.0 / ranks**1.07
        self.p = p / p.sum()

    def texts(self, n: int) -> list[str]:
        idx = self.rng.choice(len(self.vocab), size=(n, WORDS_PER_CHUNK), p=self.p)
        return [" ".join(row) for row in self.vocab[idx]]

    def queries(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            k = int(self.rng.integers(2, 4))
            out.append(" ".join(self.vocab[self.rng.integers(50, 3000, size=k)]))
        return out

    def unit_vectors(self, n: int) -> np.ndarray:
        v = self.rng.standard_normal((n, DIM), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def file_path(i: int) -> str:
    return f"/bench/folder{i % 50:02d}/note {i:06d}.md"


def bulk_load(store: IndexStore, corpus: Corpus, n_chunks: int) -> float:
    """Write rows straight into the chunks table in large batches (benchmark setup only: the
    pipeline writes one file per commit through replace_chunks)."""
    start = time.perf_counter()
    table = store.tables.writer("chunks")
    batch = 20_000
    for lo in range(0, n_chunks, batch):
        n = min(batch, n_chunks - lo)
        texts = corpus.texts(n)
        paths = [file_path((lo + i) // CHUNKS_PER_FILE) for i in range(n)]
        vectors = corpus.unit_vectors(n)
        cols: dict[str, Any] = {
            "id": [f"b{lo + i:08d}" for i in range(n)],
            "path": paths,
            "folder": ["/bench"] * n,
            "ext": [".md"] * n,
            "ordinal": [(lo + i) % CHUNKS_PER_FILE for i in range(n)],
            "text": texts,
            "heading": [""] * n,
            "page": [0] * n,
            "line_start": [0] * n,
            "line_end": [0] * n,
            "char_start": [0] * n,
            "char_end": [0] * n,
            "kind": ["text"] * n,
            "text_hash": [text_hash(t) for t in texts],
            "embedded": [True] * n,
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        }
        table.add(pa.table(cols, schema=chunks_schema(DIM)))
    n_files = (n_chunks + CHUNKS_PER_FILE - 1) // CHUNKS_PER_FILE
    store.upsert_files([file_record(file_path(i)) for i in range(n_files)])
    return time.perf_counter() - start


def file_record(path: str) -> FileRecord:
    return FileRecord(path, "/bench", ".md", 1000, 1, text_hash(path), FileStage.EMBEDDED)


# ----------------------------------------------------------------------------- timing
def pct(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples)
    return {
        "p50": round(float(np.percentile(a, 50)), 2),
        "p95": round(float(np.percentile(a, 95)), 2),
    }


def timed_pct(fn: Callable[[int], object], n: int, warmup: int = 3) -> dict[str, float]:
    """Wall p50/p95 of `fn(i)` over `n` calls, plus the process CPU time per call (all threads:
    the embedder's, LanceDB's) at p50/p95, which moves far less with the load on a shared
    machine: on an idle one, a call cannot take much less wall time than its CPU time."""
    for i in range(min(warmup, n)):
        fn(i)
    wall, cpu = [], []
    for i in range(n):
        c0, t0 = time.process_time(), time.perf_counter()
        fn(i)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    c = np.asarray(cpu)
    return {
        **pct(wall),
        "cpu_p50": round(float(np.percentile(c, 50)), 2),
        "cpu_p95": round(float(np.percentile(c, 95)), 2),
    }


def make_embedder(kind: str) -> tuple[str, Callable[[str], np.ndarray] | None, str | None]:
    """(kind used, embed_query or None for synthetic, note)."""
    if kind in ("auto", "real"):
        try:
            from models.catalog import DEFAULT_EMBEDDER
            from models.embedder import FastEmbedEmbedder
            from models.provisioning import resolve_embedder_dir

            models_dir = Path(tempfile.mkdtemp(prefix="cairn-bench-models-"))
            model_dir = resolve_embedder_dir(DEFAULT_EMBEDDER, models_dir)
            emb = FastEmbedEmbedder(model_dir, DEFAULT_EMBEDDER)
            emb.load()
            if emb.dim != DIM:
                raise RuntimeError(f"embedder dim {emb.dim} != {DIM}")
            return "real", lambda q: np.asarray(emb.embed_query(q), dtype=np.float32), None
        except Exception as exc:
            if kind == "real":
                raise
            return "synthetic", None, f"real embedder unavailable: {type(exc).__name__}: {exc}"
    if kind == "fake":
        from models.embedder import FakeEmbedder

        fake = FakeEmbedder(dim=DIM)
        return "fake", lambda q: np.asarray(fake.embed_query(q), dtype=np.float32), None
    return "synthetic", None, None


def measure_queries(
    store: IndexStore,
    index: ExactVectorIndex,
    queries: list[str],
    qvecs: np.ndarray,
    embed: Callable[[str], np.ndarray] | None,
    lance: bool = True,
) -> dict[str, Any]:
    lookup = {q: v for q, v in zip(queries, qvecs)}
    retriever = Retriever(store, index, embed or (lambda q: lookup[q]))
    n = len(queries)
    out: dict[str, Any] = {}
    out["bm25"] = timed_pct(lambda i: retriever.search(queries[i], K, mode="bm25"), n)
    for mode in ("vector", "hybrid"):
        out[mode] = timed_pct(
            lambda i, m=mode: retriever.search(queries[i], K, mode=m, query_vector=qvecs[i]), n
        )
    out["exact_numpy_raw"] = timed_pct(lambda i: index.search(qvecs[i], K), n)
    if embed is not None:
        out["query_embed_ms"] = timed_pct(lambda i: embed(queries[i]), n)
        for mode in ("vector", "hybrid"):
            out[f"{mode}_with_embed"] = timed_pct(
                lambda i, m=mode: retriever.search(queries[i], K, mode=m), n
            )
    if lance:
        table = store.tables.reader("chunks")

        def flat(i: int) -> pa.Table:
            q = table.search(qvecs[i]).distance_type("cosine").limit(K)
            return q.select(["id", "_distance"]).to_arrow()

        out["lancedb_flat_vector"] = timed_pct(flat, n)
        recall = [
            recall_at_k([c for c, _ in index.search(qvecs[i], K)], flat(i)["id"].to_pylist())
            for i in range(n)
        ]
        out["recall_at_10_vs_lancedb_flat"] = round(float(np.mean(recall)), 4)
        flat_p50 = out["lancedb_flat_vector"]["p50"]
        out["ratio_lancedb_flat_vs_exact_raw_p50"] = round(
            flat_p50 / out["exact_numpy_raw"]["p50"], 1
        )
        out["ratio_lancedb_flat_vs_vector_mode_p50"] = round(flat_p50 / out["vector"]["p50"], 1)
    return out


def recall_at_k(ours: list[str], exact: list[str]) -> float:
    """Share of the exact top-k that `ours` found (k = len(exact))."""
    return len(set(ours) & set(exact)) / len(exact) if exact else 1.0


def real_recall(
    index_dir: Path, embed: Callable[[str], np.ndarray] | None, n_queries: int, seed: int
) -> dict[str, Any]:
    """Recall@10 of `ExactVectorIndex` against LanceDB's exact flat cosine search on the real
    embeddings of an existing Cairn index (opened read-only; nothing is written)."""
    import lancedb

    if embed is None:
        raise SystemExit("--real-index needs a query embedder (--embedder real)")
    db = lancedb.connect(str(index_dir))
    meta = {r["key"]: r["value"] for r in db.open_table("meta").to_arrow().to_pylist()}
    table = db.open_table("chunks")
    data = (
        table.search().where("embedded = true").select(["id", "path", "text", "vector"])
        .limit(None).to_arrow()
    )  # fmt: skip
    dim = int(meta["embed_dim"])
    vectors = vector_matrix(data["vector"], dim)
    index = ExactVectorIndex(dim)
    index.upsert(data["id"].to_pylist(), vectors, data["path"].to_pylist())
    rng = np.random.default_rng(seed)
    texts = data["text"].to_pylist()
    picks = rng.choice(len(texts), size=min(n_queries, len(texts)), replace=False)
    recalls, same_order = [], 0
    for i in picks:
        qvec = embed(" ".join(texts[int(i)].split()[:8]))
        ours = [cid for cid, _ in index.search(qvec, K)]
        exact = (
            table.search(qvec).distance_type("cosine").limit(K).select(["id"]).to_arrow()["id"]
            .to_pylist()
        )  # fmt: skip
        recalls.append(recall_at_k(ours, exact))
        same_order += ours == exact
    return {
        "index_model": meta.get("embed_model_id"),
        "chunks": len(texts),
        "queries": len(picks),
        "recall_at_10_vs_lancedb_flat": round(float(np.mean(recalls)), 4),
        "min_recall_at_10": round(float(np.min(recalls)), 2),
        "same_top10_order": same_order,
    }


# ----------------------------------------------------------------------------- churn
def churn(
    store: IndexStore,
    index: ExactVectorIndex,
    corpus: Corpus,
    edits: int,
    queries: list[str],
    qvecs: np.ndarray,
) -> dict[str, Any]:
    n_files = store.file_count()
    before = measure_queries(store, index, queries, qvecs, None, lance=False)
    size_before = dir_size(store.index_dir)
    write_ms, maintain_ms, optimize_ms, frags = [], [], [], []
    during: dict[str, list[float]] = {"bm25": [], "hybrid": []}
    retriever = Retriever(store, index, lambda q: qvecs[0])
    t_all = time.perf_counter()
    for e in range(edits):
        path = file_path(int(corpus.rng.integers(n_files)))
        texts = [r["text"] for r in store.chunks_for_file(path)]
        texts[int(corpus.rng.integers(len(texts)))] = corpus.texts(1)[0]
        chunks = [Chunk(text=t, ordinal=i) for i, t in enumerate(texts)]
        t0 = time.perf_counter()
        need = store.replace_chunks(path, "/bench", ".md", chunks)
        if need:  # the writer embeds the new chunk, then stores its vector
            store.set_vectors(list(need), corpus.unit_vectors(len(need)))
        store.upsert_files([file_record(path)])
        t1 = time.perf_counter()
        done = store.maintain()
        t2 = time.perf_counter()
        write_ms.append((t1 - t0) * 1000)
        maintain_ms.append((t2 - t1) * 1000)
        if done:
            optimize_ms.append((t2 - t1) * 1000)
        frags.append(store.fragment_count())
        if e % 10 == 9:  # a user searching while files keep changing
            i = (e // 10) % len(queries)
            for mode, samples in during.items():
                t0 = time.perf_counter()
                retriever.search(queries[i], K, mode=mode, query_vector=qvecs[i])  # type: ignore[arg-type]
                samples.append((time.perf_counter() - t0) * 1000)
    total = time.perf_counter() - t_all
    after = measure_queries(store, index, queries, qvecs, None, lance=False)
    frags_burst_end = store.fragment_count()
    t0 = time.perf_counter()
    store.maintain(force=True)  # what the idle writer's next maintain() does once it is due
    idle_maintain_s = time.perf_counter() - t0
    idle = measure_queries(store, index, queries, qvecs, None, lance=False)
    return {
        "edits": edits,
        "total_s": round(total, 1),
        "write_ms": pct(write_ms),
        "maintain_ms": pct(maintain_ms),
        "optimize_runs": len(optimize_ms),
        "optimize_ms": pct(optimize_ms) if optimize_ms else None,
        "fragments_max": max(frags),
        "fragments_at_burst_end": frags_burst_end,
        "fragments_after_idle_maintain": store.fragment_count(),
        "idle_maintain_s": round(idle_maintain_s, 2),
        "versions_end": store.version_count(),
        "disk_mb_before": round(size_before / 1e6, 1),
        "disk_mb_after": round(dir_size(store.index_dir) / 1e6, 1),
        "search_p50_before": {m: before[m]["p50"] for m in ("bm25", "vector", "hybrid")},
        "search_during_churn": {m: pct(v) for m, v in during.items()},
        "search_p50_at_burst_end": {m: after[m]["p50"] for m in ("bm25", "vector", "hybrid")},
        "search_p50_after_idle_maintain": {m: idle[m]["p50"] for m in ("bm25", "vector", "hybrid")},
        "chunks_pending_end": store.pending_count(),
        "vector_index_rows_end": len(index),
        "chunks_end": store.chunk_count(),
    }


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ----------------------------------------------------------------------------- main
class BuiltStore:
    """A bulk-loaded, optimised store with its in-memory vector index; closes both on exit."""

    def __init__(self, folder: Path, size: int, seed: int, policy: MaintenancePolicy) -> None:
        self.corpus = Corpus(seed + size)
        self.store = IndexStore.open(folder, "bench-synthetic", DIM, policy=policy)
        load_s = bulk_load(self.store, self.corpus, size)
        t0 = time.perf_counter()
        self.store.maintain(force=True)  # builds the FTS and scalar indexes over the bulk rows
        index_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.index = ExactVectorIndex.from_store(self.store)
        self.entry: dict[str, Any] = {
            "load_s": round(load_s, 2),
            "index_build_s": round(index_s, 2),
            "vector_index_load_s": round(time.perf_counter() - t0, 2),
            "vector_index_mb": round(self.index.nbytes / 1e6, 1),
        }

    def queries(self, n: int, embed: Callable[[str], np.ndarray] | None
                ) -> tuple[list[str], np.ndarray]:
        queries = self.corpus.queries(n)
        qvecs = (np.stack([embed(q) for q in queries]) if embed
                 else self.corpus.unit_vectors(len(queries)))
        return queries, qvecs

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.index.detach()
        self.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embedder", choices=["auto", "real", "fake", "synthetic"], default="auto")
    parser.add_argument("--churn-size", type=int, default=10_000)
    parser.add_argument("--churn-edits", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--real-index", type=Path, default=None)
    parser.add_argument("--recall-queries", type=int, default=300)
    parser.add_argument("--hard-max-fragments", default=str(MaintenancePolicy().hard_max_fragments),
                        help="comma list: churn once per value of the burst compaction bound")
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",") if s]
    hard_values = [int(v) for v in args.hard_max_fragments.split(",") if v]
    kind, embed, note = make_embedder(args.embedder)
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "embedder": kind,
        "k": K,
        "dim": DIM,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "sizes": {},
    }
    if note:
        result["embedder_note"] = note
    if args.real_index:
        result["real_embeddings"] = real_recall(
            args.real_index, embed, args.recall_queries, args.seed
        )
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cairn-bench-search-"))
    try:
        for size in sizes:
            with BuiltStore(work / f"index-{size}", size, args.seed, MaintenancePolicy()) as b:
                queries, qvecs = b.queries(args.queries, embed)
                b.entry.update(measure_queries(b.store, b.index, queries, qvecs, embed))
                result["sizes"][str(size)] = b.entry
        # Each policy churns its own fresh store built from the same seed, one after the other
        # in this run, so their figures compare.
        for hard in hard_values if args.churn_edits else []:
            policy = replace(MaintenancePolicy(), hard_max_fragments=hard)
            with BuiltStore(work / f"churn-{hard}", args.churn_size, args.seed, policy) as b:
                queries, qvecs = b.queries(args.queries, embed)
                churned = {"size": args.churn_size, "hard_max_fragments": hard,
                           **churn(b.store, b.index, b.corpus, args.churn_edits, queries, qvecs)}
            if len(hard_values) == 1:
                result["churn"] = churned
            else:
                result.setdefault("churn_by_hard_max_fragments", {})[str(hard)] = churned
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
