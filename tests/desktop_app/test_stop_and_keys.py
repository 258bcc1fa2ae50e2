"""Stop (button or Esc) cancels generation; keyboard shortcuts reach their targets."""

from __future__ import annotations

from pathlib import Path

from tests.desktop_app.conftest import wait_indexed

LONG_QUESTION = "How does Naismith's rule estimate hiking time for distance and ascent?"


def _slow_generator(window, delay: float = 0.05) -> None:
    gen = window.controller.kb.hub.generator()  # the fake model: slow it down to watch a stream
    gen.piece_delay = delay


def test_stop_button_cancels(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    _slow_generator(window, 0.2)
    panel = window.ask_panel
    assert panel.ask(LONG_QUESTION)
    assert panel.ask_button.text() == "Stop" and window.stop_action.isEnabled()
    qtbot.waitUntil(lambda: bool(panel.streamed_text), timeout=20_000)
    panel.ask_button.click()
    qtbot.waitUntil(lambda: not panel.generating, timeout=10_000)
    turn = panel.conversation.turns[-1]
    assert turn.cancelled
    assert panel.ask_button.text() == "Ask" and not window.stop_action.isEnabled()
    assert "stopped" in panel.transcript.toPlainText()


def test_escape_stops_generation(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    _slow_generator(window, 0.2)
    panel = window.ask_panel
    window.activateWindow()
    assert panel.ask(LONG_QUESTION)
    qtbot.waitUntil(lambda: bool(panel.streamed_text), timeout=20_000)
    window.stop_action.trigger()  # what Esc triggers (a window shortcut while generating)
    assert window.stop_action.shortcut().toString() == "Esc"
    qtbot.waitUntil(lambda: not panel.generating, timeout=10_000)
    assert panel.conversation.turns[-1].cancelled


def test_shortcuts(qtbot, window_factory):
    window = window_factory()
    window.workspace and window.pages.setCurrentWidget(window.workspace)
    assert window.search_action.shortcut().toString() == "Ctrl+K"
    assert window.new_action.shortcut().toString() == "Ctrl+N"
    assert window.settings_action.shortcut().toString() == "Ctrl+,"
    window.search_action.trigger()
    assert window.tabs.currentWidget() is window.search_panel
    window.new_action.trigger()
    assert window.tabs.currentWidget() is window.ask_panel
    window.settings_action.trigger()
    assert window._settings_dialog is not None
    window._settings_dialog.reject()


def test_ctrl_k_from_the_question_box(qtbot, window_factory):
    from PySide6.QtCore import Qt

    window = window_factory()
    window.show_tab(0)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.ask_panel.question.setFocus()
    qtbot.keyClick(window.ask_panel.question, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.search_panel
    assert window.search_panel.edit.hasFocus()
