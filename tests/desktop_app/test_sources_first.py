"""The Sources pane fills as soon as retrieval is done, while the model has not written a word.

The generator is held at a gate, so "before the first token" is checked by order, not by a
clock (no wall-time assertions); the time it takes with the real models is in docs/quality.md.
"""

from __future__ import annotations

import threading
from pathlib import Path

from desktop_app.ask_panel import READING_TITLE, SOURCES_TITLE, sources_title
from tests.desktop_app.conftest import wait_indexed

TEXT_QUESTION = "How does Naismith's rule estimate hiking time for distance and ascent?"


def test_sources_pane_shows_the_passages_before_the_first_token(
    qtbot, window_factory, sample_docs: Path,
):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    generator = window.controller.kb.hub.generator()  # the fake model, held until we let go
    gate = threading.Event()
    stream = generator.stream

    def held(*args, **kwargs):
        if not gate.wait(30):
            raise TimeoutError("the test never opened the gate")
        yield from stream(*args, **kwargs)

    generator.stream = held  # instance attribute: only this window's model
    panel = window.ask_panel
    try:
        assert panel.ask(TEXT_QUESTION)
        pane = window.sources
        reading = sources_title(READING_TITLE, TEXT_QUESTION)  # paired with its question
        assert reading == f"Reading passages for: {TEXT_QUESTION}"
        qtbot.waitUntil(lambda: pane.title.text() == reading, timeout=10_000)
        assert panel.generating and panel.streamed_text == ""  # the model has written nothing
        names = [Path(s.anchor.path).name for s in pane.sources]
        assert "trail_pace.py" in names and [s.number for s in pane.sources] == list(
            range(1, len(names) + 1))
        assert "Naismith" in pane.list.toPlainText()  # each passage's best snippet is listed
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not panel.generating, timeout=30_000)
    turn = panel.conversation.turns[-1]
    assert turn.found  # the citations replace the list, still paired with the question
    assert pane.title.text() == sources_title(SOURCES_TITLE, TEXT_QUESTION)
    assert pane.sources == turn.sources
