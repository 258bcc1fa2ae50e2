"""Cairn side by side with the peers' pipelines: the same corpora, model files and questions.

Prints one JSON object (docs/peers.md). Rows, one pipeline each, run one after the other:

- `llamaindex_vector`: LlamaIndex as PrivateGPT configures it (peers_llamaindex.py cites each
  setting); `llamaindex_bm25_fusion`: the same index, BM25 fused with vector search by
  LlamaIndex's QueryFusionRetriever.
- `lancedb_topk`: plain LanceDB top-k as AnythingLLM / Reor run it (peers_lancedb.py).
- `cairn_hybrid` (the product) and `cairn_vector` (its vector search alone), via KnowledgeBase.

Every row uses the MiniLM ONNX folder and the GGUF file that Cairn's provisioning resolves
(`--work/models`), and every row is scored by Cairn's own evaluation runner
(`indexer.evaluation.runner.run_retrieval` / `run_answers`), so the metric definitions are
`cairn eval`'s. Corpora: the pydoc topics with the 40 dev questions (hit@1, hit@5, MRR@10,
nDCG@10) and bench_known_item.py's Wikipedia summaries (known-item MRR@10). Figures per row:
indexing wall time (model load included, imports not) and chunks/s, peak RSS, search p50/p95,
and with answers (default; `--skip-answers` turns them off): correct %, citation accuracy,
refusal of unanswerable, false refusals, first-token latency.

Each pipeline runs in a child process of this one (`--worker`), so its peak RSS is its own and
nothing one pipeline imports or caches helps the next; the two LlamaIndex rows share one child
(one index) and so do the two Cairn rows. Offline: Cairn's opt-outs and strict egress guard are
installed before any library is imported (peers_common.go_offline); blocked attempts are
counted per child in `egress`.

    uv run --group peers python bench/bench_peers.py --out peers.json              # everything
    uv run --group peers python bench/bench_peers.py --limit-docs 3 --limit-questions 2 \\
        --skip-answers --model qwen2.5-coder-0.5b-instruct-q4_k_m                  # plumbing
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_common import go_offline

PIPELINES = ("llamaindex", "lancedb", "cairn")
CORPORA = ("pydoc", "wiki")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cairn-peers",
                   help="corpora, model files and indexes (kept between runs)")
    p.add_argument("--limit-docs", type=int, default=0, help="first N documents (0 = all)")
    p.add_argument("--limit-questions", type=int, default=0,
                   help="first N pydoc questions and N known-item queries (0 = all / default)")
    p.add_argument("--known-item-queries", type=int, default=1000,
                   help="sampled known-item queries (bench_known_item.py's default)")
    p.add_argument("--model", default="qwen2.5-coder-1.5b-instruct-q4_k_m",
                   help="chat model: catalog id or .gguf path (Cairn's default)")
    p.add_argument("--skip-answers", action="store_true", help="retrieval figures only")
    p.add_argument("--answers", action="store_true", help="answers too (the default)")
    p.add_argument("--pipelines", default=",".join(PIPELINES))
    p.add_argument("--corpora", default=",".join(CORPORA))
    p.add_argument("--fusion-answers", action="store_true",
                   help="also answer with the BM25-fusion LlamaIndex row (not PrivateGPT's)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # PIPELINE:CORPUS, run in a child
    p.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- scoring
def retrieval_figures(kb: Any, questions: list[Any], mode: str = "hybrid") -> dict[str, Any]:
    """Cairn's runner over `kb` (a KnowledgeBase or a PeerKB): its summary, rounded."""
    from indexer.evaluation.runner import run_retrieval

    summary = run_retrieval(kb, questions, mode=mode, k=10).summary  # type: ignore[arg-type]
    search = next((s for s in summary.latency if s.stage == "search"), None)
    return {"questions": summary.questions, "hit_at_1": _r(summary.hit_at_1),
            "hit_at_5": _r(summary.hit_at_5), "mrr_at_10": _r(summary.mrr),
            "ndcg_at_10": _r(summary.ndcg_at_10), "evidence_recall": _r(summary.evidence_recall),
            "search_p50_ms": _ms(search.p50 if search else None),
            "search_p95_ms": _ms(search.p95 if search else None)}


