"""bench/peers_table.py prints the published "versus the peers" tables from the raw JSON: every
row present in the JSON appears with its own figures, and a missing figure prints as "–" rather
than being dropped or invented. Pure formatting: no peers group needed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("peers_table", ROOT / "bench/peers_table.py")
assert _spec and _spec.loader
peers_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peers_table)


def _row(mrr: float, answers: dict | None = None) -> dict:
    pydoc = {"documents": 79, "chunks": 300, "index_s": 12.5, "chunks_per_s": 24.0,
             "peak_rss_mb_retrieval": 700.0, "peak_rss_mb": 2100.0,
             "retrieval": {"hit_at_1": 0.5, "hit_at_5": 0.9, "mrr_at_10": mrr,
                           "ndcg_at_10": 0.7, "search_p50_ms": 20.0, "search_p95_ms": 30.0}}
    if answers:
        pydoc["answers"] = answers
    return {"pydoc": pydoc}


def test_rows_and_missing_figures() -> None:
    report = {
        "machine": {"model": "AMD EPYC", "cores": 2, "avx2": True, "avx512": []},
        "models": {"gguf": "/m/qwen.gguf"}, "total_wall_s": 600,
        "rows": {
            "cairn_hybrid": _row(0.812, {"correct": 0.8333, "citation_accuracy": 0.95,
                                         "grounded": 0.72, "first_token_p50_s": 20.1}),
            "lancedb_topk": _row(0.654, {"correct": 0.5, "grounded": None}),
            "llamaindex_bm25_fusion": _row(0.7),  # retrieval only: no answers line
        },
    }
    text = peers_table.render(report)
    assert "AVX2, no AVX-512" in text and "`qwen`" in text
    retrieval = peers_table.retrieval_table(report).splitlines()
    assert any(line.startswith("| Cairn (hybrid") and "0.812" in line for line in retrieval)
    assert any(line.startswith("| LanceDB") and "0.654" in line for line in retrieval)
    answers = peers_table.answers_table(report).splitlines()
    cairn = next(line for line in answers if line.startswith("| Cairn"))
    lance = next(line for line in answers if line.startswith("| LanceDB"))
    assert "83.3 %" in cairn and "72.0 %" in cairn
    assert "50.0 %" in lance and "–" in lance  # no grounding check: a dash, not 0 %
    assert not any("BM25" in line for line in answers)


def test_no_answers_says_so() -> None:
    report = {"machine": {}, "models": {}, "rows": {"cairn_hybrid": _row(0.8)}}
    assert "no answers in this run" in peers_table.answers_table(report)
