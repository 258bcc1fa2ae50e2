"""Whole-document answers in the window (fake models): Summarize on a file selected in the
Folders view becomes a turn of the conversation with progress shown while it runs; the
conversation exports to Markdown with file links; progress text and questions are pure."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from desktop_app.summary_actions import progress_text, summary_question
from indexer.answer.whole_document import DocumentProgress, split_mentions
from tests.desktop_app.conftest import wait_indexed


def test_questions_and_progress_text() -> None:
    q = summary_question(["/d/my report.pdf", "/d/b.md"], "compare")
    assert q == 'Compare @"/d/my report.pdf" and @"/d/b.md"'
    assert split_mentions(q)[0] == ["/d/my report.pdf", "/d/b.md"]
    assert progress_text(DocumentProgress("reading", 1, 7, 200.0, "r.pdf p. 9–16")) == (
        "Reading r.pdf p. 9–16 — step 2 of 7, about 3 min left")
    assert progress_text(DocumentProgress("writing", 6, 7, None)) == (
        "Writing the result — step 7 of 7")


def test_summarize_selected_file_then_export(qtbot, window_factory, sample_docs: Path,
                                             monkeypatch, tmp_path: Path) -> None:
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    panel = window.folders_panel
    pdf = str(sample_docs / "observing-the-night-sky.pdf")
    qtbot.waitUntil(lambda: any(r.path == pdf for r in panel.records))
    assert panel.select_file(pdf)
    summarize, compare, _ = window.summary_actions
    assert summarize.isEnabled() and not compare.isEnabled()
    stages: list[str] = []
    window.ask_panel.stage_label.setText = lambda t, f=window.ask_panel.stage_label.setText: (
        stages.append(t), f(t))[1]
    summarize.trigger()
    qtbot.waitUntil(lambda: bool(window.ask_panel.conversation.turns)
                    and not window.ask_panel.generating, timeout=60_000)
    turn = window.ask_panel.conversation.turns[-1]
    assert turn.question == "Summarize observing-the-night-sky.pdf" and not turn.error
    assert any(s.startswith("Reading observing-the-night-sky.pdf p. 1") for s in stages)
    assert window.tabs.currentIndex() == 0

    out = tmp_path / "export.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    assert window.export() == out
    text = out.read_text(encoding="utf-8")
    assert "## 1. Summarize observing-the-night-sky.pdf" in text
