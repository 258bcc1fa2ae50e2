"""Search p95 per collection layout: one table with a folder filter, or one table per collection.

Prints one JSON object (with `cpu_info()`: model, cores, AVX2/AVX-512 flags, load average).
The corpus is `bench_search.py`'s: synthetic chunks (~120 Zipf pseudo-words, 384-d random unit
vectors, 20 chunks per file; embedding 100k real chunks takes hours on 2 cores), spread over 20
folders (`/bench/f00` … `/bench/f19`). A collection is a set of those folders: with N
collections (1, 5, 20), collection j holds the folders f with f % N == j, so each holds 1/N of
the chunks.

- `one_table`: one store of all chunks (what Cairn does); a search in collection j is
  `Retriever.search(folders=<its folders>)`: BM25 with a `starts_with(path, …)` SQL filter and
  the exact vector scan under a cached row mask. One build, whatever N.
- `per_collection`: N stores (one LanceDB table each) of 1/N of the chunks; a search in
  collection j searches its store unfiltered; "all" searches the N stores as one
  (`Retriever.search(others=…)`, the fusion used for a shared index).

Queries rotate over the collections; each mode's p50/p95 wall and CPU milliseconds per query
(`timed_pct`). Query vectors are given (`query_vector`), so no embedding time is included.

    .venv/bin/python bench/bench_collections.py [--chunks 100000] [--counts 1,5,20]
        [--queries 100] [--modes hybrid,bm25,vector]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_search, machine_info
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_search import CHUNKS_PER_FILE, DIM, Corpus, file_record, timed_pct
from machine_info import cpu_info

from indexer.answer.retrieval import Retriever
from indexer.records import text_hash
from indexer.storage.store import IndexStore
from indexer.storage.store_layout import chunks_schema
from indexer.storage.vector_index import ExactVectorIndex

FOLDERS = 20
K = 10


def folder_of_file(i: int) -> int:
    return i % FOLDERS


def path_of_file(i: int) -> str:
    return f"/bench/f{folder_of_file(i):02d}/note {i:06d}.md"


def build(folder: Path, corpus: Corpus, files: list[int]) -> tuple[IndexStore, ExactVectorIndex,
                                                                    float]:
    """A store holding the chunks of `files` (bulk rows, as bench_search), FTS index built."""
    t0 = time.perf_counter()
    store = IndexStore.open(folder, "bench-synthetic", DIM)
    table = store.tables.writer("chunks")
    batch_files = 1000
    for lo in range(0, len(files), batch_files):
        chunk_files = files[lo:lo + batch_files]
        n = len(chunk_files) * CHUNKS_PER_FILE
        texts = corpus.texts(n)
        paths = [path_of_file(f) for f in chunk_files for _ in range(CHUNKS_PER_FILE)]
        ordinals = [o for _ in chunk_files for o in range(CHUNKS_PER_FILE)]
        ids = [f"b{f:06d}-{o:02d}" for f in chunk_files for o in range(CHUNKS_PER_FILE)]
        cols: dict[str, Any] = {
            "id": ids, "path": paths, "folder": ["/bench"] * n, "ext": [".md"] * n,
            "ordinal": ordinals, "text": texts, "heading": [""] * n, "page": [0] * n,
            "line_start": [0] * n, "line_end": [0] * n, "char_start": [0] * n,
            "char_end": [0] * n, "kind": ["text"] * n,
            "text_hash": [text_hash(t) for t in texts], "embedded": [True] * n,
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(corpus.unit_vectors(n).ravel()), DIM),
        }
        table.add(pa.table(cols, schema=chunks_schema(DIM)))
    store.upsert_files([file_record(path_of_file(f)) for f in files])
    store.maintain(force=True)
    index = ExactVectorIndex.from_store(store)
    return store, index, time.perf_counter() - t0


def collection_folders(n: int) -> list[list[str]]:
    """Collection j of n: the folders f with f % n == j (as the strings a search filters by)."""
    return [[f"/bench/f{f:02d}" for f in range(FOLDERS) if f % n == j] for j in range(n)]


def measure(retriever: Retriever, queries: list[str], qvecs: np.ndarray, modes: list[str],
            scope: Any) -> dict[str, Any]:
    """`scope(i)` gives the search kwargs of query i (its collection's filter or stores)."""
    out: dict[str, Any] = {}
    for mode in modes:
        out[mode] = timed_pct(lambda i, m=mode: retriever.search(
            queries[i], K, mode=m, query_vector=qvecs[i], **scope(i)), len(queries))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--counts", default="1,5,20")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--modes", default="hybrid,bm25,vector")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]
    n_files = args.chunks // CHUNKS_PER_FILE
    result: dict[str, Any] = {
        "machine_start": cpu_info(), "chunks": n_files * CHUNKS_PER_FILE, "folders": FOLDERS,
        "k": K, "dim": DIM, "queries": args.queries,
        "vectors": "synthetic random unit vectors; text: Zipf pseudo-words (bench_search.py)",
        "one_table": {}, "per_collection": {},
    }
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-collections-"))
    try:
        corpus = Corpus(args.seed)  # one vocabulary: queries and every store share it
        queries = corpus.queries(args.queries)
        qvecs = corpus.unit_vectors(len(queries))
        store, index, build_s = build(work / "one", corpus, list(range(n_files)))
        retriever = Retriever(store, index, lambda q: qvecs[0])
        result["one_table"]["build_s"] = round(build_s, 1)
        result["one_table"]["all"] = measure(retriever, queries, qvecs, modes, lambda i: {})
        for n in counts:
            scopes = collection_folders(n)
            result["one_table"][str(n)] = measure(
                retriever, queries, qvecs, modes,
                lambda i, s=scopes: {"folders": s[i % len(s)]})  # type: ignore[misc]
        index.detach()
        store.close()

        for n in counts:
            stores = []
            t0 = time.perf_counter()
            for j in range(n):
                files = [f for f in range(n_files) if folder_of_file(f) % n == j]
                s, ix, _ = build(work / f"per-{n}-{j}", corpus, files)
                stores.append((s, ix, Retriever(s, ix, lambda q: qvecs[0])))
            entry: dict[str, Any] = {"build_s": round(time.perf_counter() - t0, 1)}
            retrievers = [r for _, _, r in stores]
            entry["collection"] = {
                mode: timed_pct(lambda i, m=mode, rs=retrievers: rs[i % len(rs)].search(
                    queries[i], K, mode=m, query_vector=qvecs[i]), len(queries))
                for mode in modes}
            entry["all"] = {
                mode: timed_pct(lambda i, m=mode, rs=retrievers: rs[0].search(
                    queries[i], K, mode=m, query_vector=qvecs[i], others=rs[1:]),
                    len(queries))
                for mode in modes}
            result["per_collection"][str(n)] = entry
            for s, ix, _ in stores:
                ix.detach()
                s.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["machine_end"] = cpu_info()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
