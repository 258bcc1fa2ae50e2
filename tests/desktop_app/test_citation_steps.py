"""Stepping through an answer's citations in the real window (issue 21, the pieces together).

One answer cites a sentence of a Python file and a sentence on page 3 of a PDF. What is pinned,
as a user sees it: the chip opens the first source in the Sources pane with exactly its cited
sentence highlighted; F8 (Go ▸ Next Citation) opens the other file with its cited sentence
marked, and Shift+F8 comes back; one key press is one step (the menu's shortcut and the viewers'
own F8 handling do not both fire); the list and the place label follow.

The answer comes from the fake model through the real seam (the hub's generator): only what it
writes is scripted, so retrieval, citation spans, history and the viewers are the real ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from desktop_app.viewers import PdfViewer, TextViewer
from models.generator import parse_prompt
from tests.desktop_app.conftest import ask_and_wait, wait_indexed

QUESTION = ("How much time does Naismith's rule allow for ascent, and what is a popular "
            "choice for a first telescope?")
# One sentence of each file, as they begin in the passages (the PDF breaks its printed lines).
TEXT_START = "Naismith's rule (William W. Naismith, 1892)"
PDF_START = "A 150 mm Dobsonian reflector"


def loose(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.replace("\x02", "").split()))


def sentence_from(passages: dict[int, str], start: str) -> tuple[int, str]:
    """The passage holding the sentence that begins with `start`, and that sentence."""
    for number, text in passages.items():
        flat = " ".join(text.split())
        if start in flat:
            rest = flat[flat.index(start):]
            return number, rest[: rest.index(". ") + 1] if ". " in rest else rest
    raise AssertionError(f"no passage holds {start!r}: {list(passages.values())}")


def two_file_answer(messages: list[dict[str, str]]) -> str:
    """What the scripted model writes: one sentence of each file, each with its marker."""
    user = next(m["content"] for m in reversed(messages) if m.get("role") == "user")
    passages, _question = parse_prompt(user)
    text_n, text_sentence = sentence_from(passages, TEXT_START)
    pdf_n, pdf_sentence = sentence_from(passages, PDF_START)
    return f"{text_sentence} [{text_n}] {pdf_sentence} [{pdf_n}]"


def shown_sentences(window: Any) -> list[str]:
    viewer = window.sources.stack.currentWidget()
    assert isinstance(viewer, (TextViewer, PdfViewer)), type(viewer).__name__
    return [loose(t) for t in viewer.highlighted_texts()]


def test_f8_steps_between_cited_sentences_in_two_files(qtbot, window_factory,
                                                       sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    window.controller.kb.hub.generator().answer = two_file_answer  # this window's model only
    turn = ask_and_wait(qtbot, window, QUESTION)
    assert turn.found, turn.answer
    first, second = turn.sources
    assert {Path(first.anchor.path).suffix, Path(second.anchor.path).suffix} == {".py", ".pdf"}
    for source in (first, second):
        assert source.spans and all(source.cited_texts), source

    sources = window.sources
    viewers = {".py": sources.text_viewer, ".pdf": sources.pdf_viewer}
    opened: list[Any] = []
    sources.source_opened.connect(lambda source, _how: opened.append(source))
    requested: list[int] = []
    for viewer in viewers.values():
        viewer.citation_requested.connect(requested.append)
    viewer_steps: list[int] = []  # every step a viewer takes, whoever asks for it
    for viewer in viewers.values():
        viewer.step_citation = lambda delta, step=viewer.step_citation: (
            viewer_steps.append(delta) or step(delta))
    menu_steps: list[int] = []
    window.next_citation_action.triggered.connect(lambda: menu_steps.append(1))
    window.previous_citation_action.triggered.connect(lambda: menu_steps.append(-1))

    def shows(source: Any) -> bool:
        """`source` is open in its viewer with exactly its cited sentences highlighted."""
        viewer = viewers[Path(source.anchor.path).suffix]
        return (sources.stack.currentWidget() is viewer and viewer.path == source.anchor.path
                and shown_sentences(window) == [loose(t) for t in source.cited_texts])

    # The chip of the first citation: its file, at the cited sentence.
    window.ask_panel.activate_citation(len(window.ask_panel.conversation.turns) - 1,
                                       first.number)
    qtbot.waitUntil(lambda: shows(first), timeout=10_000)
    assert sources.current is first
    assert f"Citation [{first.number}]" in sources.stack.currentWidget().bar.label.text()

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    for delta, source, back in ((1, second, first), (-1, first, second)):
        viewer = sources.stack.currentWidget()
        focus = viewer.view if isinstance(viewer, PdfViewer) else viewer
        focus.setFocus()  # where a reader's keys go: the source they are reading
        qtbot.waitUntil(focus.hasFocus)
        before = len(opened)
        modifier = (Qt.KeyboardModifier.ShiftModifier if delta < 0
                    else Qt.KeyboardModifier.NoModifier)
        qtbot.keyClick(focus, Qt.Key.Key_F8, modifier)
        qtbot.waitUntil(lambda s=source: shows(s), timeout=10_000)
        qtbot.wait(200)  # a second step, if the key also reached the viewer, would land now
        assert opened[before:] == [source] and viewer_steps[-1:] == [delta]
        assert len(viewer_steps) == len(menu_steps), "one key press, one step"
        assert requested[-1] == source.number and menu_steps[-1] == delta
        assert sources.current is source and source.label in sources.place.text()
        label = sources.stack.currentWidget().bar.label.text()
        assert f"Citation [{source.number}]" in label and f"of {len(turn.sources)}" in label
        if isinstance(sources.stack.currentWidget(), PdfViewer):
            marks = sources.pdf_viewer.view.marks
            assert marks and marks[0].page == source.anchor.page - 1 == 2, "page 3"
            assert sources.pdf_viewer.current_page() == 3
        else:
            first_line = sources.text_viewer.line_span[0]
            qtbot.waitUntil(lambda n=first_line: n - 4 <= sources.text_viewer.first_visible_line()
                            <= n)
        assert back is not source
    assert menu_steps == [1, -1] and len(requested) == 2
    assert not window.step_citation(-1), "nothing before the first citation"
