"""Conversations persist across restarts, can be renamed and deleted; follow-ups pass history."""

from __future__ import annotations

import json
from pathlib import Path

from desktop_app.history import Conversation, ConversationStore, Source, TurnRecord
from indexer.answer.answering import Turn
from indexer.records import Anchor
from tests.desktop_app.conftest import ask_and_wait, wait_indexed


def _turn(q: str, a: str = "An answer [1].") -> TurnRecord:
    src = Source(1, Anchor("/docs/a.md", heading_path=("Top", "Sub"), line_start=3, line_end=5),
                 "passage text", "«passage» text")
    return TurnRecord(q, a, True, [src])


def test_store_round_trip_and_atomic_file(tmp_path: Path):
    store = ConversationStore.for_home(tmp_path)
    conv = Conversation()
    store.add_turn(conv, _turn("What is it?"))
    store.rename(conv.id, "  My   notes ")
    data = json.loads((tmp_path / "conversations.json").read_text())
    assert data["version"] == 1 and data["conversations"][0]["title"] == "My notes"
    assert not list(tmp_path.glob(".conversations-*"))  # no temp files left behind
    again = ConversationStore.for_home(tmp_path)
    loaded = again.conversations[0]
    assert loaded.title == "My notes"
    src = loaded.turns[0].sources[0]
    assert src.anchor.heading_path == ("Top", "Sub") and src.anchor.line_start == 3
    assert src.label.startswith("a.md:3-5")
    again.delete(loaded.id)
    assert ConversationStore.for_home(tmp_path).conversations == []


def test_damaged_file_is_kept_aside(tmp_path: Path):
    (tmp_path / "conversations.json").write_text("{not json")
    store = ConversationStore.for_home(tmp_path)
    assert store.conversations == [] and store.load_error
    assert (tmp_path / "conversations.json.bad").exists()


def test_history_for_follow_ups_skips_errors(tmp_path: Path):
    conv = Conversation()
    conv.turns = [_turn("q1", "a1"), TurnRecord("q2", error="model missing"), _turn("q3", "a3")]
    assert conv.history() == [Turn("q1", "a1"), Turn("q3", "a3")]
    assert conv.display_title == "q1"


def test_history_persists_across_window_restart(qtbot, window_factory, sample_docs: Path,
                                                cairn_home: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    first = ask_and_wait(qtbot, window, "How long should green tea steep in minutes?")
    assert first.found
    seen_history = []
    original = window.controller.ask

    def spy(question, history, *args):
        seen_history.append(list(history))
        return original(question, history, *args)

    window.controller.ask = spy  # type: ignore[method-assign]
    ask_and_wait(qtbot, window, "And what water temperature should it be brewed at?")
    assert seen_history[-1] == [Turn(first.question, first.answer)]  # the follow-up got history
    conv_id = window.ask_panel.conversation.id
    window.conversations.rename(conv_id, "Tea")
    assert window.conversations.list.item(0).text() == "Tea"
    window.close()

    window2 = window_factory()
    assert window2.store.conversations[0].id == conv_id
    assert window2.store.conversations[0].title == "Tea"
    assert len(window2.store.conversations[0].turns) == 2
    assert window2.conversations.list.count() == 1
    assert window2.ask_panel.conversation.id == conv_id  # the latest conversation is reopened
    assert "green tea steep" in window2.ask_panel.transcript.toPlainText()
    # Sources of a restored turn still open.
    opened = []
    window2.sources.source_opened.connect(lambda s, how: opened.append(how))
    turn0 = window2.ask_panel.conversation.turns[0]
    window2.ask_panel.activate_citation(0, turn0.sources[0].number)
    qtbot.waitUntil(lambda: bool(opened))
    assert opened[0] != "missing"

    # New conversation (Ctrl+N) and delete.
    assert window2.sources.sources and window2.sources.stack.currentWidget() is not \
        window2.sources.placeholder
    window2.new_action.trigger()
    assert window2.ask_panel.conversation.turns == []
    # ... and the last conversation's sources and open file leave the Sources pane with it.
    assert window2.sources.sources == [] and window2.sources.list.toPlainText() == ""
    assert window2.sources.stack.currentWidget() is window2.sources.placeholder
    assert window2.sources.title.text() == "Sources"
    assert not window2.sources.open_button.isEnabled()
    window2.conversations.list.setCurrentRow(0)
    window2.conversations.delete_current()
    assert window2.store.conversations == []
    assert ConversationStore.for_home(cairn_home).conversations == []
