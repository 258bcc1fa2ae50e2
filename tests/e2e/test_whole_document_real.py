"""Whole-document answers with the real models (MiniLM + Qwen2.5 0.5B): a summary of a generated
30-page PDF covers the key points planted on known pages, each cited to its page; a comparison
of two versions of a spec names the planted differences, citing both files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.answer.answering import Answer
from indexer.answer.whole_document import DocumentProgress
from indexer.config import load_settings
from indexer.service import KnowledgeBase, build_hub
from tests.e2e.report_pdf import KEY_POINTS, write_report_pdf, write_spec_versions

# Minutes on a CPU: every page is read (prefill ~42 tokens/s for the 0.5B on 2 free cores);
# on a shared, busy machine several times that.
pytestmark = [pytest.mark.real_models, pytest.mark.timeout(2700)]


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("whole")
    docs = root / "docs"
    docs.mkdir()
    write_report_pdf(docs / "harbour-report.pdf", pages=30)
    write_spec_versions(docs)
    settings = load_settings(root / "home", folders=[docs], n_ctx=2048,
                             chat_model="qwen2.5-coder-0.5b-instruct-q4_k_m")
    base = KnowledgeBase(settings, build_hub(settings))
    base.open()
    base.index(timeout=900)
    yield base
    base.close()


def _lines_citing(answer: Answer, words: str) -> list[set[int | None]]:
    """For each line of the answer that contains `words`, the pages its markers cite."""
    out = []
    for line in answer.text.splitlines():
        if words.lower() in line.lower():
            numbers = [int(n) for n in re.findall(r"\[(\d+)\]", line)]
            out.append({answer.citations[n - 1].anchor.page for n in numbers})
    return out


def test_summary_of_30_pages_covers_planted_points_cited_to_their_pages(
        kb: KnowledgeBase, tmp_path: Path) -> None:
    items = list(kb.stream_documents(["harbour-report.pdf"]))
    answer = items[-1]
    assert isinstance(answer, Answer)
    print("\n" + answer.text, "\n", answer.stats)
    progress = [i for i in items if isinstance(i, DocumentProgress)]
    assert len(progress) >= 2 and progress[-1].eta_s is not None
    assert answer.stats["cancelled"] is False
    for page, (_, must) in KEY_POINTS.items():
        cited = _lines_citing(answer, must)
        assert cited, f"the summary leaves out {must!r} (page {page})"
        assert any(page in pages for pages in cited), f"{must!r} is not cited to p. {page}"


def test_comparison_of_two_spec_versions_names_the_planted_differences(
        kb: KnowledgeBase) -> None:
    answer = list(kb.stream("What changed between @spec-v1.md and @spec-v2.md?"))[-1]
    assert isinstance(answer, Answer)
    print("\n" + answer.text, "\n", answer.stats)
    text = answer.text
    assert "30" in text and "45" in text  # session timeout
    assert "10 MB" in text and "25 MB" in text  # upload limit
    assert "90 days" in text  # added
    assert "Guest" in text  # removed
    assert {Path(c.anchor.path).name for c in answer.citations} == {"spec-v1.md", "spec-v2.md"}