def answer_figures(kb: Any, questions: list[Any], peer: bool) -> dict[str, Any]:
    """Cairn's `run_answers` over `kb`; a peer's rows lose the `grounded` verdict (peers have
    no grounding check, and an empty `unsupported` would read as "grounded")."""
    from indexer.evaluation.runner import run_answers

    run = run_answers(kb, questions, config="peers",
                      on_result=lambda r: print(f"  {r.id}: {'ok' if r.passed else 'FAIL'}",
                                                file=sys.stderr))
    if peer:
        for row in run.rows:
            row.grounded = None
    s = run.summary
    first = next((x for x in s.latency if x.stage == "first_token"), None)
    total = next((x for x in s.latency if x.stage == "total"), None)
    return {"questions": s.questions, "correct": _r(s.correct_rate),
            "citation_accuracy": _r(s.citation_accuracy), "cites_source": _r(s.cites_source_rate),
            "refusal_unanswerable": _r(s.refusal_rate_unanswerable),
            "false_refusals": _r(s.false_refusal_rate), "grounded": _r(s.grounded_rate),
            "first_token_p50_s": _r(first.p50 if first else None, 2),
            "first_token_p95_s": _r(first.p95 if first else None, 2),
            "answer_p50_s": _r(total.p50 if total else None, 2),
            "errors": sum(1 for r in run.rows if r.error),
            "answers": [{"id": r.id, "answer": r.answer, "cited": list(r.cited_sources or ()),
                         "passed": r.passed} for r in run.rows]}


def _r(x: float | None, n: int = 4) -> float | None:
    return None if x is None else round(x, n)


def _ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1000, 1)


# ----------------------------------------------------------------------------- workers
def run_worker(args: argparse.Namespace, offline: dict[str, Any]) -> dict[str, Any]:
    """One pipeline on one corpus in this (child) process: index, retrieve, maybe answer."""
    import peers_common as pc

    pipeline, corpus_name = args.worker.split(":")
    files_info = json.loads((args.work / "plan.json").read_text())
    corpus = Path(files_info["corpora"][corpus_name])
    questions = (pc.pydoc_questions(args.limit_questions) if corpus_name == "pydoc"
                 else pc.wiki_corpus(args.work, args.limit_docs,
                                     args.limit_questions or args.known_item_queries,
                                     args.seed)[1])
    files = sorted(p for p in corpus.iterdir() if p.is_file())
    answers = corpus_name == "pydoc" and not args.skip_answers
    store = args.work / "stores" / f"{pipeline}-{corpus_name}"
    import shutil

    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    models = files_info["models"]
    if pipeline == "cairn":
        return _cairn(args, corpus, store, questions, answers, models)
    t0 = time.perf_counter()
    if pipeline == "llamaindex":
        from peers_llamaindex import LlamaIndexPeer

        li = LlamaIndexPeer(files, models["embedder_dir"], store)
        rows = {"llamaindex_vector": (lambda q, k: li.search(q, k), lambda q: li.ask(q)),
                "llamaindex_bm25_fusion": (lambda q, k: li.search(q, k, fused=True),
                                           (lambda q: li.ask(q, fused=True))
                                           if args.fusion_answers else None)}
        peer: Any = li
        t1 = time.perf_counter()
        for k in (10, 2):  # BM25 over the docstore's nodes: the fusion row's own indexing
            li.fusion_retriever(k)
        fusion_build_s = time.perf_counter() - t1
    else:
        from peers_lancedb import LanceDBPeer

        peer = LanceDBPeer(files, models["embedder_dir"], store)
        rows = {"lancedb_topk": (peer.search, peer.ask)}
        fusion_build_s = 0.0
    index_s = time.perf_counter() - t0 - fusion_build_s
    out: dict[str, Any] = {}
    base = {"documents": len(files), "chunks": peer.chunks, "index_s": round(index_s, 2),
            "chunks_per_s": round(peer.chunks / index_s, 2) if index_s else None}
    for name, (search, _ask) in rows.items():
        row_base = dict(base)
        if name.endswith("fusion"):  # the vector index plus the BM25 index
            row_base["index_s"] = round(index_s + fusion_build_s, 2)
            row_base["chunks_per_s"] = round(peer.chunks / (index_s + fusion_build_s), 2)
        out[name] = {**row_base, "retrieval": retrieval_figures(pc.PeerKB(search), questions)}
    out_rss = pc.peak_rss_mb()
    if answers:
        peer.load_llm(models["gguf"])
        for name, (search, ask) in rows.items():
            if ask is not None:
                out[name]["answers"] = answer_figures(
                    pc.PeerKB(search, ask, Path(models["gguf"]).stem), questions, peer=True)
    for row in out.values():
        row["peak_rss_mb_retrieval"] = out_rss
        row["peak_rss_mb"] = pc.peak_rss_mb()
        row["egress"] = pc.egress_report()
        row["offline_data"] = offline
    return out


