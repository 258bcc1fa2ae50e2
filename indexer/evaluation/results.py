"""Plain result records of an evaluation run, and the summary computed from them.

An `EvalRun` is one configuration (models, retrieval settings) evaluated on one question set.
It is a tree of dataclasses with `to_dict()`/`from_dict()` so runs are saved as JSON, compared
later, and rendered by `indexer.evaluation.report`. The runner fills one `QuestionResult` per
question; every judgement is optional (``None`` = not measured, e.g. a retrieval-only run has no
answer fields), and the summary averages only what was measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from indexer.evaluation.metrics import mean, percentile, rate

__all__ = ["EvalRun", "QuestionResult", "RunSummary", "StageLatency", "summarize"]


@dataclass(slots=True)
class QuestionResult:
    """What happened for one question.

    - `retrieved_sources`: hit paths in rank order (chunks, so files may repeat).
    - `hit_at_1`, `hit_at_5`, `reciprocal_rank`, `ndcg_at_10`: see `metrics`; None when the
      question has no relevant source (unanswerable).
    - `evidence_found`: the evidence passage was inside one retrieved passage.
    - `answer`, `cited_sources`: the generated text and the files its citations point to.
    - `citation_ok`: answerable — every citation points at a relevant source (and there is at
      least one); unanswerable — nothing was cited as support. The strict measure: an extra
      citation of a wrong file fails it.
    - `cites_source`: answerable only — at least one citation points at a relevant source (the
      lenient measure: "the answer cites the expected file", extra citations allowed).
    - `correct`: the answer met `must_contain` (answerable only).
    - `refused`: the answer said the documents do not contain it.
    - `grounded`: the grounding check accepted the answer.
    - `latency_s`: seconds per stage, e.g. ``{"retrieve": 0.08, "first_token": 3.1}``.
    - `tokens`: what the answer cost the model, e.g. ``{"prompt": 1104, "passages": 690}``
      (prompt tokens, of those `prompt_new` not reused from the model's cache — the prefill
      paid for —, passage tokens in the prompt, completion tokens written).
    - `error`: the exception text if the question crashed the pipeline.
    """

    id: str
    question: str
    answerable: bool
    retrieved_sources: tuple[str, ...] = ()
    hit_at_1: float | None = None
    hit_at_5: float | None = None
    reciprocal_rank: float | None = None
    ndcg_at_10: float | None = None
    evidence_found: bool | None = None
    answer: str | None = None
    cited_sources: tuple[str, ...] | None = None
    citation_ok: bool | None = None
    cites_source: bool | None = None
    correct: bool | None = None
    refused: bool | None = None
    grounded: bool | None = None
    latency_s: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def failure_reasons(self) -> list[str]:
        """Why this question counts as failed; empty when it passed.

        Only measured fields are judged. For an unanswerable question the right outcome is a
        refusal without supporting citations, so retrieval misses are not failures there.
        """
        reasons: list[str] = []
        if self.error:
            reasons.append(f"error: {self.error}")
        if self.answerable:
            if self.hit_at_5 == 0.0:
                reasons.append("source not in top 5")
            if self.evidence_found is False:
                reasons.append("evidence not retrieved")
            if self.refused:
                reasons.append("refused an answerable question")
            elif self.correct is False:
                reasons.append("answer misses required terms")
            if self.citation_ok is False:
                reasons.append("citation does not point at the source")
        else:
            if self.refused is False:
                reasons.append("answered an unanswerable question")
            if self.citation_ok is False:
                reasons.append("cited a passage as support for an unanswerable question")
        if self.grounded is False and not self.refused:
            reasons.append("answer not grounded in the passages")
        return reasons

    @property
    def passed(self) -> bool:
        return not self.failure_reasons()

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["retrieved_sources"] = list(self.retrieved_sources)
        if self.cited_sources is not None:
            record["cited_sources"] = list(self.cited_sources)
        record["passed"] = self.passed
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> QuestionResult:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in names}  # drops derived "passed"
        values["retrieved_sources"] = tuple(values.get("retrieved_sources") or ())
        if values.get("cited_sources") is not None:
            values["cited_sources"] = tuple(values["cited_sources"])
        values["latency_s"] = dict(values.get("latency_s") or {})
        values["tokens"] = dict(values.get("tokens") or {})
        return cls(**values)


@dataclass(frozen=True, slots=True)
class StageLatency:
    """Latency distribution of one stage over the questions that recorded it, in seconds."""

    stage: str
    count: int
    p50: float
    p95: float
    max: float


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Means and rates over a run; each is None when no question measured it.

    Retrieval metrics average over answerable questions (unanswerable ones have no relevant
    source). `correct_rate` and `false_refusal_rate` are over answerable questions,
    `refusal_rate_unanswerable` (higher is better) over unanswerable ones.
    """

    questions: int
    answerable: int
    failed: int
    hit_at_1: float | None
    hit_at_5: float | None
    mrr: float | None
    ndcg_at_10: float | None
    evidence_recall: float | None
    correct_rate: float | None
    citation_accuracy: float | None
    cites_source_rate: float | None
    refusal_rate_unanswerable: float | None
    false_refusal_rate: float | None
    grounded_rate: float | None
    latency: tuple[StageLatency, ...] = ()
    prompt_tokens_mean: float | None = None
    new_prompt_tokens_mean: float | None = None
    passage_tokens_mean: float | None = None

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["latency"] = [asdict(stage) for stage in self.latency]
        return record


