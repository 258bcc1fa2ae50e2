"""Chat generator latency: time to first token and decode speed on a realistic RAG prompt.

Prints one JSON object. For each model in `--models` (default: the 0.5B and the 1.5B default),
resolves the GGUF with `models.provisioning.resolve_chat_model(id, models_dir)` (reuse a
models dir that already holds the assembled files, e.g. /tmp/pydoc/home/models, to avoid
re-assembling 1.1 GB), builds `LlamaCppGenerator` and streams two answers, in one process:

  1. cold: the first call after loading (nothing in the KV cache);
  2. warm: a second call with the same system prompt but a different question and different
     passages, so only the common prefix (system prompt + the start of the user message) can be
     reused from the KV cache.

Each prompt is `indexer.answer.answering.build_messages(question, passages)` with `--passages` (5)
passages of ~`--passage-tokens` (200) chat-model tokens, cut from the pydoc corpus text. Reported
per call from `last_stats`: prompt_tokens, cached_prompt_tokens, prefill seconds and tokens/s
(evaluated tokens only), time to first token, completion tokens and decode tokens/s; per model the
ratio ttft_cold / ttft_warm. Also whether the llama.cpp build can offload to a GPU.

    .venv/bin/python bench/bench_generator.py --models-dir /tmp/pydoc/home/models
    .venv/bin/python bench/bench_generator.py --models qwen2.5-coder-0.5b-instruct-q4_k_m
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer.answer.answering import build_messages
from indexer.records import Anchor, SearchHit
from models.generator import LlamaCppGenerator, gpu_offload_supported, physical_cores
from models.provisioning import resolve_chat_model

TOPICS_JSON = ROOT / "tests/data/eval/pydoc_topics_3.11.7.json"
MODELS = ("qwen2.5-coder-0.5b-instruct-q4_k_m", "qwen2.5-coder-1.5b-instruct-q4_k_m")
DEFAULT_MODELS_DIR = Path("/tmp/pydoc/home/models")

# (question, pydoc topics the passages come from): two unrelated prompts sharing only the
# system prompt, so the second call can reuse exactly the fixed prefix.
PROMPTS = (
    (
        "What does the else clause of a for loop do, and when is it skipped?",
        ("for", "while", "break", "continue", "if"),
    ),
    (
        "How do I define a function with keyword-only arguments?",
        ("function", "lambda", "calls", "return", "global"),
    ),
)


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def passage_for(topic: str, text: str, count_tokens: Any, target: int) -> SearchHit:
    """The first ~`target` tokens of a topic, cut at a paragraph (or word) boundary."""
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = ""
    for para in paras:
        candidate = f"{body}\n\n{para}" if body else para
        if count_tokens(candidate) > target:
            if not body:  # first paragraph alone too long: cut by words
                words = para.split()
                while words and count_tokens(" ".join(words)) > target:
                    words = words[: int(len(words) * 0.9)]
                body = " ".join(words)
            break
        body = candidate
    anchor = Anchor(
        path=f"/docs/pydoc/{topic}.md",
        heading_path=(topic,),
        line_start=1,
        line_end=body.count("\n") + 1,
    )
    return SearchHit(chunk_id=topic, anchor=anchor, text=body, snippet=body[:80], fused=1.0)


def run_call(gen: LlamaCppGenerator, messages: list[dict[str, str]], max_tokens: int) -> dict:
    t0 = time.perf_counter()
    pieces = list(gen.stream(messages, max_tokens=max_tokens, temperature=0.0))
    wall = time.perf_counter() - t0
    st = gen.last_stats
    assert st is not None
    evaluated = st.prompt_tokens - st.cached_prompt_tokens
    return {
        "prompt_tokens": st.prompt_tokens,
        "cached_prompt_tokens": st.cached_prompt_tokens,
        "evaluated_prompt_tokens": evaluated,
        "prefill_s": round(st.prefill_seconds, 2),
        "prefill_tokens_per_s": round(evaluated / st.prefill_seconds, 1)
        if st.prefill_seconds > 0
        else None,
        "time_to_first_token_s": round(st.time_to_first_token, 2)
        if st.time_to_first_token is not None
        else None,
        "completion_tokens": st.completion_tokens,
        "decode_s": round(st.generate_seconds, 2),
        "decode_tokens_per_s": round(st.completion_tokens / st.generate_seconds, 2)
        if st.generate_seconds > 0
        else None,
        "finish_reason": st.finish_reason,
        "wall_s": round(wall, 2),
        "answer_head": "".join(pieces)[:160],
        "loadavg_after": loadavg(),
    }


def bench_model(
    model: str, models_dir: Path, args: argparse.Namespace, topics: dict[str, str]
) -> dict[str, Any]:
    t0 = time.perf_counter()
    path = resolve_chat_model(model, models_dir)
    resolve_s = time.perf_counter() - t0
    gen = LlamaCppGenerator(path, n_ctx=args.n_ctx, n_threads=args.threads, model_id=model)
    t0 = time.perf_counter()
    gen.load()
    load_s = time.perf_counter() - t0
    out: dict[str, Any] = {
        "model_path": str(path),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "resolve_s": round(resolve_s, 2),
        "load_s": round(load_s, 2),
        "n_threads": gen.n_threads,
        "n_ctx": args.n_ctx,
    }
    calls = []
    for label, (question, names) in zip(("cold", "warm_system_prefix"), PROMPTS):
        hits = [
            passage_for(n, topics[n], gen.count_tokens, args.passage_tokens)
            for n in names[: args.passages]
        ]
        messages = build_messages(question, hits)
        call = {
            "call": label,
            "question": question,
            "passage_tokens": [gen.count_tokens(h.text) for h in hits],
        }
        call.update(run_call(gen, messages, args.max_tokens))
        calls.append(call)
    out["calls"] = calls
    cold, warm = calls
    if cold["time_to_first_token_s"] and warm["time_to_first_token_s"]:
        out["ttft_cold_over_warm"] = round(
            cold["time_to_first_token_s"] / warm["time_to_first_token_s"], 3
        )
    out["system_prefix_tokens_reused"] = warm["cached_prompt_tokens"]
    out["reused_fraction_of_warm_prompt"] = round(
        warm["cached_prompt_tokens"] / warm["prompt_tokens"], 3
    )
    gen.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help="comma-separated catalog ids or .gguf paths (default: 0.5B,1.5B)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help=f"default {DEFAULT_MODELS_DIR} if it exists, else a temp dir",
    )
    parser.add_argument("--passages", type=int, default=5)
    parser.add_argument("--passage-tokens", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=0, help="0 = physical cores")
    args = parser.parse_args()

    models_dir = args.models_dir or (
        DEFAULT_MODELS_DIR
        if DEFAULT_MODELS_DIR.is_dir()
        else Path(tempfile.mkdtemp(prefix="cairn-bench-gen-"))
    )
    import llama_cpp

    topics: dict[str, str] = json.loads(TOPICS_JSON.read_text(encoding="utf-8"))
    out: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "physical_cores": physical_cores(),
            "llama_cpp_python": llama_cpp.__version__,
            "gpu_offload_supported": gpu_offload_supported(),
            "loadavg_at_start": loadavg(),
        },
        "args": {k: str(v) for k, v in vars(args).items()},
        "models_dir": str(models_dir),
        "models": {},
    }
    t0 = time.perf_counter()
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        out["models"][model] = bench_model(model, models_dir, args, topics)
    out["machine"]["loadavg_at_end"] = loadavg()
    out["total_wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