def _cairn(args: argparse.Namespace, corpus: Path, home: Path, questions: list[Any],
           answers: bool, models: dict[str, str]) -> dict[str, Any]:
    """Cairn through its KnowledgeBase, default settings, the same model files."""
    import peers_common as pc

    from indexer.config import load_settings
    from indexer.service import KnowledgeBase, build_hub

    extra = {"chat_model": models["gguf"]} if models.get("gguf") else {}
    settings = load_settings(home, folders=[corpus], embedder_model=models["embedder_dir"],
                             **extra)
    t0 = time.perf_counter()
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.index(timeout=6 * 3600)
        index_s = time.perf_counter() - t0
        chunks = kb.status().chunks
        base = {"documents": sum(1 for p in corpus.iterdir() if p.is_file()), "chunks": chunks,
                "index_s": round(index_s, 2),
                "chunks_per_s": round(chunks / index_s, 2) if index_s else None}
        out = {"cairn_hybrid": {**base, "retrieval": retrieval_figures(kb, questions, "hybrid")},
               "cairn_vector": {**base, "retrieval": retrieval_figures(kb, questions, "vector")}}
        rss = pc.peak_rss_mb()
        if answers:
            out["cairn_hybrid"]["answers"] = answer_figures(kb, questions, peer=False)
    for row in out.values():
        row["peak_rss_mb_retrieval"] = rss
        row["peak_rss_mb"] = pc.peak_rss_mb()
        row["egress"] = pc.egress_report()
    return out


# ----------------------------------------------------------------------------- parent
def plan(args: argparse.Namespace) -> dict[str, Any]:
    """Corpora written and model files resolved once, before any timed child starts."""
    import peers_common as pc

    corpora: dict[str, str] = {}
    wanted = args.corpora.split(",")
    if "pydoc" in wanted:
        keep = [q.source_file for q in pc.pydoc_questions(args.limit_questions) if q.source_file]
        corpora["pydoc"] = str(pc.pydoc_corpus(args.work, args.limit_docs, keep))
    if "wiki" in wanted:
        corpora["wiki"] = str(pc.wiki_corpus(args.work, args.limit_docs, 1, args.seed)[0])
    gguf_needed = not args.skip_answers and "pydoc" in wanted
    models = pc.model_files(args.work, args.model if gguf_needed else "")
    info = {"corpora": corpora, "models": models}
    (args.work / "plan.json").write_text(json.dumps(info, indent=2))
    return info


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    offline = go_offline(args.work)
    if args.worker:
        result = run_worker(args, offline)
        args.worker_out.write_text(json.dumps(result))
        return
    from machine_info import cpu_info

    started = time.perf_counter()
    info = plan(args)
    rows: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--answers"]
    for corpus in info["corpora"]:
        for pipeline in args.pipelines.split(","):
            out = args.work / f"result-{pipeline}-{corpus}.json"
            out.unlink(missing_ok=True)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, *passthrough, "--work",
                                   str(args.work), "--worker", f"{pipeline}:{corpus}",
                                   "--worker-out", str(out)], check=False, stdout=sys.stderr)
            timings[f"{pipeline}:{corpus}"] = round(time.perf_counter() - t0, 1)
            if proc.returncode != 0 or not out.exists():
                rows.setdefault("errors", {})[f"{pipeline}:{corpus}"] = proc.returncode
                continue
            for name, figures in json.loads(out.read_text()).items():
                rows.setdefault(name, {})[corpus] = figures
    report = {
        "benchmark": "peers",
        "machine": cpu_info(),
        "corpora": {name: {"path": path} for name, path in info["corpora"].items()},
        "models": info["models"],
        "limits": {"docs": args.limit_docs, "questions": args.limit_questions,
                   "known_item_queries": args.limit_questions or args.known_item_queries,
                   "answers": not args.skip_answers},
        "rows": rows,
        "child_wall_s": timings,
        "total_wall_s": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
