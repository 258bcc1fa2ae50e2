"""Evaluation metrics, question loading and reports, checked against hand-computed values.

Expected numbers are worked out in the comments so a reader can verify the definitions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from indexer.evaluation.dataset import EvalDataError, EvalQuestion, load_questions, save_question
from indexer.evaluation.metrics import (
    contains_all,
    evidence_recall,
    hit_at_k,
    matches_source,
    mean,
    ndcg_at_k,
    percentile,
    rate,
    reciprocal_rank,
)
from indexer.evaluation.report import render_comparison, render_markdown
from indexer.evaluation.results import EvalRun, QuestionResult, summarize

EVAL_DIR = Path(__file__).resolve().parents[1] / "data" / "eval"  # copy of shared/eval


def needs_eval_data(fn):  # type: ignore[no-untyped-def]
    """Kept as a no-op marker: the data is in the repo, so these tests always run."""
    return fn


# --- source matching --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hit", "source", "expected"),
    [
        ("/home/u/docs/assert.md", "assert.md", True),
        ("assert.md", "assert.md", True),
        ("C:\\Users\\u\\docs\\assert.md", "assert.md", True),
        ("/home/u/docs/lang/assert.md", "lang/assert.md", True),
        ("/home/u/docs/other/assert.md", "lang/assert.md", False),
        ("/home/u/docs/massert.md", "assert.md", False),  # suffix of the name is not enough
        ("/home/u/docs/assert.md.bak", "assert.md", False),
        ("/home/u/docs/Assert.md", "assert.md", False),  # case-sensitive
        ("/home/u/docs/assert.md", "", False),
    ],
)
def test_matches_source_compares_trailing_path_components(
    hit: str, source: str, expected: bool
) -> None:
    assert matches_source(hit, source) is expected


# --- hit@k, reciprocal rank -------------------------------------------------------------------

RANKED = ["/d/a.md", "/d/b.md", "/d/c.md", "/d/d.md"]


def test_hit_at_k() -> None:
    assert hit_at_k(RANKED, {"b.md"}, 1) == 0.0
    assert hit_at_k(RANKED, {"b.md"}, 2) == 1.0
    assert hit_at_k(RANKED, {"b.md"}, 5) == 1.0  # k beyond the list is fine
    assert hit_at_k(RANKED, {"zzz.md", "c.md"}, 3) == 1.0  # any one relevant source
    assert hit_at_k(RANKED, {"zzz.md"}, 10) == 0.0
    assert hit_at_k([], {"a.md"}, 5) == 0.0


def test_metrics_are_undefined_without_relevant_sources() -> None:
    assert hit_at_k(RANKED, set(), 5) is None
    assert reciprocal_rank(RANKED, set()) is None
    assert ndcg_at_k(RANKED, set()) is None


@pytest.mark.parametrize("metric", [hit_at_k, reciprocal_rank, ndcg_at_k])
def test_k_must_be_positive(metric) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="k must be"):
        metric(RANKED, {"a.md"}, 0)


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(RANKED, {"a.md"}) == 1.0
    assert reciprocal_rank(RANKED, {"c.md"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKED, {"c.md", "b.md"}) == 0.5  # the first relevant one counts
    assert reciprocal_rank(RANKED, {"d.md"}, k=3) == 0.0  # beyond k
    assert reciprocal_rank([], {"a.md"}) == 0.0


def test_duplicate_chunks_of_one_file_keep_their_positions() -> None:
    ranked = ["/d/x.md", "/d/x.md", "/d/a.md"]  # three chunks, the first two from x.md
    assert reciprocal_rank(ranked, {"a.md"}) == pytest.approx(1 / 3)
    assert hit_at_k(ranked, {"a.md"}, 2) == 0.0


# --- nDCG -------------------------------------------------------------------------------------


def test_ndcg_single_relevant() -> None:
    assert ndcg_at_k(["/a.md", "/x.md"], {"a.md"}) == 1.0
    # relevant at position 2: DCG = 1/log2(3) = 0.6309; IDCG = 1/log2(2) = 1
    assert ndcg_at_k(["/x.md", "/a.md"], {"a.md"}) == pytest.approx(0.63093, abs=1e-5)
    assert ndcg_at_k(["/x.md", "/y.md"], {"a.md"}) == 0.0
    assert ndcg_at_k([], {"a.md"}) == 0.0


def test_ndcg_two_relevant() -> None:
    # [a, x, b]: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) = 1.63093
    assert ndcg_at_k(["/a.md", "/x.md", "/b.md"], {"a.md", "b.md"}) == pytest.approx(
        1.5 / (1 + 1 / math.log2(3))
    )
    assert ndcg_at_k(["/a.md", "/x.md", "/b.md"], {"a.md", "b.md"}) == pytest.approx(0.91972, 1e-4)
    # Only one of two found at rank 1: 1 / 1.63093
    assert ndcg_at_k(["/a.md"], {"a.md", "b.md"}) == pytest.approx(0.61315, abs=1e-5)


def test_ndcg_counts_only_the_first_occurrence_of_a_source() -> None:
    # [a, a, b]: the second a scores 0 but keeps position 2, so DCG = 1 + 0 + 1/log2(4) = 1.5.
    # Counting every chunk would give 1 + 0.6309 + 0.5 = 2.13 > IDCG, i.e. nDCG > 1.
    value = ndcg_at_k(["/a.md", "/a.md", "/b.md"], {"a.md", "b.md"})
    assert value == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # Same name in two folders ("ties" on the file name) is still one source.
    tied = ndcg_at_k(["/x/a.md", "/y/a.md"], {"a.md"})
    assert tied == 1.0


def test_ndcg_ideal_uses_at_most_k_relevant() -> None:
    # Three relevant sources but k = 2: IDCG = 1 + 1/log2(3), reached by [a, b].
    assert ndcg_at_k(["/a.md", "/b.md", "/c.md"], {"a.md", "b.md", "c.md"}, k=2) == 1.0
    # k = 1 and the top entry is not relevant: 0.
    assert ndcg_at_k(["/x.md", "/a.md"], {"a.md"}, k=1) == 0.0


# --- evidence and answer checks ---------------------------------------------------------------


def test_evidence_recall_normalises_whitespace_and_case() -> None:
    passages = ["unrelated", 'For example, "a[i]\n+= f(x)" first   looks-up "a[i]"']
    assert evidence_recall(passages, 'for example, "a[i] += f(x)" first looks-up')
    assert evidence_recall(passages, "FIRST\tLOOKS-UP")
    assert not evidence_recall(passages, "looks-up a[i]")  # punctuation still matters
    assert not evidence_recall([], "anything")


def test_evidence_split_across_passages_is_not_found() -> None:
    assert not evidence_recall(["the quick brown", "fox jumps"], "brown fox")
    with pytest.raises(ValueError):
        evidence_recall(["x"], "  \n ")


def test_contains_all_with_alternatives() -> None:
    answer = "Pass -O: it sets __DEBUG__ to False, so asserts\nare skipped."
    assert contains_all(answer, ["-O", "__debug__"])
    assert contains_all(answer, ["asserts are skipped"])  # whitespace-normalised
    assert contains_all(answer, [["-OO", "-O"], "false"])  # a list entry is any-of
    assert not contains_all(answer, ["-O", "PYTHONOPTIMIZE"])  # all plain entries are required
    assert not contains_all(answer, [("pre-existing", "already")])
    assert contains_all("They must ALREADY exist", [("pre-existing", "already")])
    assert contains_all("anything", [])


# --- percentile and aggregates ----------------------------------------------------------------


def test_percentile_linear_interpolation() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # sorted 1 2 3 4
    assert percentile(values, 50) == 2.5  # h = 1.5
    assert percentile(values, 95) == pytest.approx(3.85)  # h = 2.85 -> 3 + 0.85 * (4 - 3)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    assert percentile(iter([1.0, 3.0]), 50) == 2.0
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_mean_and_rate_ignore_none() -> None:
    assert mean([1.0, None, 0.0, None]) == 0.5
    assert mean([None, None]) is None
    assert mean([]) is None
    assert rate([True, None, False, True]) == pytest.approx(2 / 3)
    assert rate([None]) is None


# --- question files ---------------------------------------------------------------------------


@needs_eval_data
def test_load_the_shipped_pydoc_questions() -> None:
    assert EVAL_DIR is not None
    questions = load_questions(EVAL_DIR / "pydoc_qa.jsonl")
    assert len(questions) == 40
    assert sum(q.answerable for q in questions) == 30
    by_id = {q.id: q for q in questions}
    assert by_id["dev-01"].source_file == "assert.md"
    assert by_id["dev-01"].must_contain == ("-O", "__debug__")
    assert by_id["dev-02"].also_in == ("assignment.md",)  # from also_in_topics
    assert by_id["dev-02"].relevant_sources == {"augassign.md", "assignment.md"}
    assert by_id["dev-03"].must_contain == (("pre-existing", "existing", "already"),)
    unanswerable = [q for q in questions if not q.answerable]
    assert all(q.relevant_sources == frozenset() and q.evidence is None for q in unanswerable)


@needs_eval_data
def test_every_evidence_is_found_in_its_source_topic() -> None:
    """The metric's normalisation agrees with how the QA set was built and checked."""
    assert EVAL_DIR is not None
    topics = json.loads((EVAL_DIR / "pydoc_topics_3.11.7.json").read_text(encoding="utf-8"))
    for q in load_questions(EVAL_DIR / "pydoc_qa.jsonl"):
        if q.answerable:
            assert q.evidence is not None and q.source_file is not None
            assert evidence_recall([topics[q.source_file.removesuffix(".md")]], q.evidence), q.id
    dev01 = next(q for q in load_questions(EVAL_DIR / "pydoc_qa.jsonl") if q.id == "dev-01")
    assert dev01.evidence is not None
    assert not evidence_recall([topics["augassign"]], dev01.evidence)


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = '{"id": "q1", "answerable": false, "question": "Who?"}'


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"id": "q2", "answerable": true, "question": "What?"}', "needs 'source_file'"),
        ('{"id": "q2", "answerable": "yes", "question": "What?"}', "'answerable' must be"),
        ('{"id": "", "answerable": false, "question": "What?"}', "'id' must be"),
        ('{"id": "q2", "answerable": false, "question": "W?", "must_contain": [[]]}',
         "must_contain"),
        ('{"id": "q2", "answerable": false, "question": "W?", "must_contain": "x"}',
         "must_contain"),
        ('{"id": "q2", "answerable": false, "question": "W?", "page": 0}', "'page'"),
        ('{"id": "q2", "answerable": false, "question": "W?", "colour": 1}', "unknown field"),
        ('{"id": "q1", "answerable": false, "question": "Again?"}', "duplicate id 'q1'"),
    ],
)  # fmt: skip
def test_malformed_line_names_the_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = _write(tmp_path / "q.jsonl", GOOD, "", bad_line)
    with pytest.raises(EvalDataError, match=message) as excinfo:
        load_questions(path)
    assert f"{path}:3:" in str(excinfo.value)  # the blank line 2 still counts


