"""The refusal trade-off curve: how the relevance gate's threshold trades refusals for answers.

Issue 15 asks for the curve, not one point. For each threshold `t` of `min_relevance`:
- gate only: an unanswerable question is refused when its best passage's cosine is below `t`
  (no model involved), an answerable one is wrongly refused the same way;
- with answers: given saved `cairn eval run` reports (run with `min_relevance` ≤ `t`), a
  question above the gate keeps the outcome its run recorded, one below it becomes a refusal.
  That is exact for every `t` at or above the run's own threshold: raising the gate only ever
  turns answers into refusals, it never changes what the model said about the rest.

The best cosine per question comes from the same hybrid search the answerer uses, on the
Cairn home given (index it first, e.g. with `cairn eval run … --retrieval-only --folder`).

    uv run python bench/refusal_curve.py --home /tmp/devsql/home \\
        --questions tests/data/eval/dev_sqlite/questions.jsonl \\
        --report /tmp/devsql/base/report.json --from 0.40 --to 0.70 --step 0.02

Prints JSON (CPU flags included, as every bench here does).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _cpu_flags() -> list[str]:
    from models.hardware import cpu_flags

    wanted = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni")
    return sorted(f for f in cpu_flags() if f in wanted)


def best_relevances(home: Path, questions: list[Any]) -> dict[str, float]:
    from indexer.answer.passages import best_relevance
    from indexer.config import load_settings
    from indexer.service import KnowledgeBase, build_hub

    settings = load_settings(home)
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        return {q.id: best_relevance(kb.search(q.question, settings.top_k)) for q in questions}


def _runs(report: list[dict[str, Any]] | dict[str, Any]) -> list[dict[str, Any]]:
    """A report.json holds a list of runs (one per --compare configuration)."""
    return list(report) if isinstance(report, list) else [report]


def curve(relevance: dict[str, float], answerable: dict[str, bool],
          refused_by_run: dict[str, dict[str, bool]], thresholds: list[float]) -> list[dict[str, Any]]:
    """One row per threshold: refusal rates by the gate alone and with each run's answers."""
    un = [q for q, a in answerable.items() if not a]
    ans = [q for q, a in answerable.items() if a]
    rows = []
    for t in thresholds:
        gated = {q for q, r in relevance.items() if r < t}
        row: dict[str, Any] = {
            "min_relevance": round(t, 3),
            "gate_refused_unanswerable": round(len(gated & set(un)) / max(1, len(un)), 3),
            "gate_false_refusals": round(len(gated & set(ans)) / max(1, len(ans)), 3),
        }
        for name, refused in refused_by_run.items():
            out = {q: (q in gated) or refused.get(q, False) for q in answerable}
            row[name] = {
                "refused_unanswerable": round(sum(out[q] for q in un) / max(1, len(un)), 3),
                "false_refusals": round(sum(out[q] for q in ans) / max(1, len(ans)), 3),
            }
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--report", type=Path, action="append", default=[],
                        help="report.json of a `cairn eval run` with answers (repeatable)")
    parser.add_argument("--from", dest="lo", type=float, default=0.40)
    parser.add_argument("--to", dest="hi", type=float, default=0.70)
    parser.add_argument("--step", type=float, default=0.02)
    args = parser.parse_args()

    from indexer.evaluation.dataset import load_questions

    questions = load_questions(args.questions)
    relevance = best_relevances(args.home, questions)
    answerable = {q.id: q.answerable for q in questions}
    refused_by_run: dict[str, dict[str, bool]] = {}
    floors = []
    for path in args.report:
        for run in _runs(json.loads(path.read_text(encoding="utf-8"))):
            name = f"{path.parent.name}:{run['config'] or 'default'}"
            refused_by_run[name] = {r["id"]: bool(r.get("refused")) for r in run["rows"]}
            floors.append(run.get("meta", {}).get("min_relevance", 0.5))
    n = round((args.hi - args.lo) / args.step) + 1
    thresholds = [args.lo + i * args.step for i in range(n)]
    print(json.dumps({
        "bench": "refusal_curve",
        "questions": str(args.questions),
        "machine": {"cpu_flags": _cpu_flags(), "python": platform.python_version()},
        "note": "rows with answers are exact only for min_relevance >= the runs' own "
                f"threshold ({max(floors, default=0.5)})",
        "relevance": {q: round(r, 4) for q, r in relevance.items()},
        "curve": curve(relevance, answerable, refused_by_run, thresholds),
    }, indent=1))


if __name__ == "__main__":
    main()
