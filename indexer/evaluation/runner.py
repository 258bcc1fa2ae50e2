"""Run a question set against a `KnowledgeBase` and fill `QuestionResult`s.

Retrieval-only runs need no chat model and take seconds; full runs ask each question through the
same `KnowledgeBase.stream` the CLI and GUI use (answer cache off, so every question is really
generated) and read latencies per stage from the answer's stats, the same figures the trace keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from indexer.evaluation.dataset import EvalQuestion
from indexer.evaluation.metrics import (
    contains_all,
    evidence_recall,
    hit_at_k,
    matches_source,
    ndcg_at_k,
    reciprocal_rank,
)
from indexer.evaluation.results import EvalRun, QuestionResult

Mode = Literal["hybrid", "bm25", "vector"]


def _tokens(stats: Mapping[str, object]) -> dict[str, int]:
    """Prompt tokens read (and of those, new: not reused from the cache), passage and
    completion tokens, as the answer's stats recorded them."""
    out = {name: int(value) for key, name in (
        ("prompt_tokens", "prompt"), ("passage_tokens", "passages"),
        ("completion_tokens", "completion")) if isinstance(value := stats.get(key), int)}
    cached = stats.get("cached_prompt_tokens")
    if "prompt" in out and isinstance(cached, int):
        out["prompt_new"] = out["prompt"] - cached
    return out


def _retrieval_fields(q: EvalQuestion, hits: Sequence[Any]) -> dict[str, Any]:
    ranked = tuple(h.anchor.path for h in hits)
    relevant = q.relevant_sources
    return {
        "retrieved_sources": ranked,
        "hit_at_1": hit_at_k(ranked, relevant, 1),
        "hit_at_5": hit_at_k(ranked, relevant, 5),
        "reciprocal_rank": reciprocal_rank(ranked, relevant, 10),
        "ndcg_at_10": ndcg_at_k(ranked, relevant, 10),
        "evidence_found": (
            evidence_recall([h.text for h in hits], q.evidence) if q.evidence else None
        ),
    }


def run_retrieval(
    kb: Any, questions: Sequence[EvalQuestion], *, mode: Mode = "hybrid", k: int = 10,
    config: str | None = None, collection: str | None = None,
) -> EvalRun:
    """Retrieval metrics only: hit@1/5, MRR@10, nDCG@10, evidence recall, search latency.
    `collection`: search only that collection's folders (None: all)."""
    rows = []
    scope = {"collection": collection} if collection else {}  # stand-ins need not know it
    for q in questions:
        t0 = time.perf_counter()
        hits = kb.search(q.question, k, mode=mode, **scope)
        took = time.perf_counter() - t0
        rows.append(
            QuestionResult(id=q.id, question=q.question, answerable=q.answerable,
                           latency_s={"search": round(took, 4)}, **_retrieval_fields(q, hits))
        )
    meta: dict[str, Any] = {"mode": mode, "k": k}
    if collection:
        meta["collection"] = collection
    return EvalRun(config=config or f"retrieval-{mode}", rows=rows, meta=meta)


def judge_citations(
    cited: Sequence[str], relevant: Sequence[str], *, answerable: bool
) -> tuple[bool, bool | None]:
    """(strict, lenient) citation verdicts for one answer's cited paths.

    Strict (`citation_ok`): answerable — at least one citation and every one relevant;
    unanswerable — nothing cited. Lenient (`cites_source`, answerable only): some citation is
    relevant, as in "the answer cites the expected file"; an extra wrong file does not fail it.
    """
    if not answerable:
        return not cited, None
    hits = [any(matches_source(path, source) for source in relevant) for path in cited]
    return bool(hits) and all(hits), any(hits)


def run_answers(
    kb: Any,
    questions: Sequence[EvalQuestion],
    *,
    config: str = "answers",
    on_result: Callable[[QuestionResult], None] | None = None,
    collection: str | None = None,
) -> EvalRun:
    """End to end: retrieval metrics plus answer, citation, refusal and grounding verdicts.
    `collection`: ask and search only that collection's folders (None: all)."""
    from indexer.answer.answering import Answer

    rows = []
    scope = {"collection": collection} if collection else {}  # stand-ins need not know it
    model = ""  # what answered, as the answers record it (a local file or a team server)
    for q in questions:
        t0 = time.perf_counter()
        try:
            answer: Answer = kb.ask(q.question, use_cache=False, **scope)
            model = str(answer.stats.get("model") or model)
        except Exception as exc:  # one question never aborts the run
            row = QuestionResult(id=q.id, question=q.question, answerable=q.answerable,
                                 error=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            if on_result:
                on_result(row)
            continue
        total = time.perf_counter() - t0
        hits = kb.search(answer.standalone_query, 10, **scope)
        cited = tuple(c.anchor.path for c in answer.citations)
        relevant = q.relevant_sources
        citation_ok, cites_source = judge_citations(cited, relevant, answerable=q.answerable)
        stats = answer.stats
        latency = {"total": round(total, 3)}
        for key, name in (("search_s", "search"), ("ttft_s", "first_token"),
                          ("generate_s", "generate"), ("prefill_seconds", "prefill")):
            if isinstance(stats.get(key), (int, float)):
                latency[name] = float(stats[key])  # type: ignore[arg-type]
        row = QuestionResult(
            id=q.id,
            question=q.question,
            answerable=q.answerable,
            answer=answer.text,
            cited_sources=cited,
            citation_ok=citation_ok,
            cites_source=cites_source,
            correct=contains_all(answer.text, q.must_contain) if q.answerable else None,
            refused=not answer.found,
            # Measured only when the grounding check ran: an answer it judged, or its refusal.
            grounded=(
                not answer.unsupported if answer.found
                else False if answer.stats.get("refused_by") == "grounding" else None
            ),
            latency_s=latency,
            tokens=_tokens(stats),
            **_retrieval_fields(q, hits),
        )
        rows.append(row)
        if on_result:
            on_result(row)
    return EvalRun(config=config, rows=rows, meta={"model": model or kb.settings.chat_model})
