"""bench/bench_peers.py end to end on a tiny subset: every row comes back with its figures.

The peers (LlamaIndex and its BM25/LanceDB/llama.cpp integrations) are an opt-in dependency
group (`uv run --group peers ...`), not part of the app or of `uv run pytest`'s environment, so
this test skips itself when they are not installed — `pytest.importorskip` is the right tool
here, unlike for Cairn's own dependencies, whose absence must fail. It runs the real MiniLM
model on 3 documents and 2 questions without answers (no chat model), in a child process like
the benchmark's own rows, so LlamaIndex's process-wide settings never reach this session.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("llama_index.core")
pytest.importorskip("llama_index.retrievers.bm25")
pytest.importorskip("llama_index.vector_stores.lancedb")
pytest.importorskip("llama_index.embeddings.fastembed")

ROWS = ("llamaindex_vector", "llamaindex_bm25_fusion", "lancedb_topk", "cairn_hybrid")
METRICS = ("hit_at_1", "hit_at_5", "mrr_at_10", "ndcg_at_10", "search_p50_ms", "search_p95_ms")


@pytest.mark.real_models
def test_bench_peers_tiny_subset(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench/bench_peers.py"), "--work", str(tmp_path),
         "--limit-docs", "3", "--limit-questions", "2", "--skip-answers"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert "errors" not in report["rows"], result.stderr[-4000:]
    assert "avx2" in report["machine"]
    for name in ROWS:
        for corpus in ("pydoc", "wiki"):
            row = report["rows"][name][corpus]
            assert row["documents"] == 3
            assert row["chunks"] > 0 and row["index_s"] > 0 and row["peak_rss_mb"] > 0
            figures = row["retrieval"]
            assert set(METRICS) <= set(figures)
            assert figures["questions"] == 2
            for key in ("hit_at_1", "hit_at_5", "mrr_at_10", "ndcg_at_10"):
                assert 0.0 <= figures[key] <= 1.0, (name, corpus, key, figures[key])
            assert row["egress"]["blocked"] == 0, row["egress"]
            assert "answers" not in row
