"""Quality gate: retrieval on the pydoc QA set with the real embedder must not regress.

Thresholds come from measured values (hybrid: hit@5 1.000, MRR@10 0.923, nDCG@10 0.938,
evidence recall 1.0 — docs/quality.md) minus a margin, so a real regression fails CI while
noise from tokenizer or library updates does not. The metrics are printed into the CI log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.evaluation.dataset import load_questions
from indexer.evaluation.runner import run_retrieval
from indexer.service import KnowledgeBase, build_hub

pytestmark = pytest.mark.real_models

EVAL = Path(__file__).resolve().parents[1] / "data" / "eval"
THRESHOLDS = {"hit_at_5": 0.93, "mrr": 0.85, "ndcg_at_10": 0.85, "evidence_recall": 0.9}


def test_pydoc_retrieval_quality_gate(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    subprocess.run(
        [sys.executable, str(EVAL / "make_pydoc_corpus.py"), str(corpus), "--from-json",
         str(EVAL / "pydoc_topics_3.11.7.json")],
        check=True, capture_output=True,
    )
    questions = load_questions(EVAL / "pydoc_qa.jsonl")
    settings = load_settings(tmp_path / "home", folders=[corpus])
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.index(timeout=1800)
        runs = {mode: run_retrieval(kb, questions, mode=mode) for mode in ("hybrid", "bm25",
                                                                            "vector")}
    summaries = {mode: run.summary.to_dict() for mode, run in runs.items()}
    print("\nQUALITY GATE (pydoc retrieval):")
    for mode, s in summaries.items():
        print(mode, json.dumps({k: s[k] for k in ("hit_at_1", "hit_at_5", "mrr", "ndcg_at_10",
                                                   "evidence_recall")}))
    hybrid = summaries["hybrid"]
    for metric, floor in THRESHOLDS.items():
        assert hybrid[metric] >= floor, f"hybrid {metric} {hybrid[metric]} < {floor}"
    # Fusion must not be worse than the best single retriever by more than noise.
    best_single = max(summaries["bm25"]["mrr"], summaries["vector"]["mrr"])
    assert hybrid["mrr"] >= best_single - 0.02