def _stage_latencies(rows: Iterable[QuestionResult]) -> tuple[StageLatency, ...]:
    by_stage: dict[str, list[float]] = {}
    for row in rows:
        for stage, seconds in row.latency_s.items():
            by_stage.setdefault(stage, []).append(seconds)
    summary = []
    for stage, values in by_stage.items():  # first-seen order keeps the pipeline order
        p50, p95 = percentile(values, 50), percentile(values, 95)
        assert p50 is not None and p95 is not None  # values is non-empty
        summary.append(StageLatency(stage, len(values), p50, p95, max(values)))
    return tuple(summary)


def summarize(rows: Iterable[QuestionResult]) -> RunSummary:
    """Aggregate per-question rows into a `RunSummary` (None-skipping means and rates)."""
    rows = list(rows)
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    return RunSummary(
        questions=len(rows),
        answerable=len(answerable),
        failed=sum(1 for r in rows if not r.passed),
        hit_at_1=mean(r.hit_at_1 for r in answerable),
        hit_at_5=mean(r.hit_at_5 for r in answerable),
        mrr=mean(r.reciprocal_rank for r in answerable),
        ndcg_at_10=mean(r.ndcg_at_10 for r in answerable),
        evidence_recall=rate(r.evidence_found for r in answerable),
        correct_rate=rate(r.correct for r in answerable),
        citation_accuracy=rate(r.citation_ok for r in rows),
        cites_source_rate=rate(r.cites_source for r in answerable),
        refusal_rate_unanswerable=rate(r.refused for r in unanswerable),
        false_refusal_rate=rate(r.refused for r in answerable),
        grounded_rate=rate(r.grounded for r in rows),
        latency=_stage_latencies(rows),
        prompt_tokens_mean=mean(r.tokens.get("prompt") for r in rows),
        new_prompt_tokens_mean=mean(r.tokens.get("prompt_new") for r in rows),
        passage_tokens_mean=mean(r.tokens.get("passages") for r in rows),
    )


@dataclass(slots=True)
class EvalRun:
    """One configuration evaluated on one question set.

    `config` names the configuration (e.g. ``"hybrid+qwen1.5b"``); `meta` holds free-form
    JSON-friendly facts worth keeping with the numbers (model ids, corpus, date, machine).
    The summary is always recomputed from the rows, so a saved run cannot disagree with itself.
    """

    config: str
    rows: list[QuestionResult] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> RunSummary:
        return summarize(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "meta": dict(self.meta),
            "summary": self.summary.to_dict(),
            "rows": [row.to_dict() for row in self.rows],
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> EvalRun:
        """Inverse of `to_dict` (the stored summary is ignored and recomputed)."""
        if not isinstance(record.get("config"), str):
            raise TypeError("an evaluation run needs a 'config' name (a string)")
        return cls(
            config=record["config"],
            rows=[QuestionResult.from_dict(row) for row in record.get("rows", [])],
            meta=dict(record.get("meta") or {}),
        )
