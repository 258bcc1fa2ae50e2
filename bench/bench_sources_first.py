"""How soon the sources are on screen, next to how soon the model's first token is (JSON).

Real models, in process, on an index of the given folder (default: the sample documents). For
each question: time from asking to `AnswerSources` (what the GUI's Sources pane and `cairn ask`
show at once), to the first `AnswerToken`, and to the final `Answer`. The answer cache is off and
each question is new, so every prompt is really read by the model.

    uv run python bench/bench_sources_first.py [--folder DIR] [--home DIR] [--model ID|PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer.runtime import install_egress_guard, set_offline_env
from models import hardware

QUESTIONS = (
    "How does Naismith's rule estimate hiking time for distance and ascent?",
    "How wide should the base of a cairn be?",
    "At what temperature should green tea be brewed?",
    "How long do eyes take to adapt to the dark?",
    "Why should cairns not be built near streams?",
)


def cpu_flags() -> list[str]:
    """The CPU features that set llama.cpp's and ONNX Runtime's speed (PERFORMANCE.md)."""
    return sorted(f for f in hardware.cpu_flags() if f.startswith(("avx", "fma", "f16c")))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", type=Path, default=ROOT / "desktop_app" / "sample_docs")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    set_offline_env()
    install_egress_guard()
    from indexer.answer.answering import Answer, AnswerSources, AnswerToken
    from indexer.config import load_settings
    from indexer.service import KnowledgeBase, build_hub

    home = args.home or Path(tempfile.mkdtemp(prefix="cairn-bench-sources-"))
    overrides = {"chat_model": args.model} if args.model else {}
    settings = load_settings(home, folders=[args.folder.resolve()], **overrides)
    rows = []
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.index(timeout=1800)
        kb.warm_up()  # load the chat model first: the figures are per question, not start-up
        for question in QUESTIONS:
            t0 = time.perf_counter()
            row: dict[str, object] = {"question": question}
            for item in kb.stream(question, use_cache=False):
                now = round(time.perf_counter() - t0, 3)
                if isinstance(item, AnswerSources):
                    row["sources_s"] = now
                    row["passages"] = len(item.passages)
                elif isinstance(item, AnswerToken) and "first_token_s" not in row:
                    row["first_token_s"] = now
                elif isinstance(item, Answer):
                    row["answer_s"] = now
                    row["found"] = item.found
                    row["prompt_tokens"] = item.stats.get("prompt_tokens")
            rows.append(row)

    def median(key: str) -> float | None:
        values = [float(r[key]) for r in rows if key in r]  # type: ignore[arg-type]
        return round(statistics.median(values), 3) if values else None

    print(json.dumps({
        "bench": "sources_first",
        "machine": {"cpu_flags": cpu_flags(), "cores": __import__("os").cpu_count(),
                    "python": platform.python_version()},
        "chat_model": settings.chat_model,
        "questions": len(rows),
        "sources_s_median": median("sources_s"),
        "first_token_s_median": median("first_token_s"),
        "answer_s_median": median("answer_s"),
        "rows": rows,
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
