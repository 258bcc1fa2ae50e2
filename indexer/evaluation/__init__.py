"""Evaluation of retrieval and answers: question sets, metric definitions, run reports.

Pure Python on purpose (no store, models or Qt), so metric definitions can be unit-tested with
hand-computed numbers and reports re-rendered from saved JSON. The runner that fills an
`EvalRun` from a `KnowledgeBase` lives elsewhere and depends on this package, not the reverse.
"""

from indexer.evaluation.dataset import EvalDataError, EvalQuestion, load_questions, save_question
from indexer.evaluation.report import render_comparison, render_markdown
from indexer.evaluation.results import EvalRun, QuestionResult, RunSummary, summarize

__all__ = [
    "EvalDataError",
    "EvalQuestion",
    "EvalRun",
    "QuestionResult",
    "RunSummary",
    "load_questions",
    "render_comparison",
    "render_markdown",
    "save_question",
    "summarize",
]
