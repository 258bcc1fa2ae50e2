"""Answer traces, stored locally as JSON Lines (one file per day) in the app home.

Every answer leaves a trace: question, standalone query, retrieved chunks with their component
scores, passages used, token counts, time per stage, model id and grounding verdicts. Users read
them with `cairn trace last`; the evaluation harness aggregates latencies from them. Traces stay
on the machine like everything else.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from indexer.answer.answering import Answer
from indexer.records import SearchHit


def hit_to_dict(hit: SearchHit) -> dict[str, Any]:
    """A search hit's identity, place and component scores (for traces and `--json`)."""
    return {
        "chunk_id": hit.chunk_id,
        "label": hit.anchor.label(),
        "anchor": asdict(hit.anchor),
        "fused": hit.fused,
        "bm25": hit.bm25,
        "vector": hit.vector,
        "bm25_rank": hit.bm25_rank,
        "vector_rank": hit.vector_rank,
    }


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """JSON-friendly form of an Answer (used by traces, `--json` output and the eval harness)."""
    return {
        "question": answer.question,
        "standalone_query": answer.standalone_query,
        "text": answer.text,
        "found": answer.found,
        "cached": answer.cached,
        "trace_id": answer.trace_id,
        "citations": [
            {
                "number": c.number,
                "chunk_id": c.chunk_id,
                "label": c.label,
                "anchor": asdict(c.anchor),
                "snippet": c.snippet,
                "scores": c.scores,
            }
            for c in answer.citations
        ],
        "passages": [hit_to_dict(h) for h in answer.passages],
        "unsupported": list(answer.unsupported),
        "verdicts": [asdict(v) for v in answer.verdicts],
        "stats": answer.stats,
    }


class TraceStore:
    """Append-only trace log. Writes are tiny and rare (one per answer): no batching needed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def record(self, answer: Answer, retrieved: list[dict[str, Any]] | None = None) -> str:
        trace_id = answer.trace_id or uuid.uuid4().hex[:12]
        entry = answer_to_dict(answer)
        entry["trace_id"] = trace_id
        entry["at"] = time.time()
        if retrieved is not None:
            entry["retrieved"] = retrieved
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / time.strftime("traces-%Y-%m-%d.jsonl")
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return trace_id

    def last(self, n: int = 1) -> list[dict[str, Any]]:
        """The `n` most recent traces, newest last."""
        out: list[dict[str, Any]] = []
        for path in sorted(self.directory.glob("traces-*.jsonl"), reverse=True):
            lines = path.read_text(encoding="utf-8").splitlines()
            for line in reversed(lines):
                if line.strip():
                    out.append(json.loads(line))
                    if len(out) >= n:
                        return list(reversed(out))
        return list(reversed(out))
