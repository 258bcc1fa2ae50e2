"""Latency of `search` through `cairn mcp` against the same search in process.

Prints one JSON object. A synthetic corpus (deterministic pseudo-words, `--files` Markdown files
of a few paragraphs) plus the bundled sample documents is indexed with the real embedder by an
owning `KnowledgeBase`, which stays open for the whole run (the window's role); then the same
`--queries` searches (top_k 8, hybrid: query embedding + BM25 + exact vectors) are timed, in
alternating rounds, through:

- `owner_in_process`: `KnowledgeBase.search` of the owner (what the window calls);
- `reader_in_process`: `Operations.search` over a `ReadOnlyKnowledgeBase` — exactly the work the
  server does per call, without any protocol;
- `mcp_in_memory`: the SDK's `Client` on the server object in this process (protocol and
  validation, no process boundary);
- `mcp_stdio`: the SDK's `Client` talking to a `cairn mcp` subprocess over stdio (JSON-RPC,
  pipes, another process: what Claude Desktop and VS Code do).

`ratio_*` divide the MCP figures by `reader_in_process`. Absolute times move with the load of
the (shared) machine; `load_avg` is reported before and after.

    .venv/bin/python bench/bench_serving.py [--files 300] [--queries 200] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import cpu_info
from mcp import Client, StdioServerParameters

from indexer.config import load_settings, save_settings
from indexer.runtime import install_egress_guard, set_offline_env
from indexer.service import KnowledgeBase, build_hub
from indexer.serving.mcp_server import build_server
from indexer.serving.operations import Operations
from indexer.serving.reader import ReadOnlyKnowledgeBase

SAMPLES = ROOT / "desktop_app" / "sample_docs"


def make_corpus(docs: Path, files: int, seed: int = 7) -> list[str]:
    """`files` Markdown files of 4 paragraphs from a Zipf-ish pseudo-word vocabulary; returns
    queries of 2-3 mid-frequency words."""
    rng = random.Random(seed)
    syll = ["ka", "lo", "mi", "ru", "te", "sa", "vo", "ne", "pi", "da", "zu", "fe"]
    vocab = ["".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(3000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))
    for i in range(files):
        paras = [" ".join(rng.choices(vocab, weights, k=60)) + "." for _ in range(4)]
        (docs / f"note-{i:04d}.md").write_text(f"# Note {i}\n\n" + "\n\n".join(paras) + "\n",
                                               encoding="utf-8")
    mid = vocab[50:600]
    return [" ".join(rng.sample(mid, rng.randint(2, 3))) for _ in range(50)]


def stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2),
            "mean_ms": round(float(a.mean()), 2), "n": len(ms)}


async def timed_async(call: Callable[[str], Awaitable[Any]], queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        await call(q)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def timed(call: Callable[[str], Any], queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        call(q)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    set_offline_env()
    install_egress_guard()
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-serving-"))
    try:
        home, docs = tmp / "home", tmp / "docs"
        queries = make_corpus(docs, args.files)
        settings = load_settings(home, folders=[docs.resolve()])
        save_settings(settings, keys={"folders"})
        owner = KnowledgeBase(settings, build_hub(settings)).open()
        t0 = time.perf_counter()
        owner.index(timeout=3600)
        index_s = time.perf_counter() - t0
        status = owner.status()
        reader_settings = load_settings(home)
        reader = ReadOnlyKnowledgeBase(reader_settings, build_hub(reader_settings)).open()
        ops = Operations(reader)
        server = build_server(ops)
        params = StdioServerParameters(command=str(Path(sys.executable).with_name("cairn")),
                                       args=["--home", str(home), "mcp"])
        per_round = max(1, args.queries // args.rounds)
        results: dict[str, list[float]] = {k: [] for k in (
            "owner_in_process", "reader_in_process", "mcp_in_memory", "mcp_stdio")}

        async def run() -> None:
            async with Client(params, mode="legacy") as stdio, Client(server) as memory:
                async def via(client: Client, q: str) -> None:
                    r = await client.call_tool("search", {"query": q, "top_k": 8})
                    assert not r.is_error and r.structured_content["hits"], r.content

                for q in queries[:10]:  # warm-up of every path (model loads, caches)
                    owner.search(q, 8)
                    ops.search(q, 8)
                    await via(memory, q)
                    await via(stdio, q)
                for r in range(args.rounds):  # alternate, so load changes hit every path
                    batch = [queries[(r * per_round + i) % len(queries)]
                             for i in range(per_round)]
                    results["owner_in_process"] += timed(lambda q: owner.search(q, 8), batch)
                    results["reader_in_process"] += timed(lambda q: ops.search(q, 8), batch)
                    results["mcp_in_memory"] += await timed_async(
                        lambda q: via(memory, q), batch)
                    results["mcp_stdio"] += await timed_async(lambda q: via(stdio, q), batch)

        anyio.run(run)
        reader.close()
        owner.close()
        figures = {k: stats(v) for k, v in results.items()}
        base = figures["reader_in_process"]
        out = {
            "machine": cpu_info(),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "corpus": {"files": sum(status.files_by_stage.values()), "chunks": status.chunks,
                       "index_s": round(index_s, 1)},
            "search": {"top_k": 8, "mode": "hybrid", "queries": len(results["mcp_stdio"]),
                       "rounds": args.rounds},
            "latency": figures,
            "ratio_mcp_stdio_p50": round(figures["mcp_stdio"]["p50_ms"] / base["p50_ms"], 2),
            "ratio_mcp_stdio_p95": round(figures["mcp_stdio"]["p95_ms"] / base["p95_ms"], 2),
            "ratio_mcp_in_memory_p50": round(figures["mcp_in_memory"]["p50_ms"]
                                             / base["p50_ms"], 2),
            "added_by_stdio_p50_ms": round(figures["mcp_stdio"]["p50_ms"] - base["p50_ms"], 2),
        }
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
