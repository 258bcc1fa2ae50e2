"""Time to summarize a long PDF with the real models (whole-document answers, map-reduce).

A `--pages`-page report PDF (generated with reportlab, key points planted on known pages,
`tests/e2e/report_pdf.py`) is indexed with the real embedder, then summarized by
`KnowledgeBase.stream_documents` with the chosen chat model (default: the product's default).
Prints JSON: indexing and summary seconds, time per model call, prompt tokens, which planted
points the summary kept and whether each is cited to its page, the CPU flags and the load
average before and after (a shared machine: say how busy it was). `--answer-out` keeps the
conversation turn (history.py JSON) for the screenshot script.

    uv run python bench/bench_summarize.py [--pages 50] [--model ID] [--out docs/summarize_bench.json]

`--doc minutes` summarizes the board minutes instead (`bench/heldout_minutes.py`: another layout,
filler that never repeats, other kinds of points); `--doc manual` the equipment manual
(`bench/heldout_manual.py`), the one held-out document nothing was changed after looking at.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from heldout_manual import MANUAL_POINTS, write_manual_pdf
from heldout_minutes import MINUTES_POINTS, write_minutes_pdf
from machine_info import cpu_info

from indexer.runtime import install_egress_guard, set_offline_env
from tests.e2e.report_pdf import KEY_POINTS, write_report_pdf


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--doc", choices=["report", "minutes", "manual"], default="report",
                    help="the generated report, or the held-out minutes")
    ap.add_argument("--model", default=None, help="chat model (default: the product default)")
    ap.add_argument("--n-ctx", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--answer-out", type=Path, default=None)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the generated PDF and home here (for the screenshot script)")
    args = ap.parse_args()
    set_offline_env()
    install_egress_guard()
    from desktop_app.history import TurnRecord
    from indexer.answer.answering import Answer
    from indexer.answer.whole_document import DocumentProgress
    from indexer.config import load_settings
    from indexer.service import KnowledgeBase, build_hub

    machine_before = cpu_info()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        docs = root / "docs"
        docs.mkdir(parents=True, exist_ok=True)
        if args.doc == "manual":
            pdf, points = write_manual_pdf(docs / "px200-manual.pdf", args.pages), MANUAL_POINTS
        elif args.doc == "minutes":
            pdf, points = write_minutes_pdf(docs / "board-minutes.pdf", args.pages), MINUTES_POINTS
        else:
            pdf, points = write_report_pdf(docs / "harbour-report.pdf", args.pages), KEY_POINTS
        overrides: dict[str, Any] = {"folders": [docs]}
        if args.model:
            overrides["chat_model"] = args.model
        if args.n_ctx:
            overrides["n_ctx"] = args.n_ctx
        settings = load_settings(root / "home", **overrides)
        kb = KnowledgeBase(settings, build_hub(settings)).open()
        try:
            t = time.perf_counter()
            kb.index(timeout=3600)
            index_s = time.perf_counter() - t
            t = time.perf_counter()
            kb.warm_up()
            load_s = time.perf_counter() - t
            steps: list[dict[str, Any]] = []
            t = time.perf_counter()
            answer: Answer | None = None
            for item in kb.stream_documents([str(pdf)]):
                if isinstance(item, DocumentProgress):
                    steps.append({"at_s": round(time.perf_counter() - t, 1), "stage": item.stage,
                                  "step": item.step, "steps": item.steps, "eta_s": item.eta_s,
                                  "label": item.label})
                elif isinstance(item, Answer):
                    answer = item
            summary_s = time.perf_counter() - t
            chunks = kb.status().chunks
            model_id = kb.hub.chat_model_id
        finally:
            kb.close()
    assert answer is not None
    kept = {}
    for page, (_, must) in points.items():
        if page > args.pages:
            continue
        lines = [ln for ln in answer.text.splitlines() if must.lower() in ln.lower()]
        pages = {answer.citations[int(n) - 1].anchor.page
                 for ln in lines for n in re.findall(r"\[(\d+)\]", ln)}
        kept[must] = {"page": page, "in_summary": bool(lines), "cited_to_page": page in pages}
    result = {
        "bench": "summarize",
        "doc": args.doc,
        "pages": args.pages,
        "chunks": chunks,
        "chat_model": model_id,
        "n_ctx": settings.n_ctx,
        "index_s": round(index_s, 1),
        "model_load_s": round(load_s, 1),
        "summary_s": round(summary_s, 1),
        "model_calls": answer.stats.get("model_calls"),
        "prompt_tokens": answer.stats.get("prompt_tokens"),
        "s_per_call": round(summary_s / max(1, int(answer.stats.get("model_calls") or 1)), 1),
        "citations": len(answer.citations),
        "key_points": kept,
        "progress": steps,
        "niceness": os.nice(0),
        "machine_before": machine_before,
        "machine_after": cpu_info(),
        "summary_text": answer.text,
    }
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.answer_out:
        turn = TurnRecord.from_answer(answer)
        args.answer_out.write_text(json.dumps(turn.to_json(), indent=1, ensure_ascii=False),
                                   encoding="utf-8")


if __name__ == "__main__":
    main()
