"""LanceDB approximate vector indexes at 1M synthetic 384-d vectors: recall, latency, size, memory.

Prints one JSON object (and writes it with `--out`). Input for docs/scaling.md, which plans for
1M-10M chunks and ~50 readers; Cairn itself searches vectors with an exact in-memory scan today
(`indexer/storage/vector_index.py`) and builds no vector index in LanceDB.

Data: `--rows` unit-norm float32 vectors of `--dim` dimensions shaped roughly like sentence
embeddings rather than uniform noise: a mixture of `--clusters` Gaussian clusters with
log-normal sizes and spreads, around a shared mean direction (real embeddings are anisotropic),
with noise whose variance decays over dimensions and is then rotated at random (a low effective
dimension, not aligned with the axes PQ splits on); seeded. Queries are fresh draws from the same
mixture with a 1.4× wider spread (near the data, never copies of rows: a short question
lands further from its topic than a chunk does). The JSON reports the queries' top-1 and top-10
cosines, to compare with real MiniLM figures.

Ground truth: exact cosine top-`k` for the first `--recall-queries` queries, computed with
numpy over all rows. `recall@k` = |ANN ids ∩ exact ids| / k, averaged over those queries.

The table (id int64, vector fixed-size list) is written to a temporary directory in
batches, then for each configuration: index build time (wall and process CPU seconds), index
size on disk (the index's own directory), single-query latency p50/p95 after a warm-up, one
query at a time, for every `--nprobes` × `--refine` (IVF_PQ) or `--hnsw-nprobes` × `--ef`
(IVF_HNSW_SQ), and throughput with `--threads` concurrent threads for the settings listed in
`--tp-settings`, with process CPU seconds per query (the figure for cost per search). Flat
(no index, `bypass_vector_index`) is measured on `--flat-queries` queries only: each one scans
every row. Memory: the process RSS sampled every 20 ms per phase (the generator holds the raw
vectors for ground truth, so the build phase's peak includes ~4 bytes × dim per row of numpy),
and `reader`: fresh child processes that only open the table and query it with the first
IVF_PQ index (what one more reader costs: RSS, time to open, first and steady query latency), once
with LanceDB's default caches and once with Cairn's bounded ones (64 + 32 MiB).

`--trend-rows 2000000,3000000`: after the main run, repeat with a smaller grid (first
`--ivf-pq` entry with partitions scaled to sqrt(rows), the `--tp-settings` only) at each size,
to show the trend toward 10M.

    .venv/bin/python bench/bench_scaling.py [--rows 1000000] [--quick] [--out docs/scaling_bench.json]
        [--ivf-pq 1000:48,1000:96,256:48] [--nprobes 10,20,50,100] [--refine 0,10]
        [--hnsw 16:20:150] [--hnsw-nprobes 4,16] [--ef 20,50,100] [--threads 2,8]
        [--trend-rows 2000000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine_info import cpu_info
from scaling_data import Mixture, RssSampler, cpu_s, dir_bytes, exact_topk, pct

K = 10
TABLE = "vectors"


class Searcher:
    """One LanceDB vector query shape (index params) over the table, returning row ids."""

    def __init__(
        self,
        table: Any,
        nprobes: int | None = None,
        refine: int | None = None,
        ef: int | None = None,
        flat: bool = False,
    ) -> None:
        self.table, self.nprobes, self.refine, self.ef, self.flat = table, nprobes, refine, ef, flat

    def builder(self, q: np.ndarray) -> Any:
        b = self.table.search(q, vector_column_name="vector").distance_type("cosine").limit(K)
        if self.flat:
            return b.bypass_vector_index().select(["id", "_distance"])
        if self.nprobes:
            b = b.nprobes(self.nprobes)
        if self.refine:
            b = b.refine_factor(self.refine)
        if self.ef:
            b = b.ef(self.ef)
        return b.select(["id", "_distance"])

    def __call__(self, q: np.ndarray) -> list[int]:
        return self.builder(q).to_arrow()["id"].to_pylist()

    def plan(self, q: np.ndarray) -> str:
        try:
            return str(self.builder(q).explain_plan(verbose=False))
        except (RuntimeError, ValueError, AttributeError) as exc:  # informative only
            return f"unavailable: {exc}"


def measure(
    search: Searcher, queries: np.ndarray, truth: np.ndarray, warmup: int, n_recall: int
) -> dict[str, Any]:
    """Latency (one query at a time, after `warmup` queries) and recall@K on `n_recall` queries."""
    for q in queries[-warmup:] if warmup else []:
        search(q)
    lat, hits = [], []
    c0 = cpu_s()
    for i, q in enumerate(queries[: max(n_recall, 1)]):
        t = time.perf_counter()
        ids = search(q)
        lat.append((time.perf_counter() - t) * 1000)
        if i < n_recall:
            hits.append(len(set(ids) & set(truth[i].tolist())) / K)
    cpu = cpu_s() - c0
    return {
        "recall_at_10": round(float(np.mean(hits)), 4) if hits else None,
        "recall_min": round(float(np.min(hits)), 2) if hits else None,
        "p50_ms": pct(lat, 50),
        "p95_ms": pct(lat, 95),
        "mean_ms": round(float(np.mean(lat)), 2),
        "cpu_ms_per_query_1thread": round(cpu / len(lat) * 1000, 2),
        "queries": len(lat),
    }


def throughput(
    search: Searcher, queries: np.ndarray, threads: int, seconds: float
) -> dict[str, Any]:
    """Queries/s with `threads` threads each issuing queries back to back for `seconds`."""
    stop = time.perf_counter() + seconds
    lat: list[list[float]] = [[] for _ in range(threads)]

    def worker(w: int) -> None:
        i = w
        while time.perf_counter() < stop:
            t = time.perf_counter()
            search(queries[i % len(queries)])
            lat[w].append((time.perf_counter() - t) * 1000)
            i += threads

    c0, t0 = cpu_s(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    flat = [x for xs in lat for x in xs]
    return {
        "threads": threads,
        "qps": round(len(flat) / wall, 1),
        "queries": len(flat),
        "p50_ms": pct(flat, 50),
        "p95_ms": pct(flat, 95),
        "cpu_s_per_query": round(cpu / max(len(flat), 1), 4),
        "cpu_utilisation_cores": round(cpu / wall, 2),
    }


# ----------------------------------------------------------------------------- the run
def write_table(
    db: Any, mix: Mixture, rows: int, seed: int, batch: int = 50_000
) -> tuple[Any, np.ndarray, float]:
    """Create the table from generated batches; returns (table, all vectors, seconds writing)."""
    data = np.empty((rows, mix.dim), dtype=np.float32)
    rng = np.random.default_rng(seed + 1)
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), mix.dim))])
    spent = [0.0]

    def batches() -> Iterator[pa.RecordBatch]:
        for lo in range(0, rows, batch):
            n = min(batch, rows - lo)
            data[lo : lo + n] = mix.draw(n, rng)
            vec = pa.FixedSizeListArray.from_arrays(pa.array(data[lo : lo + n].ravel()), mix.dim)
            yield pa.RecordBatch.from_arrays([pa.array(np.arange(lo, lo + n)), vec], schema=schema)

    t = time.perf_counter()
    reader = pa.RecordBatchReader.from_batches(schema, batches())
    table = db.create_table(TABLE, data=reader, schema=schema, mode="overwrite")
    spent[0] = time.perf_counter() - t
    return table, data, spent[0]


def index_dirs(root: Path) -> set[str]:
    d = root / f"{TABLE}.lance" / "_indices"
    return {p.name for p in d.iterdir()} if d.exists() else set()


def build(table: Any, root: Path, config: Any) -> dict[str, Any]:
    before = index_dirs(root)
    c0, t0 = cpu_s(), time.perf_counter()
    table.create_index("vector", config=config, replace=True)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    new = index_dirs(root) - before
    size = sum(dir_bytes(root / f"{TABLE}.lance" / "_indices" / n) for n in new)
    out: dict[str, Any] = {
        "build_s": round(wall, 1),
        "build_cpu_s": round(cpu, 1),
        "index_mb": round(size / 1e6, 1),
    }
    try:
        stats = table.index_stats("vector_idx")
        out["index_type"] = getattr(stats, "index_type", None)
        out["distance_type"] = getattr(stats, "distance_type", None)
        out["indexed_rows"] = getattr(stats, "num_indexed_rows", None)
        out["unindexed_rows"] = getattr(stats, "num_unindexed_rows", None)
    except (RuntimeError, ValueError, AttributeError) as exc:
        out["index_stats_error"] = str(exc)
    return out


def run_grid(
    name: str,
    table: Any,
    settings: list[dict[str, int | None]],
    queries: np.ndarray,
    truth: np.ndarray,
    args: argparse.Namespace,
    tp_keys: set[tuple],
) -> list[dict[str, Any]]:
    rows = []
    for s in settings:
        search = Searcher(table, **s)
        r = {"index": name, **{k: v for k, v in s.items() if v is not None}}
        r.update(measure(search, queries, truth, args.warmup, args.recall_queries))
        key = tuple(sorted((k, v) for k, v in s.items() if v is not None))
        if key in tp_keys:
            r["throughput"] = [
                throughput(search, queries, n, args.tp_seconds) for n in args.threads
            ]
        rows.append(r)
        log(f"  {r}")
    return rows


def parse_tp(spec: str) -> set[tuple]:
    """'nprobes=20+refine=10,ef=50+nprobes=4' -> set of sorted (key, value) tuples."""
    out = set()
    for item in filter(None, spec.split(",")):
        out.add(tuple(sorted((k, int(v)) for k, v in (p.split("=") for p in item.split("+")))))
    return out


def ints(spec: str) -> list[int]:
    return [int(x) for x in spec.split(",") if x.strip()]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def one_size(
    rows: int,
    args: argparse.Namespace,
    ivf_pq: list[tuple[int, int]],
    hnsw: list[tuple[int, int, int]],
    tp_keys: set[tuple],
) -> dict[str, Any]:
    import lancedb
    from lancedb.index import HnswSq, IvfPq

    rss = RssSampler()
    mix = Mixture(args.dim, args.clusters, args.seed)
    n_q = args.recall_queries + args.warmup
    queries = mix.draw(n_q, np.random.default_rng(args.seed + 2), wider=args.query_spread)
    tmp = Path(tempfile.mkdtemp(prefix="cairn-scaling-", dir=args.tmp))
    out: dict[str, Any] = {"rows": rows}
    try:
        db = lancedb.connect(str(tmp))
        rss.enter("write")
        log(f"writing {rows} rows")
        table, data, write_s = write_table(db, mix, rows, args.seed)
        out["write_s"] = round(write_s, 1)
        lance_dir = tmp / f"{TABLE}.lance"
        out["table_mb"] = round(dir_bytes(lance_dir) / 1e6, 1)
        out["raw_vectors_mb"] = round(data.nbytes / 1e6, 1)
        out["fragments"] = len(list((lance_dir / "data").glob("*.lance")))

        rss.enter("ground_truth")
        t = time.perf_counter()
        truth, truth_s = exact_topk(data, queries[: args.recall_queries], K)
        out["ground_truth_numpy_s"] = round(time.perf_counter() - t, 2)
        # the same exact scan per query, as Cairn's in-memory index does it (numpy, one query)
        lat = []
        for q in queries[:20]:
            t = time.perf_counter()
            s = data @ q
            np.argpartition(-s, K - 1)[:K]
            lat.append((time.perf_counter() - t) * 1000)
        out["numpy_exact_scan_p50_ms"] = pct(lat, 50)
        out["query_difficulty"] = {
            "top1_cos_p50": round(float(np.median(truth_s[:, 0])), 3),
            "top10_cos_p50": round(float(np.median(truth_s[:, -1])), 3),
            "top1_minus_top10_p50": round(float(np.median(truth_s[:, 0] - truth_s[:, -1])), 3),
            "random_pair_cos_mean": round(float(np.mean(data[:2000] @ data[2000:4000].T)), 3),
        }
        log(f"ground truth {out['ground_truth_numpy_s']} s; difficulty {out['query_difficulty']}")
        if not args.keep_raw:
            del data
        results: list[dict[str, Any]] = []

        # flat scan, a few queries only
        rss.enter("query_flat")
        flat = Searcher(table, flat=True)
        nf = min(args.flat_queries, args.recall_queries)
        r = {"index": "flat", **measure(flat, queries[:nf], truth[:nf], 2, nf)}
        if args.flat_tp:
            r["throughput"] = [throughput(flat, queries[:nf], 2, args.tp_seconds)]
        r["plan"] = flat.plan(queries[0])[:400]
        results.append(r)
        log(f"  {r}")
        builds = []

        for parts, nsv in ivf_pq:
            rss.enter(f"build_ivf_pq_{parts}_{nsv}")
            log(f"IVF_PQ partitions={parts} sub_vectors={nsv}")
            b = {
                "index": "IVF_PQ",
                "num_partitions": parts,
                "num_sub_vectors": nsv,
                "max_iterations": args.max_iterations,
                "sample_rate": args.sample_rate,
                **build(
                    table,
                    tmp,
                    IvfPq(
                        distance_type="cosine",
                        num_partitions=parts,
                        num_sub_vectors=nsv,
                        max_iterations=args.max_iterations,
                        sample_rate=args.sample_rate,
                    ),
                ),
            }
            builds.append(b)
            log(f"  built {b}")
            rss.enter(f"query_ivf_pq_{parts}_{nsv}")
            settings = [
                {"nprobes": n, "refine": r or None} for n in args.nprobes for r in args.refine
            ]
            name = f"IVF_PQ p={parts} sv={nsv}"
            grid = run_grid(name, table, settings, queries, truth, args, tp_keys)
            grid[0]["plan"] = Searcher(table, **settings[0]).plan(queries[0])[:400]
            results += grid
            if args.reader_check and "reader" not in out:  # with the first IVF_PQ index
                rss.enter("reader")
                params = {"index": name, "nprobes": args.reader_nprobes, "refine": 10}
                out["reader"] = reader_child(tmp, queries[: args.recall_queries], params)
                log(f"  reader {out['reader']}")

        for parts, m, efc in hnsw:
            rss.enter(f"build_hnsw_sq_{parts}")
            log(f"IVF_HNSW_SQ partitions={parts} m={m} ef_construction={efc}")
            b = {
                "index": "IVF_HNSW_SQ",
                "num_partitions": parts,
                "m": m,
                "ef_construction": efc,
                "max_iterations": args.max_iterations,
                "sample_rate": args.sample_rate,
                **build(
                    table,
                    tmp,
                    HnswSq(
                        distance_type="cosine",
                        num_partitions=parts,
                        m=m,
                        ef_construction=efc,
                        max_iterations=args.max_iterations,
                        sample_rate=args.sample_rate,
                    ),
                ),
            }
            builds.append(b)
            log(f"  built {b}")
            rss.enter(f"query_hnsw_sq_{parts}")
            settings = [
                {"nprobes": min(n, parts), "ef": e}
                for n in sorted({min(n, parts) for n in args.hnsw_nprobes})
                for e in args.ef
            ]
            grid = run_grid(
                f"IVF_HNSW_SQ p={parts} m={m}", table, settings, queries, truth, args, tp_keys
            )
            grid[0]["plan"] = Searcher(table, **settings[0]).plan(queries[0])[:400]
            results += grid

        out["builds"] = builds
        out["results"] = results
        out["disk_after_mb"] = {
            "table_total": round(dir_bytes(lance_dir) / 1e6, 1),
            "data": round(dir_bytes(lance_dir / "data") / 1e6, 1),
            "indices_all_versions": round(dir_bytes(lance_dir / "_indices") / 1e6, 1),
        }
    finally:
        out["rss_peak_mb_by_phase"] = rss.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


READER = r"""
import json, sys, time, os
import numpy as np, psutil
t0 = time.perf_counter()
import lancedb
t_import = time.perf_counter() - t0
root, qfile, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
q = np.load(qfile)
p = psutil.Process()
rss0 = p.memory_info().rss
t = time.perf_counter()
kw = {}
if params.get("index_cache_mb"):
    kw["session"] = lancedb.Session(index_cache_size_bytes=params["index_cache_mb"] << 20,
                                    metadata_cache_size_bytes=params["metadata_cache_mb"] << 20)
