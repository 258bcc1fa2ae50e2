"""Scans answer questions: a scanned PDF and a photo of a whiteboard, read by local OCR, then
asked with the real default model — the answer names the planted fact and cites the right page
of the scan (marked OCR). Everything is generated (tests/indexer/scans.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.service import KnowledgeBase, build_hub
from tests.indexer.scans import scanned_image, scanned_pdf

pytestmark = pytest.mark.real_models

SAMPLES = Path(__file__).resolve().parents[2] / "desktop_app" / "sample_docs"
WHITEBOARD = ("Release planning", "Code freeze: 14 March", "Release to customers: 2 April",
              "Owner of the release notes: Dana")


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("ocr-answers")
    docs = root / "docs"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))  # distractors
    scanned_pdf(docs / "pump-manual-scan.pdf")
    scanned_image(docs / "whiteboard.jpg", WHITEBOARD)
    settings = load_settings(root / "home", folders=[docs], n_ctx=2048, max_answer_tokens=96)
    base = KnowledgeBase(settings, build_hub(settings))
    base.open()
    base.index(timeout=900)
    yield base
    base.close()


def test_scans_are_indexed_without_failures(kb: KnowledgeBase) -> None:
    status = kb.status()
    assert status.failures == ()
    assert status.files_by_stage["embedded"] == 5  # 3 samples + the scan + the photo


def test_a_question_about_a_scanned_page_cites_that_page(kb: KnowledgeBase) -> None:
    answer = kb.ask("After how many hours of operation should the filter cartridge be replaced?")
    assert answer.found, answer
    assert "400" in answer.text
    cited = {(Path(c.anchor.path).name, c.anchor.page, c.anchor.ocr) for c in answer.citations}
    assert ("pump-manual-scan.pdf", 2, True) in cited, cited
    assert any(c.anchor.label() == "pump-manual-scan.pdf p. 2 (OCR)" for c in answer.citations)


def test_a_question_about_a_photo_cites_the_image(kb: KnowledgeBase) -> None:
    answer = kb.ask("When is the code freeze?")
    assert answer.found, answer
    assert "14 March" in answer.text or "March 14" in answer.text
    assert any(Path(c.anchor.path).name == "whiteboard.jpg" for c in answer.citations), answer
