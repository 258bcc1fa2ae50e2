"""Add a folder → files indexed → ask → the answer streams → a chip selects and opens the source."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QGuiApplication

from desktop_app.ask_panel import STAGE_TEXT, AskPanel
from indexer.answer.answering import AnswerStage, AnswerToken
from tests.desktop_app.conftest import ask_and_wait, wait_indexed

# The fake generator answers with the first sentence of the passage sharing the most words.
TEXT_QUESTION = "How does Naismith's rule estimate hiking time for distance and ascent?"
PDF_QUESTION = "How many minutes does the eye take to adapt fully to darkness at night?"


def test_add_folder_index_ask_and_open_text_citation(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    assert window.pages.currentWidget() is window.welcome  # first run: no folders yet
    window.add_folder(sample_docs)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.workspace, timeout=30_000)
    wait_indexed(qtbot, window, 4)
    folders = window.folders_panel
    qtbot.waitUntil(lambda: folders.stats.get(str(sample_docs), {}).get("done") == 4)
    assert len(folders.model.records) == 4

    tokens: list[str] = []
    panel: AskPanel = window.ask_panel
    original = panel._on_stream_item

    def spy(item):
        if isinstance(item, AnswerToken):
            tokens.append(item.text)
        original(item)

    panel._on_stream_item = spy  # type: ignore[method-assign]
    turn = ask_and_wait(qtbot, window, TEXT_QUESTION)
    assert not turn.error, turn.error
    assert turn.found, turn.answer
    assert len(tokens) > 1  # streamed piece by piece, not in one block
    assert turn.sources, "a found answer cites its sources"
    cited = turn.sources[0]
    assert os.path.basename(cited.anchor.path) == "trail_pace.py"
    # The final answer shows [n] as chips linking to the source.
    assert f"cite:0:{cited.number}" in panel.transcript.toHtml()

    opened = []
    window.sources.source_opened.connect(lambda s, how: opened.append((s, how)))
    panel.transcript.anchorClicked.emit(QUrl(f"cite:0:{cited.number}"))  # click the chip
    qtbot.waitUntil(lambda: bool(opened))
    source, how = opened[-1]
    assert source is cited and how == "text"
    viewer = window.sources.text_viewer
    assert window.sources.stack.currentWidget() is viewer
    assert viewer.line_span is not None and viewer.line_span[0] == cited.anchor.line_start
    assert viewer.line_span[0] - 4 <= viewer.first_visible_line() <= viewer.line_span[0]
    assert viewer.extraSelections(), "the cited lines are highlighted"
    assert viewer.isReadOnly()
    # The span stays in view when the wrapping width changes (until the user scrolls).
    window.workspace.setSizes([100, 300, 300])
    qtbot.wait(50)
    assert viewer.line_span[0] - 4 <= viewer.first_visible_line() <= viewer.line_span[0]

    # Copy answer puts the text and the numbered sources on the clipboard.
    panel.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert turn.answer.split("[")[0].strip()[:20] in copied and "Sources:" in copied


def test_pdf_citation_opens_at_cited_page(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    turn = ask_and_wait(qtbot, window, PDF_QUESTION)
    assert turn.found, turn.answer
    pdf = next(s for s in turn.sources if s.anchor.path.endswith(".pdf"))
    assert pdf.anchor.page == 1
    opened = []
    window.sources.source_opened.connect(lambda s, how: opened.append(how))
    window.ask_panel.activate_citation(0, pdf.number)
    qtbot.waitUntil(lambda: "pdf" in opened)
    viewer = window.sources.pdf_viewer
    assert window.sources.stack.currentWidget() is viewer
    qtbot.waitUntil(lambda: viewer.document.pageCount() == 3)
    assert viewer.current_page() == pdf.anchor.page
    assert window.sources.open_button.isEnabled()


def test_pdf_viewer_jumps_to_a_later_page(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    turn = ask_and_wait(qtbot, window, "Which binoculars are the best first instrument to buy?")
    assert turn.found, turn.answer
    pdf = next(s for s in turn.sources if s.anchor.path.endswith(".pdf"))
    assert pdf.anchor.page == 3
    window.ask_panel.activate_citation(0, pdf.number)
    viewer = window.sources.pdf_viewer
    qtbot.waitUntil(lambda: viewer.document.pageCount() == 3 and viewer.current_page() == 3)


def test_not_found_shows_closest_passages(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    question = "What is the airspeed velocity of an unladen swallow?"
    turn = ask_and_wait(qtbot, window, question)
    assert not turn.found
    html = window.ask_panel.transcript.toPlainText()
    assert "couldn't find" in html
    assert window.sources.title.text() == f"Closest passages for: {question}"
    assert window.sources.sources == turn.sources


def test_enter_asks_and_shift_enter_adds_a_line(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    panel = window.ask_panel
    panel.question.setFocus()
    qtbot.keyClicks(panel.question, "How long should green tea steep")
    qtbot.keyClick(panel.question, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert "\n" in panel.question.toPlainText()
    qtbot.keyClicks(panel.question, "in minutes?")
    qtbot.keyClick(panel.question, Qt.Key.Key_Return)
    assert panel.generating or panel.conversation.turns
    qtbot.waitUntil(lambda: bool(panel.conversation.turns) and not panel.generating)
    assert panel.question.toPlainText() == ""
    assert "green tea steep" in panel.conversation.turns[0].question


def test_citation_of_removed_file_is_not_opened(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    turn = ask_and_wait(qtbot, window, TEXT_QUESTION)
    source = turn.sources[0]
    panel = window.folders_panel
    qtbot.waitUntil(lambda: len(panel.records) == 4)
    window.controller.remove_folder(sample_docs)
    qtbot.waitUntil(lambda: panel.records == [] and panel.folders == [], timeout=30_000)
    opened = []
    window.sources.source_opened.connect(lambda s, how: opened.append(how))
    window.ask_panel.activate_citation(0, source.number)
    qtbot.waitUntil(lambda: bool(opened))
    assert opened == ["missing"]
    assert not window.sources.open_button.isEnabled()


def test_second_look_replaces_the_streamed_refusal(qtbot, window_factory):
    """A "rereading" stage voids what streamed so far: the first look's refusal disappears and
    the second look's answer streams in its place (indexer/answer/answering.py, second look)."""
    window = window_factory()
    panel: AskPanel = window.ask_panel
    panel.generating = True  # as after a click on Ask; the stream items arrive as signals do
    panel._on_stream_item(AnswerToken("I couldn't find this in your documents."))
    qtbot.waitUntil(lambda: "couldn't find" in panel.transcript.toPlainText())
    panel._on_stream_item(AnswerStage("rereading"))
    assert panel.stage_label.text() == STAGE_TEXT["rereading"]
    for piece in ("Lambdas cannot ", "contain statements [1]."):
        panel._on_stream_item(AnswerToken(piece))
    qtbot.waitUntil(lambda: "Lambdas cannot contain" in panel.transcript.toPlainText())
    assert "couldn't find" not in panel.transcript.toPlainText()
    panel.generating = False