table = lancedb.connect(root, **kw).open_table("vectors")
t_open = time.perf_counter() - t
def one(v):
    b = table.search(v, vector_column_name="vector").distance_type("cosine").limit(10)
    b = b.nprobes(params["nprobes"])  # params["index"] is only a label
    if params.get("refine"): b = b.refine_factor(params["refine"])
    if params.get("ef"): b = b.ef(params["ef"])
    return b.select(["id", "_distance"]).to_arrow()
lat = []
for v in q:
    t = time.perf_counter(); one(v); lat.append((time.perf_counter() - t) * 1000)
print(json.dumps({"params": params, "import_s": round(t_import, 2), "open_s": round(t_open, 3),
    "first_query_ms": round(lat[0], 1), "p50_ms_after_first": round(float(np.median(lat[1:])), 2),
    "p95_ms_after_first": round(float(np.percentile(lat[1:], 95)), 2),
    "rss_mb_before_open": round(rss0 / 2**20, 1), "rss_mb_after_queries": round(p.memory_info().rss / 2**20, 1)}))
"""


def reader_child(root: Path, queries: np.ndarray, params: dict[str, int]) -> list[dict[str, Any]]:
    """Fresh processes that open the table and query it: what one more reader costs, with
    LanceDB's default caches (6 GiB index, 1 GiB metadata) and with Cairn's bounded ones
    (`indexer/storage/store_tables.py`: 64 MiB index, 32 MiB metadata)."""
    qfile = root / "queries.npy"
    np.save(qfile, queries)
    out = []
    for caches in ({}, {"index_cache_mb": 64, "metadata_cache_mb": 32}):
        p = {**params, **caches}
        proc = subprocess.run(
            [sys.executable, "-c", READER, str(root), str(qfile), json.dumps(p)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            out.append({"params": p, "error": proc.stderr[-2000:]})
        else:
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument(
        "--query-spread",
        type=float,
        default=1.4,
        help="queries' spread around their cluster centre relative to the rows' (a "
        "short question lands further from its topic than a chunk does)",
    )
    ap.add_argument("--recall-queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--flat-queries", type=int, default=12)
    ap.add_argument("--flat-tp", action="store_true", help="also a 2-thread flat throughput")
    ap.add_argument(
        "--ivf-pq",
        default="1000:48,1000:96,256:48",
        help="num_partitions:num_sub_vectors, comma separated ('' for none)",
    )
    ap.add_argument(
        "--max-iterations",
        type=int,
        default=10,
        help="k-means iterations for IVF centroids and PQ codebooks (LanceDB's default is 50: "
        "4.3x the build time at 100k rows here for the same recall)",
    )
    ap.add_argument(
        "--sample-rate",
        type=int,
        default=256,
        help="k-means training rows per partition (LanceDB's default: 256)",
    )
    ap.add_argument("--nprobes", default="10,20,50,100")
    ap.add_argument("--refine", default="0,10", help="refine_factor values; 0 = none")
    ap.add_argument(
        "--hnsw",
        default="16:20:150",
        help="IVF_HNSW_SQ num_partitions:m:ef_construction, comma separated ('' for none)",
    )
    ap.add_argument("--hnsw-nprobes", default="4,8,16")
    ap.add_argument("--ef", default="20,50,100")
    ap.add_argument("--threads", default="2,8")
    ap.add_argument("--tp-seconds", type=float, default=4.0)
    ap.add_argument(
        "--tp-settings",
        default="nprobes=20+refine=10,nprobes=50+refine=10,nprobes=4+ef=50",
        help="settings that also get the threaded throughput runs",
    )
    ap.add_argument("--reader-nprobes", type=int, default=20)
    ap.add_argument("--no-reader-check", dest="reader_check", action="store_false")
    ap.add_argument("--trend-rows", default="", help="e.g. 2000000: a smaller grid at these sizes")
    ap.add_argument("--keep-raw", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", default=None, help="where the temporary table goes (default: $TMPDIR)")
    ap.add_argument("--quick", action="store_true", help="20k rows, small grid: a smoke test")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.quick:
        args.rows, args.clusters, args.recall_queries = 20_000, 300, 50
        args.ivf_pq, args.hnsw, args.tp_seconds = "141:48", "4:20:100", 1.0
        args.hnsw_nprobes, args.flat_queries = "2,4", 5
    args.nprobes, args.refine, args.ef = ints(args.nprobes), ints(args.refine), ints(args.ef)
    args.hnsw_nprobes, args.threads = ints(args.hnsw_nprobes), ints(args.threads)
    ivf_pq = [tuple(ints(x.replace(":", ","))) for x in args.ivf_pq.split(",") if x.strip()]
    hnsw = [tuple(ints(x.replace(":", ","))) for x in args.hnsw.split(",") if x.strip()]
    tp_keys = parse_tp(args.tp_settings)

    import lancedb

    started = time.time()
    out: dict[str, Any] = {
        "bench": "bench_scaling",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": cpu_info(),
        "lancedb": lancedb.__version__,
        "numpy": np.__version__,
        "mem_total_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "params": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "metric": "cosine",
        "k": K,
    }
    out["main"] = one_size(args.rows, args, ivf_pq, hnsw, tp_keys)
    trend = []
    for n in ints(args.trend_rows):
        sv = ivf_pq[0][1] if ivf_pq else 48
        t_args = argparse.Namespace(**{**vars(args), "reader_check": False})
        keys = {k for k in tp_keys if dict(k).get("refine")}
        t_args.nprobes = sorted({dict(k)["nprobes"] for k in keys}) or [20]
        t_args.refine = [10]
        trend.append(one_size(n, t_args, [(round(math.sqrt(n)), sv)], [], keys))
    if trend:
        out["trend"] = trend
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["wall_s"] = round(time.time() - started, 1)
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
