"""Answer latency with the model in process vs behind llama.cpp's OpenAI-compatible server.

Prints one JSON object (and writes it with `--out`). One index of the bundled sample documents
(real MiniLM embedder), the same questions, the same GGUF model, answered in alternating rounds
by two `KnowledgeBase`s that differ only in `generator_backend`:

- `local`: `llama_cpp` in this process (what a laptop does);
- `server`: `server`, through `python -m llama_cpp.server` started by this script with the same
  model file, threads and context (what a team server does, here on the same machine, so the
  difference is the protocol: HTTP, server-sent events, JSON; on a real team the server's GPU
  is the point).

Per backend: first-token and whole-answer p50/p95 (`AnswerStage` "writing" to first token is
not separated: the figure is what a user waits, question to first word), prompt tokens, and
the answers' agreement (same text or not: temperature 0 on the same weights should agree).
The two compete for the same cores only when run at the same time, which this script never
does.

    .venv/bin/python bench/bench_team_server.py [--model qwen2.5-coder-1.5b-instruct-q4_k_m]
        [--rounds 2] [--out docs/team_server_bench.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import cpu_info

from indexer.answer.answering import Answer, AnswerToken
from indexer.config import load_settings
from indexer.runtime import install_egress_guard, resolve_chat_model, set_offline_env
from indexer.service import KnowledgeBase, build_hub

SAMPLES = ROOT / "desktop_app" / "sample_docs"
QUESTIONS = [
    "How long until my eyes get used to the dark?",
    "How wide should the base of a cairn be?",
    "At what temperature should green tea be brewed?",
    "How long should a telescope cool before observing?",
    "What should you never take stones from?",
    "How long should green tea steep?",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 2)


def _ask(kb: KnowledgeBase, question: str) -> dict[str, Any]:
    start = time.perf_counter()
    first: float | None = None
    final: Answer | None = None
    for item in kb.stream(question, use_cache=False):
        if isinstance(item, AnswerToken) and first is None:
            first = time.perf_counter() - start
        elif isinstance(item, Answer):
            final = item
    assert final is not None
    return {"first_token_s": first, "answer_s": time.perf_counter() - start,
            "prompt_tokens": final.stats.get("prompt_tokens"), "text": final.text,
            "found": final.found, "citations": len(final.citations)}


def _start_server(model: Path, threads: int, n_ctx: int, log: Path) -> tuple[Any, str]:
    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host",
               "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", "bench"]
    if threads:
        command += ["--n_threads", str(threads)]
    proc = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("llama.cpp server did not start") from None
            time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b-instruct-q4_k_m")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    set_offline_env()
    install_egress_guard()
    machine_before = cpu_info()
    with tempfile.TemporaryDirectory(prefix="cairn-bench-team-") as tmp:
        root = Path(tmp)
        docs = root / "docs"
        shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))
        model = resolve_chat_model(args.model, root / "models")
        from models.generator import physical_cores  # the same thread count on both sides

        threads = physical_cores()
        proc, base = _start_server(model, threads, args.n_ctx, root / "server.log")
        try:
            kbs: dict[str, KnowledgeBase] = {}
            for name, extra in (("local", {"generator_backend": "llama_cpp",
                                           "chat_model": str(model)}),
                                ("server", {"generator_backend": "server",
                                            "chat_endpoint": base})):
                settings = load_settings(root / f"home-{name}", folders=[docs],
                                         n_ctx=args.n_ctx, n_threads=threads, **extra)
                kb = KnowledgeBase(settings, build_hub(settings)).open()
                kb.index(timeout=600)
                kb.warm_up()
                kbs[name] = kb
            rows: dict[str, list[dict[str, Any]]] = {"local": [], "server": []}
            for r in range(args.rounds):
                order = ("local", "server") if r % 2 == 0 else ("server", "local")
                for question in QUESTIONS:
                    for name in order:
                        rows[name].append({"round": r, "question": question,
                                           **_ask(kbs[name], question)})
            for kb in kbs.values():
                kb.close()
        finally:
            proc.terminate()
            proc.wait(30)
    summary: dict[str, Any] = {}
    for name, got in rows.items():
        first = [g["first_token_s"] for g in got if g["first_token_s"] is not None]
        whole = [g["answer_s"] for g in got]
        summary[name] = {
            "answers": len(got),
            "first_token_p50_s": _percentile(first, 0.5),
            "first_token_p95_s": _percentile(first, 0.95),
            "answer_p50_s": _percentile(whole, 0.5),
            "answer_p95_s": _percentile(whole, 0.95),
            "mean_prompt_tokens": round(statistics.mean(
                [float(g["prompt_tokens"] or 0) for g in got]), 1),
            "found": sum(bool(g["found"]) for g in got),
        }
    same = sum(a["text"] == b["text"] for a, b in zip(rows["local"], rows["server"], strict=True))
    out = {
        "bench": "team_server",
        "model": args.model,
        "threads": threads,
        "n_ctx": args.n_ctx,
        "questions": len(QUESTIONS),
        "rounds": args.rounds,
        "machine": machine_before,
        "load_avg_after": cpu_info()["load_avg"],
        "local": summary["local"],
        "server": summary["server"],
        "ratio_first_token_p50": (
            round(summary["server"]["first_token_p50_s"] / summary["local"]["first_token_p50_s"],
                  2) if summary["local"]["first_token_p50_s"] else None),
        "ratio_answer_p50": round(summary["server"]["answer_p50_s"]
                                  / summary["local"]["answer_p50_s"], 2),
        "identical_answers": f"{same}/{len(rows['local'])}",
        "rows": rows,
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
