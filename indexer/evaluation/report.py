"""Render evaluation runs as Markdown for people: one run in detail, or several side by side.

Inputs are `EvalRun`s or their JSON dicts (as saved by the runner), so an old run file can be
re-rendered or compared without re-running anything. Failures come first because they are what
a reader acts on; every number has a fixed format so diffs of two reports stay readable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from indexer.evaluation.results import EvalRun, QuestionResult, RunSummary

__all__ = ["render_comparison", "render_markdown"]

RunLike = EvalRun | Mapping[str, Any]

#: (label, RunSummary attribute, format) in display order; "frac" = 3 decimals, "pct" = percent.
_SUMMARY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("hit@1", "hit_at_1", "frac"),
    ("hit@5", "hit_at_5", "frac"),
    ("MRR@10", "mrr", "frac"),
    ("nDCG@10", "ndcg_at_10", "frac"),
    ("evidence recall", "evidence_recall", "pct"),
    ("correct (answerable)", "correct_rate", "pct"),
    ("citation accuracy (every citation relevant)", "citation_accuracy", "pct"),
    ("cites the expected source (answerable)", "cites_source_rate", "pct"),
    ("refused (unanswerable, higher is better)", "refusal_rate_unanswerable", "pct"),
    ("false refusals (answerable, lower is better)", "false_refusal_rate", "pct"),
    ("grounded", "grounded_rate", "pct"),
    ("prompt tokens per answer (mean)", "prompt_tokens_mean", "count"),
    ("new prompt tokens per answer (mean, not cached)", "new_prompt_tokens_mean", "count"),
    ("passage tokens per answer (mean)", "passage_tokens_mean", "count"),
)
_ANSWER_PREVIEW = 300


def _as_run(run: RunLike) -> EvalRun:
    return run if isinstance(run, EvalRun) else EvalRun.from_dict(run)


def _fmt(value: object, kind: str = "frac") -> str:
    """Fixed formats: None -> "n/a", bools -> yes/no, fractions 0.750, percents 75.0%."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if kind == "pct":
            return f"{value * 100:.1f}%"
        if kind == "sec":
            return f"{value:.2f}"
        if kind == "count":
            return f"{value:.0f}"
        return f"{value:.3f}"
    return str(value)


def _cell(text: str) -> str:
    """Make text safe inside a Markdown table cell (one line, no column breaks)."""
    return " ".join(text.split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _summary_lines(summary: RunSummary) -> list[str]:
    rows = [
        ["questions", f"{summary.questions} ({summary.answerable} answerable)"],
        ["failed", str(summary.failed)],
    ]
    rows += [[label, _fmt(getattr(summary, attr), kind)] for label, attr, kind in _SUMMARY_METRICS]
    return _table(["metric", "value"], rows)


def _latency_lines(summary: RunSummary) -> list[str]:
    if not summary.latency:
        return []
    rows = [
        [s.stage, str(s.count), _fmt(s.p50, "sec"), _fmt(s.p95, "sec"), _fmt(s.max, "sec")]
        for s in summary.latency
    ]
    return ["", "## Latency (seconds)", "", *_table(["stage", "n", "p50", "p95", "max"], rows)]


def _ordered(rows: Sequence[QuestionResult]) -> list[QuestionResult]:
    """Failures first, then passes; each group keeps the run's question order."""
    return [r for r in rows if not r.passed] + [r for r in rows if r.passed]


def _question_table(rows: Sequence[QuestionResult]) -> list[str]:
    header = ["status", "id", "question", "hit@1", "hit@5", "RR", "nDCG@10", "evidence",
              "correct", "citations", "refused", "grounded"]  # fmt: skip
    body = [
        [
            "FAIL" if not r.passed else "ok",
            r.id,
            r.question,
            _fmt(r.hit_at_1),
            _fmt(r.hit_at_5),
            _fmt(r.reciprocal_rank),
            _fmt(r.ndcg_at_10),
            _fmt(r.evidence_found),
            _fmt(r.correct),
            _fmt(r.citation_ok),
            _fmt(r.refused),
            _fmt(r.grounded),
        ]
        for r in _ordered(rows)
    ]
    return _table(header, body)


def _failure_details(rows: Sequence[QuestionResult]) -> list[str]:
    failures = [r for r in rows if not r.passed]
    if not failures:
        return []
    lines = ["", f"## Failures ({len(failures)})"]
    for r in failures:
        kind = "answerable" if r.answerable else "unanswerable"
        lines += ["", f"### {r.id} ({kind})", "", f"Q: {_cell(r.question)}", ""]
        lines.append(f"- why: {'; '.join(r.failure_reasons())}")
        top = ", ".join(r.retrieved_sources[:5]) or "nothing"
        lines.append(f"- retrieved (top 5): {top}")
        if r.cited_sources is not None:
            lines.append(f"- cited: {', '.join(r.cited_sources) or 'nothing'}")
        if r.answer is not None:
            answer = _cell(r.answer)
            if len(answer) > _ANSWER_PREVIEW:
                answer = answer[:_ANSWER_PREVIEW] + "…"
            lines.append(f"- answer: {answer}")
    return lines


def render_markdown(run: RunLike) -> str:
    """A full report of one run: summary, latency, all questions (failures first), details."""
    run = _as_run(run)
    summary = run.summary
    lines = [f"# Evaluation: {run.config}", ""]
    if run.meta:
        lines += [f"- {key}: {_cell(str(value))}" for key, value in run.meta.items()] + [""]
    lines += ["## Summary", "", *_summary_lines(summary)]
    lines += _latency_lines(summary)
    lines += ["", "## Questions", "", *_question_table(run.rows)]
    lines += _failure_details(run.rows)
    return "\n".join(lines) + "\n"


def render_comparison(runs: Sequence[RunLike]) -> str:
    """Summaries of several runs side by side, then the questions whose outcome differs.

    Questions are matched by id; a question missing from a run shows as "-" there.
    """
    parsed = [_as_run(run) for run in runs]
    if not parsed:
        raise ValueError("render_comparison needs at least one run")
    summaries = [run.summary for run in parsed]
    header = ["metric", *(run.config for run in parsed)]
    rows = [
        ["questions", *(str(s.questions) for s in summaries)],
        ["failed", *(str(s.failed) for s in summaries)],
    ]
    rows += [
        [label, *(_fmt(getattr(s, attr), kind) for s in summaries)]
        for label, attr, kind in _SUMMARY_METRICS
    ]
    stages = list(dict.fromkeys(stage.stage for s in summaries for stage in s.latency))
    for stage in stages:
        p50s = [{x.stage: x.p50 for x in s.latency}.get(stage) for s in summaries]
        rows.append([f"{stage} p50 (s)", *(_fmt(v, "sec") for v in p50s)])
    lines = ["# Evaluation comparison", "", *_table(header, rows)]

    outcomes = [{r.id: r.passed for r in run.rows} for run in parsed]
    ids = list(dict.fromkeys(r.id for run in parsed for r in run.rows))
    differing = [qid for qid in ids if len({o.get(qid) for o in outcomes if qid in o}) > 1]
    if differing:
        status = {True: "ok", False: "FAIL", None: "-"}
        body = [[qid, *(status[o.get(qid)] for o in outcomes)] for qid in differing]
        lines += ["", "## Questions whose outcome differs", "", *_table(["id", *header[1:]], body)]
    return "\n".join(lines) + "\n"
