"""An answer asked while Cairn is embedding a folder: with and without answers-first.

Prints one JSON object. One `KnowledgeBase` with the real models (MiniLM embedder, default
GGUF chat model) answers a question about the bundled sample documents (a new phrasing each
time, so each prompt is really prefilled) in three conditions, alternated in each round so
they share the machine's state:

- `idle`: nothing is being indexed;
- `answers_first` (the product's behaviour): a fresh folder of unique text is being embedded,
  and the embedder waits while the answer is generated (`VectorStage.answering`);
- `shared_cores`: the same, with the hold switched off (`MAX_ANSWER_HOLD_S = 0`), as before.

Each round writes `--chunks` new chunks of text (pydoc paragraphs, each made unique so no
vector is reused), starts the scan, waits until the embedder is busy, then asks (answer cache
bypassed). It waits for indexing to finish before the next condition. Reported per condition:
time to first token and whole-answer time (median over rounds), and chunks embedded meanwhile.

    uv run python bench/bench_answer_while_indexing.py [--rounds 3] [--chunks 400]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import indexer.ingest.pipeline_vectors as pv
from indexer.answer.answering import Answer, AnswerToken
from indexer.config import load_settings
from indexer.service import KnowledgeBase, build_hub

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "desktop_app" / "sample_docs"
TOPICS = ROOT / "tests" / "data" / "eval" / "pydoc_topics_3.11.7.json"
#: Each ask uses the next phrasing: a repeated prompt would be served from llama.cpp's KV cache
#: (first token in 0.13 s), not prefilled as a new question is.
QUESTIONS = (
    "What water temperature should I use to brew green tea?",
    "How hot should the water be for brewing green tea?",
    "Which water temperature suits green tea?",
    "At what temperature should the water be for green tea?",
    "What is the right water temperature for green tea?",
    "How hot must water be to brew green tea well?",
    "For green tea, what water temperature is best?",
    "Green tea: how hot should the brewing water be?",
    "What temperature of water does green tea need?",
    "To brew green tea, how hot should my water be?",
)
CONDITIONS = ("idle", "answers_first", "shared_cores")


def paragraphs() -> list[str]:
    topics: dict[str, str] = json.loads(TOPICS.read_text(encoding="utf-8"))
    return [p.strip() for text in topics.values() for p in text.split("\n\n")
            if len(p.split()) >= 40]


def write_load(folder: Path, paras: list[str], chunks: int, tag: str) -> None:
    """About `chunks` chunks of unique text: one paragraph per file, tagged so none repeats."""
    folder.mkdir(parents=True)
    for i in range(chunks):
        text = paras[i % len(paras)]
        (folder / f"{tag}-{i:04}.md").write_text(f"# {tag} {i}\n\n{tag}{i} {text}\n", "utf-8")


def ask(kb: KnowledgeBase, question: str) -> dict[str, Any]:
    embedded_before = kb.pipeline.progress.chunks_embedded if kb.pipeline else 0
    t0 = time.perf_counter()
    first = None
    final: Answer | None = None
    for item in kb.stream(question, use_cache=False):
        if isinstance(item, AnswerToken) and first is None:
            first = time.perf_counter() - t0
        if isinstance(item, Answer):
            final = item
    total = time.perf_counter() - t0
    assert final is not None
    embedded_after = kb.pipeline.progress.chunks_embedded if kb.pipeline else 0
    return {"question": question, "first_token_s": round(first or total, 2),
            "answer_s": round(total, 2), "prompt_tokens": final.stats.get("prompt_tokens"),
            "cached_prompt_tokens": final.stats.get("cached_prompt_tokens"),
            "found": final.found, "chunks_embedded_meanwhile": embedded_after - embedded_before}


def run_condition(kb: KnowledgeBase, condition: str, load_root: Path, paras: list[str],
                  chunks: int, tag: str, question: str) -> dict[str, Any]:
    pv.MAX_ANSWER_HOLD_S = 0.0 if condition == "shared_cores" else 300.0
    if condition != "idle":
        write_load(load_root / tag, paras, chunks, tag)
        kb.scan()
        deadline = time.monotonic() + 300
        while kb.pipeline and kb.pipeline.progress.chunks_embedded == 0 \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    result = ask(kb, question)
    kb.wait_idle(1800)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=400)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="cairn-bench-answer-"))
    docs, load_root = work / "samples", work / "load"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))
    load_root.mkdir(parents=True)
    settings = load_settings(work / "home", folders=[docs, load_root])
    paras = paragraphs()
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CONDITIONS}
    out: dict[str, Any] = {"cpus": os.cpu_count(),
                           "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    kb = KnowledgeBase(settings, build_hub(settings)).open()
    try:
        kb.index(timeout=1800)
        ask(kb, QUESTIONS[-1])  # loads the chat model and warms the system-prompt prefix
        out["chat_model"] = kb.hub.chat_model_id
        asked = 0
        for r in range(args.rounds):
            for condition in CONDITIONS:
                tag = f"r{r}{condition.replace('_', '')}"
                question = QUESTIONS[asked % (len(QUESTIONS) - 1)]
                asked += 1
                results[condition].append(
                    run_condition(kb, condition, load_root, paras, args.chunks, tag, question))
    finally:
        kb.close()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    summary = {
        c: {"first_token_s_median": statistics.median(x["first_token_s"] for x in rows),
            "answer_s_median": statistics.median(x["answer_s"] for x in rows),
            "rounds": rows}
        for c, rows in results.items()
    }
    idle = summary["idle"]["answer_s_median"]
    for c in ("answers_first", "shared_cores"):
        summary[c]["answer_vs_idle"] = round(summary[c]["answer_s_median"] / idle, 2)
    out["conditions"] = summary
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
