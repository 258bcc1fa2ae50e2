"""The "versus the peers" tables of docs/performance.md and docs/quality.md, from bench_peers.py's
JSON, so the published tables are printed from the committed raw figures and never retyped.

    python bench/peers_table.py docs/peers_bench.json

Prints three Markdown tables: indexing and search per corpus, retrieval quality (pydoc hit@k,
MRR@10, nDCG@10 and the Wikipedia known-item MRR@10), and answers on the pydoc questions. A
figure a row does not have (a peer has no grounding check; the fusion row answers only with
`--fusion-answers`) prints as "–".
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROW_ORDER = ("cairn_hybrid", "cairn_vector", "llamaindex_vector", "llamaindex_bm25_fusion",
             "lancedb_topk")
LABELS = {
    "cairn_hybrid": "Cairn (hybrid, the product)",
    "cairn_vector": "Cairn, vector search alone",
    "llamaindex_vector": "LlamaIndex as PrivateGPT",
    "llamaindex_bm25_fusion": "LlamaIndex + BM25 fusion",
    "lancedb_topk": "LanceDB top-k as AnythingLLM",
}


def _cell(value: Any, percent: bool = False, digits: int = 3) -> str:
    if value is None:
        return "–"
    if percent:
        return f"{100 * value:.1f} %"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pair(p50: Any, p95: Any) -> str:
    return f"{_cell(p50, digits=1)} / {_cell(p95, digits=1)}"


def _table(header: Sequence[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def _rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = report["rows"]
    return [(name, rows[name]) for name in ROW_ORDER if name in rows]


def indexing_table(report: dict[str, Any]) -> str:
    lines = []
    for name, row in _rows(report):
        for corpus, fig in row.items():
            r = fig.get("retrieval", {})
            lines.append([LABELS[name], corpus, _cell(fig.get("documents")),
                          _cell(fig.get("chunks")), _cell(fig.get("index_s"), digits=1),
                          _cell(fig.get("chunks_per_s"), digits=1),
                          _cell(fig.get("peak_rss_mb_retrieval"), digits=0),
                          _pair(r.get("search_p50_ms"), r.get("search_p95_ms"))])
    return _table(["row", "corpus", "documents", "chunks", "index s", "chunks/s",
                   "peak RSS MB (index + search)", "search p50 / p95 ms"], lines)


def retrieval_table(report: dict[str, Any]) -> str:
    lines = []
    for name, row in _rows(report):
        p = row.get("pydoc", {}).get("retrieval", {})
        w = row.get("wiki", {}).get("retrieval", {})
        lines.append([LABELS[name], _cell(p.get("hit_at_1")), _cell(p.get("hit_at_5")),
                      _cell(p.get("mrr_at_10")), _cell(p.get("ndcg_at_10")),
                      _cell(w.get("mrr_at_10")), _cell(w.get("hit_at_1")),
                      _cell(w.get("hit_at_5"))])
    return _table(["row", "pydoc hit@1", "pydoc hit@5", "pydoc MRR@10", "pydoc nDCG@10",
                   "known-item MRR@10", "known-item hit@1", "known-item hit@5"], lines)


def answers_table(report: dict[str, Any]) -> str:
    lines = []
    for name, row in _rows(report):
        a = row.get("pydoc", {}).get("answers")
        if not a:
            continue
        lines.append([LABELS[name], _cell(a.get("correct"), True),
                      _cell(a.get("citation_accuracy"), True), _cell(a.get("cites_source"), True),
                      _cell(a.get("refusal_unanswerable"), True),
                      _cell(a.get("false_refusals"), True), _cell(a.get("grounded"), True),
                      _pair(a.get("first_token_p50_s"), a.get("first_token_p95_s")),
                      _cell(a.get("answer_p50_s"), digits=1),
                      _cell(row.get("pydoc", {}).get("peak_rss_mb"), digits=0)])
    if not lines:
        return "(no answers in this run: `--skip-answers`, or no pydoc corpus)"
    return _table(["row", "correct", "citation accuracy", "cites the expected file",
                   "refused (unanswerable)", "false refusals", "grounded",
                   "first token p50 / p95 s", "whole answer p50 s", "peak RSS MB"], lines)


def render(report: dict[str, Any]) -> str:
    m = report.get("machine", {})
    flags = "AVX2" if m.get("avx2") else "no AVX2"
    flags += f", AVX-512 {'/'.join(m['avx512'])}" if m.get("avx512") else ", no AVX-512"
    head = (f"Machine: {m.get('model', '?')}, {m.get('cores', '?')} cores, {flags}; "
            f"chat model `{Path(report.get('models', {}).get('gguf', '–')).stem}`; "
            f"whole run {report.get('total_wall_s', 0) / 60:.0f} min.")
    errors = report["rows"].get("errors")
    parts = [head, indexing_table(report), retrieval_table(report), answers_table(report)]
    if errors:
        parts.append(f"Rows that failed (exit codes): {errors}")
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path, help="bench_peers.py's JSON")
    print(render(json.loads(p.parse_args(argv).report.read_text())), end="")


if __name__ == "__main__":
    main()