def test_save_question_round_trips_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "golden" / "mine.jsonl"
    first = EvalQuestion(
        id="g1", question="Where is the VPN key?", answerable=True, source_file="it/vpn.pdf",
        also_in=("it/vpn-old.pdf",), page=3, must_contain=("key", ("vault", "safe")),
        evidence="the key is in the vault", answer="In the vault",
    )  # fmt: skip
    second = EvalQuestion(id="g2", question="Lunch menu on Friday?", answerable=False)
    save_question(path, first)
    save_question(path, second)
    assert load_questions(path) == [first, second]
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    with pytest.raises(EvalDataError, match="already exists"):
        save_question(path, second)


def test_save_question_after_a_hand_edit_without_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(GOOD, encoding="utf-8")  # no trailing newline
    save_question(path, EvalQuestion(id="q2", question="Why?", answerable=False))
    assert [q.id for q in load_questions(path)] == ["q1", "q2"]


def test_save_question_validates_first(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    with pytest.raises(EvalDataError, match="source_file"):
        save_question(path, EvalQuestion(id="q", question="What?", answerable=True))
    assert not path.exists()


# --- results and reports ----------------------------------------------------------------------


def _passing(qid: str = "q-pass") -> QuestionResult:
    return QuestionResult(
        id=qid, question="Which option skips asserts?", answerable=True,
        retrieved_sources=("/c/assert.md", "/c/debug.md"), hit_at_1=1.0, hit_at_5=1.0,
        reciprocal_rank=1.0, ndcg_at_10=1.0, evidence_found=True, answer="-O [1]",
        cited_sources=("/c/assert.md",), citation_ok=True, correct=True, refused=False,
        grounded=True, latency_s={"retrieve": 0.1, "generate": 2.0},
    )  # fmt: skip


def _failing(qid: str = "q-fail") -> QuestionResult:
    return QuestionResult(
        id=qid, question="What does `x | y` do?", answerable=True,
        retrieved_sources=("/c/other.md",), hit_at_1=0.0, hit_at_5=0.0, reciprocal_rank=0.0,
        ndcg_at_10=0.0, evidence_found=False, answer="I don't know.", cited_sources=(),
        citation_ok=False, correct=False, refused=True, grounded=None,
        latency_s={"retrieve": 0.3, "generate": 4.0},
    )  # fmt: skip


def test_failure_reasons() -> None:
    assert _passing().failure_reasons() == []
    assert _failing().failure_reasons() == [
        "source not in top 5", "evidence not retrieved", "refused an answerable question",
        "citation does not point at the source",
    ]  # fmt: skip
    answered = QuestionResult(id="u", question="?", answerable=False, refused=False,
                              citation_ok=False, hit_at_5=None)  # fmt: skip
    assert answered.failure_reasons() == [
        "answered an unanswerable question",
        "cited a passage as support for an unanswerable question",
    ]
    assert QuestionResult(id="u", question="?", answerable=False, refused=True).passed
    assert not QuestionResult(id="e", question="?", answerable=True, error="boom").passed


def test_summary_of_a_mixed_run() -> None:
    unanswerable = QuestionResult(id="u1", question="Release date?", answerable=False,
                                  refused=True, citation_ok=True, grounded=None)  # fmt: skip
    summary = summarize([_passing(), _failing(), unanswerable])
    assert (summary.questions, summary.answerable, summary.failed) == (3, 2, 1)
    assert summary.hit_at_1 == 0.5 and summary.mrr == 0.5  # unanswerable row not averaged
    assert summary.citation_accuracy == pytest.approx(2 / 3)
    assert summary.refusal_rate_unanswerable == 1.0
    assert summary.false_refusal_rate == 0.5
    assert summary.grounded_rate == 1.0  # the two None rows are skipped
    retrieve = summary.latency[0]
    # retrieve latencies 0.1 and 0.3: p50 0.2, p95 = 0.1 + 0.95 * 0.2 = 0.29
    assert (retrieve.stage, retrieve.count, retrieve.max) == ("retrieve", 2, 0.3)
    assert retrieve.p50 == pytest.approx(0.2) and retrieve.p95 == pytest.approx(0.29)


def test_report_lists_failures_first_with_formatted_numbers() -> None:
    run = EvalRun(config="hybrid+qwen0.5b", rows=[_passing(), _failing()],
                  meta={"corpus": "pydoc 3.11.7"})  # fmt: skip
    text = render_markdown(run)
    assert text.startswith("# Evaluation: hybrid+qwen0.5b\n")
    table = text[text.index("## Questions") :]
    assert table.index("q-fail") < table.index("q-pass")
    assert "| FAIL | q-fail | What does `x \\| y` do? |" in table  # pipe escaped
    assert "| hit@1 | 0.500 |" in text
    assert "| correct (answerable) | 50.0% |" in text
    assert "| failed | 1 |" in text
    assert "| retrieve | 2 | 0.20 | 0.29 | 0.30 |" in text
    details = text[text.index("## Failures (1)") :]
    assert "### q-fail (answerable)" in details
    assert "source not in top 5" in details and "retrieved (top 5): /c/other.md" in details
    assert "q-pass" not in details


def test_report_of_a_passing_run_has_no_failure_section() -> None:
    text = render_markdown(EvalRun(config="bm25", rows=[_passing("a"), _passing("b")]))
    assert "## Failures" not in text and "FAIL" not in text
    assert "| failed | 0 |" in text and "| hit@5 | 1.000 |" in text
    assert "| refused (unanswerable, higher is better) | n/a |" in text


def test_run_json_round_trip_renders_the_same() -> None:
    run = EvalRun(config="dense", rows=[_failing(), _passing()], meta={"k": 10})
    data = json.loads(json.dumps(run.to_dict()))
    assert data["summary"]["failed"] == 1 and data["rows"][0]["passed"] is False
    assert EvalRun.from_dict(data) == run
    assert render_markdown(data) == render_markdown(run)


def test_comparison_puts_configs_side_by_side() -> None:
    bm25 = EvalRun(config="bm25", rows=[_passing("q1"), _failing("q2")])
    hybrid = EvalRun(config="hybrid", rows=[_passing("q1"), _passing("q2")])
    text = render_comparison([bm25.to_dict(), hybrid])
    assert "| metric | bm25 | hybrid |" in text
    assert "| hit@1 | 0.500 | 1.000 |" in text
    assert "| retrieve p50 (s) | 0.20 | 0.10 |" in text
    differs = text[text.index("## Questions whose outcome differs") :]
    assert "| q2 | FAIL | ok |" in differs and "q1" not in differs
    with pytest.raises(ValueError):
        render_comparison([])
