"""The evaluation runner and `cairn eval …`, over a tiny corpus with the fake models.

Pinned here, because evaluation numbers are what quality decisions are made on (docs/quality.md,
the README figures), so the harness itself must be right:
- `run_retrieval` / `run_answers` (indexer/evaluation/runner.py) on a real `KnowledgeBase`
  produce the per-question metrics and summaries worked out by hand in the comments below (BM25
  only returns chunks sharing a word with the query, which makes its ranks predictable);
- one crashing question is recorded as an error and never aborts a run;
- `cairn eval run` writes report.md + report.json, failures first, with `--compare` side by
  side, and an answers run fills citation accuracy and refusal rates;
- golden questions saved with `cairn eval add` are rerun by `cairn eval run` without arguments;
- bad question files are user errors (exit 2, file:line), not tracebacks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from indexer import cli
from indexer.cli import evaluate as eval_cli
from indexer.config import load_settings
from indexer.errors import UserInputError
from indexer.evaluation.dataset import EvalQuestion, load_questions
from indexer.evaluation.results import QuestionResult
from indexer.evaluation.runner import judge_citations, run_answers, run_retrieval
from indexer.service import KnowledgeBase, build_hub
from models.offline import install_egress_guard
from tests.indexer.builders import make_settings

FAKE = {"embedder_backend": "fake", "generator_backend": "fake"}
WALRUS_Q = "What does the walrus keep a ledger of?"
OTTERS_Q = "When do otters hold hands on rivers?"
OFF_TOPIC_Q = "quantum chromodynamics lattice gauge"


def make_corpus(root: Path) -> Path:
    """Three one-line files; each is one chunk. No headings, so chunk text = the line."""
    docs = root / "docs"
    docs.mkdir(parents=True)
    (docs / "walrus.txt").write_text("The walrus keeps a ledger of tides in the harbour.\n")
    (docs / "otters.txt").write_text("Otters hold hands while sleeping on quiet rivers.\n")
    (docs / "harbour.txt").write_text("Otters visit the busy harbour at dawn.\n")
    return docs


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ runner, direct
@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("runner")
    docs = make_corpus(root)
    settings = make_settings(root / "home", [docs])
    with KnowledgeBase(settings, build_hub(settings)) as base:
        base.index(timeout=60)
        yield base


def _path(kb: KnowledgeBase, name: str) -> str:
    return str(kb.folders()[0] / name)


RETRIEVAL_QS = [
    # BM25 matches only walrus.txt: ranked (walrus,) -> hit@1 1, RR 1, nDCG 1.
    EvalQuestion("r-walrus", "walrus ledger", True, "walrus.txt", evidence="ledger of TIDES"),
    # harbour.txt has both words, otters.txt only "otters", walrus.txt neither:
    # ranked (harbour, otters) -> hit@1 0, hit@5 1, RR 1/2, nDCG 1/log2(3).
    EvalQuestion("r-otters", "otters dawn", True, "otters.txt", evidence="hold  hands"),
    # No relevant source: every retrieval metric is undefined and left out of the means.
    EvalQuestion("r-none", "penguins igloo", False),
]


def test_run_retrieval_bm25_matches_hand_computed_metrics(kb: KnowledgeBase) -> None:
    run = run_retrieval(kb, RETRIEVAL_QS, mode="bm25", k=10)
    assert run.config == "retrieval-bm25" and run.meta == {"mode": "bm25", "k": 10}
    walrus, otters, none = run.rows
    assert walrus.retrieved_sources == (_path(kb, "walrus.txt"),)
    assert (walrus.hit_at_1, walrus.hit_at_5, walrus.reciprocal_rank, walrus.ndcg_at_10) == (
        1.0, 1.0, 1.0, 1.0)
    assert otters.retrieved_sources == (_path(kb, "harbour.txt"), _path(kb, "otters.txt"))
    assert (otters.hit_at_1, otters.hit_at_5, otters.reciprocal_rank) == (0.0, 1.0, 0.5)
    assert otters.ndcg_at_10 == pytest.approx(1 / math.log2(3))
    assert walrus.evidence_found is True and otters.evidence_found is True  # case/space-blind
    assert none.retrieved_sources == ()
    assert (none.hit_at_1, none.reciprocal_rank, none.ndcg_at_10, none.evidence_found) == (
        None, None, None, None)
    assert all(set(r.latency_s) == {"search"} and r.answer is None for r in run.rows)

    s = run.summary
    assert (s.questions, s.answerable, s.failed) == (3, 2, 0)
    assert (s.hit_at_1, s.hit_at_5, s.mrr) == (0.5, 1.0, 0.75)
    assert s.ndcg_at_10 == pytest.approx((1 + 1 / math.log2(3)) / 2)  # 0.8155
    assert s.evidence_recall == 1.0
    assert (s.citation_accuracy, s.correct_rate, s.refusal_rate_unanswerable) == (None,) * 3


def test_run_retrieval_k_limits_what_counts(kb: KnowledgeBase) -> None:
    # k=1: r-otters sees only harbour.txt -> hit@5 0, RR 0, nDCG 0, evidence not retrieved.
    run = run_retrieval(kb, RETRIEVAL_QS[:2], mode="bm25", k=1, config="top1")
    assert run.config == "top1"
    otters = run.rows[1]
    assert otters.retrieved_sources == (_path(kb, "harbour.txt"),)
    assert (otters.hit_at_5, otters.reciprocal_rank, otters.ndcg_at_10) == (0.0, 0.0, 0.0)
    assert otters.failure_reasons() == ["source not in top 5", "evidence not retrieved"]
    s = run.summary
    assert (s.failed, s.hit_at_5, s.mrr, s.ndcg_at_10, s.evidence_recall) == (
        1, 0.5, 0.5, 0.5, 0.5)


def test_run_retrieval_modes_rank_differently(kb: KnowledgeBase) -> None:
    # "penguins igloo" shares no word with any file: BM25 returns nothing, the vector scan and
    # hybrid still return every chunk (3), so the mode really reaches the retriever.
    q = [RETRIEVAL_QS[2]]
    assert run_retrieval(kb, q, mode="bm25").rows[0].retrieved_sources == ()
    for mode in ("vector", "hybrid"):
        run = run_retrieval(kb, q, mode=mode)  # type: ignore[arg-type]
        assert run.config == f"retrieval-{mode}"
        assert sorted(Path(p).name for p in run.rows[0].retrieved_sources) == [
            "harbour.txt", "otters.txt", "walrus.txt"]


ANSWER_QS = [
    EvalQuestion("a-walrus", WALRUS_Q, True, "walrus.txt", must_contain=("tides",)),
    # Labelled with the wrong file on purpose: the fake model cites otters.txt, so the citation
    # is wrong. Hybrid ranks otters (bm25 1), harbour (bm25 2: "otters"), walrus:
    # RR 1/2, nDCG 1/log2(3).
    EvalQuestion("a-mislabelled", OTTERS_Q, True, "harbour.txt", must_contain=("sleeping",)),
    EvalQuestion("a-none", OFF_TOPIC_Q, False),  # refused by the relevance gate
]


def test_run_answers_fills_answer_metrics(kb: KnowledgeBase) -> None:
    seen: list[str] = []
    run = run_answers(kb, ANSWER_QS, config="fake", on_result=lambda r: seen.append(r.id))
    assert seen == ["a-walrus", "a-mislabelled", "a-none"]
    assert run.config == "fake" and run.meta == {"model": kb.hub.chat_model_id}
    walrus, mislabelled, none = run.rows

    assert "tides" in (walrus.answer or "")
    assert walrus.cited_sources == (_path(kb, "walrus.txt"),)
    assert (walrus.citation_ok, walrus.correct, walrus.refused, walrus.grounded) == (
        True, True, False, True)
    assert walrus.cites_source is True
    assert walrus.hit_at_1 == 1.0
    assert {"total", "search", "first_token", "generate"} <= set(walrus.latency_s)

    assert mislabelled.cited_sources == (_path(kb, "otters.txt"),)
    assert (mislabelled.citation_ok, mislabelled.correct) == (False, True)
    assert mislabelled.cites_source is False
    assert mislabelled.reciprocal_rank == 0.5
    assert mislabelled.ndcg_at_10 == pytest.approx(1 / math.log2(3))
    assert mislabelled.failure_reasons() == ["citation does not point at the source"]

    assert none.answer == "I couldn't find this in your documents."
    assert (none.refused, none.cited_sources, none.citation_ok, none.correct) == (
        True, (), True, None)
    assert none.passed

    s = run.summary
    assert (s.questions, s.answerable, s.failed) == (3, 2, 1)
    assert s.citation_accuracy == pytest.approx(2 / 3)  # walrus ok, mislabelled wrong, none ok
    assert s.cites_source_rate == 0.5  # answerable only: walrus yes, mislabelled no
    assert none.cites_source is None
    assert (s.correct_rate, s.refusal_rate_unanswerable, s.false_refusal_rate) == (1.0, 1.0, 0.0)
    assert (s.hit_at_1, s.mrr) == (0.5, 0.75)


def test_gate_refusal_is_not_judged_ungrounded(kb: KnowledgeBase) -> None:
    # A relevance-gate refusal never reaches the grounding check, so `grounded` was not measured
    # (None, like the hand-made refusal rows in test_eval_metrics.py), and it must not pull the
    # grounded rate down: the two generated answers are both grounded -> 1.0.
    run = run_answers(kb, ANSWER_QS)
    trace = kb.traces.last(1)[-1]
    assert trace["stats"]["refused_by"] == "relevance_gate"
    assert run.rows[2].grounded is None
    assert run.summary.grounded_rate == 1.0


class _CrashOn:
    """Delegates to a KnowledgeBase but fails `ask` for one question."""

    def __init__(self, kb: KnowledgeBase, question: str) -> None:
        self._kb, self._question = kb, question
        self.settings = kb.settings

    def ask(self, question: str, **kwargs: Any) -> Any:
        if question == self._question:
            raise RuntimeError("generator exploded")
        return self._kb.ask(question, **kwargs)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        return self._kb.search(*args, **kwargs)


def test_one_crashing_question_does_not_abort_the_run(kb: KnowledgeBase) -> None:
    results: list[QuestionResult] = []
    run = run_answers(_CrashOn(kb, WALRUS_Q), ANSWER_QS, on_result=results.append)
    assert [r.id for r in results] == [r.id for r in run.rows] == [q.id for q in ANSWER_QS]
    crashed = run.rows[0]
    assert crashed.error == "RuntimeError: generator exploded"
    assert crashed.failure_reasons() == ["error: RuntimeError: generator exploded"]
    assert run.rows[1].answer and run.rows[2].refused is True  # the others still ran
    assert run.summary.failed == 2


# ------------------------------------------------------------------------------ cairn eval
@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """(home with fake models, corpus folder not yet indexed)."""
    for console in (cli.console, cli.err, eval_cli.console, eval_cli.err):
        monkeypatch.setattr(console, "width", 250)
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.json").write_text(json.dumps(FAKE), encoding="utf-8")
    yield home, make_corpus(tmp_path)
    install_egress_guard(strict=True)  # the CLI callback installs the guard non-strict


def cairn(home: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli.app, ["--home", str(home), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"cairn {' '.join(args)} crashed") from result.exception
    return result


PASS_FAIL = [
    {"id": "q-walrus", "answerable": True, "question": WALRUS_Q, "source_file": "walrus.txt",
     "evidence": "keeps a ledger of tides", "must_contain": ["tides"]},
    # The expected file is not in the corpus: retrieval cannot find it, the question fails.
    {"id": "q-penguin", "answerable": True, "question": "Where do penguins build igloos?",
     "source_file": "penguins.md"},
]


def run_retrieval_eval(env: tuple[Path, Path], tmp_path: Path, *flags: str
                       ) -> tuple[Path, Path, Path, Result]:
    """`cairn eval run PASS_FAIL --folder DOCS --retrieval-only FLAGS`: (home, docs, out, result)."""
    home, docs = env
    qs = write_jsonl(tmp_path / "qs.jsonl", PASS_FAIL)
    out = tmp_path / "out"
    result = cairn(home, "eval", "run", str(qs), "--folder", str(docs), "--retrieval-only",
                   *flags, "--out", str(out))
    return home, docs, out, result


def test_eval_run_retrieval_only_writes_reports_failures_first(
        env: tuple[Path, Path], tmp_path: Path) -> None:
    home, docs, out, result = run_retrieval_eval(env, tmp_path)
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.md'}" in result.stdout

    [run] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert run["config"] == "retrieval-hybrid"
    machine = run["meta"]["machine"]  # every timing says what it ran on
    assert machine["cores"] >= 1 and isinstance(machine["cpu_flags"], list)
    if Path("/proc/cpuinfo").exists() and "avx2" in Path("/proc/cpuinfo").read_text():
        assert "avx2" in machine["cpu_flags"]
    rows = {r["id"]: r for r in run["rows"]}
    assert rows["q-walrus"]["passed"] is True and rows["q-walrus"]["hit_at_1"] == 1.0
    assert rows["q-walrus"]["evidence_found"] is True
    assert rows["q-penguin"]["passed"] is False and rows["q-penguin"]["reciprocal_rank"] == 0.0
    assert run["summary"]["hit_at_1"] == 0.5 and run["summary"]["failed"] == 1

    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Evaluation: retrieval-hybrid")
    assert "| hit@1 | 0.500 |" in md and "| failed | 1 |" in md
    fail_row = md.index("| FAIL | q-penguin | Where do penguins build igloos?")
    ok_row = md.index(f"| ok | q-walrus | {WALRUS_Q}")
    assert fail_row < ok_row  # failures first, although q-walrus comes first in the file
    details = md[md.index("## Failures (1)"):]
    assert "### q-penguin (answerable)" in details and "why: source not in top 5" in details
    assert "q-walrus" not in details
    assert str(docs) in json.loads((home / "settings.json").read_text())["folders"]


def test_eval_run_compare_puts_modes_side_by_side(
        env: tuple[Path, Path], tmp_path: Path) -> None:
    home, docs = env
    qs = write_jsonl(tmp_path / "qs.jsonl", [
        *PASS_FAIL,
        # BM25 only returns chunks sharing a word: walrus.txt shares none, so it is missing
        # there and found by vector/hybrid (which return every chunk of a 3-chunk corpus).
        {"id": "q-vector-only", "answerable": True, "question": "Otters at dawn?",
         "source_file": "walrus.txt"},
    ])
    out = tmp_path / "cmp"
    result = cairn(home, "eval", "run", str(qs), "--folder", str(docs), "--retrieval-only",
                   "--compare", "hybrid,bm25,vector", "--out", str(out))
    assert result.exit_code == 0, result.output
    runs = json.loads((out / "report.json").read_text(encoding="utf-8"))
    configs = [r["config"] for r in runs]
    assert configs == ["retrieval-hybrid", "retrieval-bm25", "retrieval-vector"]
    assert [r["meta"]["mode"] for r in runs] == ["hybrid", "bm25", "vector"]
    passed = {r["config"]: {row["id"]: row["passed"] for row in r["rows"]} for r in runs}
    assert [passed[c]["q-vector-only"] for c in configs] == [True, False, True]

    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Evaluation comparison")
    assert "| metric | retrieval-hybrid | retrieval-bm25 | retrieval-vector |" in md
    hit5 = [f"{r['summary']['hit_at_5']:.3f}" for r in runs]
    assert f"| hit@5 | {' | '.join(hit5)} |" in md
    assert "| q-vector-only | ok | FAIL | ok |" in md
    assert "q-walrus |" not in md.split("## Questions whose outcome differs")[1].split("#")[0]
    sections = [md.index(f"# Evaluation: {c}") for c in configs]
    assert sections == sorted(sections)


def test_compare_entries_carry_setting_overrides_and_refuse_index_settings() -> None:
    from indexer.evaluation.configs import RunConfig, parse_compare

    assert parse_compare(None) == [RunConfig()]
    assert parse_compare("hybrid, hybrid  fusion_k=5 bm25_weight=2,context_passages=6") == [
        RunConfig("hybrid", "hybrid", {}),
        RunConfig("hybrid fusion_k=5 bm25_weight=2", "hybrid",
                  {"fusion_k": "5", "bm25_weight": "2"}),
        RunConfig("context_passages=6", None, {"context_passages": "6"}),
    ]
    for bad, says in [("hybrid,", "empty"), ("hybrid bm25", "Two modes"),
                      ("chunk_tokens=100", "changes the index"),
                      ("folders=/tmp", "changes the index"), ("fusion=5", "Unknown setting")]:
        with pytest.raises(UserInputError, match=says):
            parse_compare(bad)


def test_eval_run_compare_applies_fusion_settings_per_run(
        env: tuple[Path, Path], tmp_path: Path) -> None:
    home, _, out, result = run_retrieval_eval(
        env, tmp_path, "--compare", "vector,hybrid bm25_weight=0 fusion_k=7")
    assert result.exit_code == 0, result.output
    vector, unweighted = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert unweighted["config"] == "retrieval-hybrid bm25_weight=0 fusion_k=7"
    assert unweighted["meta"]["settings"] == {"bm25_weight": "0", "fusion_k": "7"}
    # With BM25 weighted 0, hybrid ranks exactly as the vector side does.
    assert [r["retrieved_sources"] for r in unweighted["rows"]] == [
        r["retrieved_sources"] for r in vector["rows"]]
    assert "fusion_k" not in json.loads((home / "settings.json").read_text())  # not saved

    bad = cairn(home, "eval", "run", str(out.parent / "qs.jsonl"), "--retrieval-only",
                "--compare", "fusion_k=0")
    assert bad.exit_code != 0 and "fusion_k" in bad.output and "greater than or equal" in bad.output


def test_eval_run_answers_fills_answer_metrics(env: tuple[Path, Path], tmp_path: Path) -> None:
    home, docs = env
    records = [q.to_dict() for q in ANSWER_QS]
    qs = write_jsonl(tmp_path / "qs.jsonl", records)
    out = tmp_path / "answers"
    result = cairn(home, "eval", "run", str(qs), "--folder", str(docs), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "a-walrus: ok" in result.stderr and "a-mislabelled: FAIL" in result.stderr
    [run] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert run["config"] == load_settings(home).chat_model
    s = run["summary"]
    assert s["citation_accuracy"] == pytest.approx(2 / 3)
    assert s["refusal_rate_unanswerable"] == 1.0 and s["false_refusal_rate"] == 0.0
    assert s["correct_rate"] == 1.0
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| citation accuracy (every citation relevant) | 66.7% |" in md
    assert "| cites the expected source (answerable) | 50.0% |" in md
    assert "| refused (unanswerable, higher is better) | 100.0% |" in md
    assert "- cited: " + str(docs / "otters.txt") in md
    assert "why: citation does not point at the source" in md


def test_golden_questions_are_saved_and_rerun(env: tuple[Path, Path], tmp_path: Path) -> None:
    home, docs = env
    saved = cairn(home, "eval", "add", WALRUS_Q, "--source", str(docs / "walrus.txt"),
                  "--must", "tides")
    assert saved.exit_code == 0 and "saved golden-001" in saved.stdout
    assert cairn(home, "eval", "add", OFF_TOPIC_Q).exit_code == 0
    golden = load_questions(home / "golden_questions.jsonl")
    assert golden == [
        EvalQuestion("golden-001", WALRUS_Q, True, "walrus.txt", must_contain=("tides",)),
        EvalQuestion("golden-002", OFF_TOPIC_Q, False),
    ]
    out = tmp_path / "golden"
    result = cairn(home, "eval", "run", "--folder", str(docs), "--out", str(out))
    assert result.exit_code == 0, result.output
    [run] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    rows = {r["id"]: r for r in run["rows"]}
    assert set(rows) == {"golden-001", "golden-002"}
    assert rows["golden-001"]["passed"] and rows["golden-001"]["correct"] is True
    assert rows["golden-002"]["refused"] is True and rows["golden-002"]["passed"]


def test_eval_run_without_questions_is_a_clear_error(env: tuple[Path, Path]) -> None:
    home, _ = env
    result = cairn(home, "eval", "run", "--retrieval-only")
    assert result.exit_code == 2
    assert "No question set at" in result.stderr and "cairn eval add" in result.stderr


def test_malformed_question_file_is_a_user_error(
        env: tuple[Path, Path], tmp_path: Path) -> None:
    home, docs = env
    qs = tmp_path / "bad.jsonl"
    qs.write_text(json.dumps(PASS_FAIL[0]) + '\n{"id": "x", "question": "q"}\n')
    result = cairn(home, "eval", "run", str(qs), "--folder", str(docs), "--retrieval-only")
    assert result.exit_code == 2
    assert f"{qs}:2: 'answerable' must be true or false" in " ".join(result.stderr.split())


def test_golden_add_after_a_hand_deleted_question(env: tuple[Path, Path]) -> None:
    # The golden file is edited by hand (dataset.py); deleting the first question and saving a
    # new one must not reuse an id that is still in the file.
    home, _ = env
    for question in ("first question?", "second question?"):
        assert cairn(home, "eval", "add", question).exit_code == 0
    path = home / "golden_questions.jsonl"
    path.write_text(path.read_text().splitlines(keepends=True)[1], encoding="utf-8")
    result = cairn(home, "eval", "add", "third question?")
    assert result.exit_code == 0, result.output
    ids = [q.id for q in load_questions(path)]
    assert len(ids) == len(set(ids)) == 2 and ids[0] == "golden-002"


def test_judge_citations_strict_and_lenient() -> None:
    relevant = ["power.md", "expressions.md"]
    judge = judge_citations
    assert judge(["/c/power.md"], relevant, answerable=True) == (True, True)
    assert judge(["/c/power.md", "/c/power.md"], relevant, answerable=True) == (True, True)
    # An extra wrong file: the answer cites the source (lenient) but not only it (strict).
    assert judge(["/c/calls.md", "/c/power.md"], relevant, answerable=True) == (False, True)
    assert judge(["/c/calls.md"], relevant, answerable=True) == (False, False)
    assert judge([], relevant, answerable=True) == (False, False)  # a refusal cites nothing
    assert judge([], [], answerable=False) == (True, None)
    assert judge(["/c/power.md"], [], answerable=False) == (False, None)
