"""The window takes input before the index is open: requests queue and run (or fail) on open.

The index thread's open is held back with an Event (the real `KnowledgeBase.open` runs once it is
set), so each test acts in the window's "opening" state deterministically, not by racing it.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app.history import Conversation, ConversationStore, TurnRecord, read_conversations
from indexer.errors import CairnError
from indexer.events import ScanStarted
from tests.desktop_app.conftest import wait_indexed

QUESTION = "How long should green tea steep in minutes?"


@pytest.fixture
def held_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """`KnowledgeBase.open` waits until the returned Event is set (set again on teardown)."""
    from indexer.service import KnowledgeBase

    release = threading.Event()
    real_open = KnowledgeBase.open

    def held(self: Any) -> Any:
        if not release.wait(60):
            raise TimeoutError("the test never released the open")
        return real_open(self)

    monkeypatch.setattr(KnowledgeBase, "open", held)
    yield release
    release.set()  # a test that failed early must not leave the index thread waiting


def _indexed_home(qtbot: Any, window_factory: Any, sample_docs: Path) -> None:
    """Index the samples once and close that window: the home of a returning user."""
    first = window_factory()
    first.add_folder(sample_docs)
    wait_indexed(qtbot, first, 4)
    first.close()


def _accepting(qtbot: Any, window: Any) -> None:
    qtbot.waitUntil(lambda: window.accepting_input, timeout=60_000)


def test_workspace_exists_before_start(qtbot, cairn_home: Path):
    from desktop_app.app import Controller
    from desktop_app.main import FAKE_MODELS
    from desktop_app.main_window import MainWindow

    controller = Controller(cairn_home, FAKE_MODELS)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    try:
        # Built before the first paint (no GIL contention then), shown once settings arrive.
        assert window.ask_panel is not None and window.workspace is not None
        assert window.pages.currentWidget() is window.loading
        assert not window.ask_panel.ask_button.isEnabled() and not window.accepting_input
    finally:
        window.shutdown()


def test_question_and_search_asked_while_opening_run_once_open(
    qtbot, window_factory, sample_docs: Path, held_open: threading.Event
):
    held_open.set()
    _indexed_home(qtbot, window_factory, sample_docs)
    held_open.clear()
    interval = sys.getswitchinterval()
    window = window_factory(wait_open=False)
    c = window.controller
    order: list[str] = []
    c.kb_opened.connect(lambda _kb: order.append("opened"))
    c.event_received.connect(lambda e: isinstance(e, ScanStarted) and order.append("scan"))
    _accepting(qtbot, window)
    assert c.kb is None and c.opening
    assert sys.getswitchinterval() <= 0.001  # the GUI gets the GIL back quickly while opening
    assert not gc.isenabled()  # no collector passes over the objects the imports create
    panel = window.ask_panel
    assert window.pages.currentWidget() is window.workspace
    assert panel.ask_button.isEnabled() and "Opening the index" in panel.stage_label.text()
    assert panel.ask(QUESTION)
    assert panel.generating and "Waiting for the index" in panel.stage_label.text()
    window.search_panel.edit.setText("green tea")
    qtbot.waitUntil(lambda: "Opening the index" in window.search_panel.info.text(), timeout=5000)
    assert c.kb is None  # nothing above needed the index

    held_open.set()
    qtbot.waitUntil(lambda: not panel.generating, timeout=60_000)
    turn = panel.conversation.turns[-1]
    assert turn.question == QUESTION and turn.found and not turn.error
    assert any("brewing-green-tea.html" in s.anchor.path for s in turn.sources)
    qtbot.waitUntil(lambda: bool(window.search_panel.results), timeout=30_000)
    assert sys.getswitchinterval() == interval and gc.isenabled()
    qtbot.waitUntil(lambda: "scan" in order, timeout=30_000)
    assert order[:2] == ["opened", "scan"]  # searching did not wait for the folder walk


def test_stop_drops_a_question_queued_while_opening(
    qtbot, window_factory, held_open: threading.Event
):
    window = window_factory(wait_open=False)
    c = window.controller
    panel = window.ask_panel
    _accepting(qtbot, window)
    assert panel.ask("Anything there?")
    panel.stop()
    qtbot.waitUntil(lambda: not panel.generating, timeout=5000)
    turn = panel.conversation.turns[-1]
    assert turn.cancelled and not turn.error
    assert panel.ask_button.text() == "Ask" and panel.ask_button.isEnabled()
    held_open.set()
    qtbot.waitUntil(lambda: c.kb is not None, timeout=60_000)
    qtbot.wait(50)
    assert not c.answering and len(panel.conversation.turns) == 1  # it was never sent


def test_sample_folder_chosen_while_opening_is_indexed(
    qtbot, window_factory, cairn_home: Path, held_open: threading.Event
):
    window = window_factory(wait_open=False)
    _accepting(qtbot, window)
    assert window.pages.currentWidget() is window.welcome
    assert window.welcome.samples_button.isEnabled()  # first run: the welcome page takes input
    window.welcome.samples_button.click()
    state = window.welcome.state_label
    qtbot.waitUntil(lambda: "read as soon as it is open" in state.text(), timeout=30_000)
    assert window.controller.kb is None
    held_open.set()
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.workspace, timeout=30_000)
    wait_indexed(qtbot, window, 4)
    assert [p.name for p in window.controller.kb.folders()] == ["Sample documents"]


def test_requests_queued_while_opening_fail_with_the_reason(
    qtbot, window_factory, monkeypatch: pytest.MonkeyPatch, held_open: threading.Event
):
    from indexer.service import KnowledgeBase

    def fail(self: Any) -> Any:
        held_open.wait(60)
        raise CairnError("The index is damaged.", hint="Delete the index folder.")

    monkeypatch.setattr(KnowledgeBase, "open", fail)
    interval = sys.getswitchinterval()
    window = window_factory(wait_open=False)
    panel = window.ask_panel
    _accepting(qtbot, window)
    assert panel.ask("Anything there?")
    window.search_panel.edit.setText("tea")
    qtbot.waitUntil(lambda: "Opening the index" in window.search_panel.info.text(), timeout=5000)
    held_open.set()
    qtbot.waitUntil(lambda: not panel.generating, timeout=30_000)
    assert "The index is damaged." in panel.conversation.turns[-1].error
    assert "Search failed: The index is damaged." in window.search_panel.info.text()
    assert not panel.ask_button.isEnabled() and not window.accepting_input
    assert "Delete the index folder." in window.notice.label.text()
    assert "could not open" in panel.stage_label.text()
    assert sys.getswitchinterval() == interval and gc.isenabled()


def test_history_read_later_keeps_what_was_added_meanwhile(tmp_path: Path):
    old = ConversationStore.for_home(tmp_path)
    saved = Conversation(title="Saved earlier")
    old.add_turn(saved, TurnRecord("q", "a"))
    store = ConversationStore.for_home(tmp_path, load=False)
    assert not store.loaded
    new = Conversation()
    store.add_turn(new, TurnRecord("new question", "new answer"))  # a save before the read
    assert {c.id for c in read_conversations(store.path)[0]} == {saved.id, new.id}
    store.adopt(*read_conversations(store.path))  # the pool's read arrives afterwards
    assert [c.id for c in store.conversations] == [new.id, saved.id]
