"""The collection switcher (desktop_app/collection_switcher.py) in the window, with fake models.

A person creates a collection of one folder, asks in it (the answer's passages come from that
folder only, the conversation remembers its collection), switches to "All folders" (the
conversation is not listed there) and back, renames the collection (its conversation follows)
and deletes it (no file is deleted, the folder stays indexed, the conversation joins "all").
Set CAIRN_SCREENSHOT_DIR to also save the switcher's screenshot there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.desktop_app.conftest import WindowFactory, ask_and_wait, wait_indexed


def _folders(root: Path) -> tuple[Path, Path]:
    birds, fish = root / "birds", root / "fish"
    for d, text in ((birds, "The heron waits in the shallows for a fish at dawn."),
                    (fish, "The trout waits in the shallows for a fly at dusk.")):
        d.mkdir(parents=True)
        (d / f"{d.name}.md").write_text(f"# {d.name}\n\n{text}\n", encoding="utf-8")
    return birds, fish


def _listed(window: Any) -> list[str]:
    lst = window.conversations.list
    return [lst.item(i).text() for i in range(lst.count())]


def test_switcher_scopes_asking_and_conversations(
    qtbot: Any, window_factory: WindowFactory, tmp_path: Path
) -> None:
    birds, fish = _folders(tmp_path / "docs")
    window = window_factory()
    c, switcher = window.controller, window.collections
    assert switcher is not None and switcher.current is None
    assert c.add_folder(birds) and c.add_folder(fish)
    wait_indexed(qtbot, window, 2)

    assert switcher.create("Birds", [birds])
    qtbot.waitUntil(lambda: switcher.current == "Birds", timeout=10_000)
    assert c.collection == "Birds"
    qtbot.waitUntil(lambda: switcher.progress.text().startswith("1 file"), timeout=10_000)
    assert "Birds (1 file)" in [switcher.combo.itemText(i) for i in range(switcher.combo.count())]

    turn = ask_and_wait(qtbot, window, "What waits in the shallows?")
    conversation = window.ask_panel.conversation
    assert conversation.collection == "Birds"
    assert turn.sources and all(Path(s.anchor.path).parent == birds for s in turn.sources)
    assert _listed(window) == [conversation.display_title]

    switcher.select(None)  # all folders: the Birds conversation is not listed there
    assert c.collection is None and _listed(window) == []
    assert window.ask_panel.conversation is not conversation
    switcher.select("Birds")
    assert _listed(window) == [conversation.display_title]

    assert switcher.rename("Herons")
    qtbot.waitUntil(lambda: switcher.names() == ["Herons"], timeout=10_000)
    assert switcher.current == "Herons" and c.collection == "Herons"
    assert conversation.collection == "Herons"
    saved = json.loads((c.home / "conversations.json").read_text(encoding="utf-8"))
    assert [conv["collection"] for conv in saved["conversations"]] == ["Herons"]

    if os.environ.get("CAIRN_SCREENSHOT_DIR"):
        assert switcher.create("Rivers", [fish])
        qtbot.waitUntil(lambda: switcher.current == "Rivers", timeout=10_000)
        switcher.select("Herons")
        qtbot.waitUntil(lambda: switcher.progress.text().startswith("1 file"), timeout=10_000)
        window.resize(1180, 640)
        window.show_tab(0)
        window.ask_panel.set_conversation(conversation)
        window.conversations.refresh(conversation)
        qtbot.wait(100)
        out = Path(os.environ["CAIRN_SCREENSHOT_DIR"])
        window.grab().save(str(out / "09-collection-switcher.png"))

    names = switcher.names()
    assert switcher.delete()
    qtbot.waitUntil(lambda: switcher.names() == [n for n in names if n != "Herons"],
                    timeout=10_000)
    qtbot.waitUntil(lambda: switcher.combo.count() == len(names), timeout=10_000)
    assert switcher.current is None and c.collection is None
    assert conversation.collection is None  # it joined "all folders", nothing was deleted
    assert (birds / "birds.md").exists() and birds in c.kb.folders()
    qtbot.waitUntil(lambda: conversation.display_title in _listed(window), timeout=5_000)


def test_conversations_remember_their_collection(tmp_path: Path) -> None:
    """Files written before collections load as "all folders"; new ones keep their collection
    and follow a rename or a deletion."""
    from desktop_app.history import Conversation, ConversationStore, TurnRecord

    old = {"version": 1, "conversations": [{"id": "a", "title": "old", "turns": []}]}
    (tmp_path / "conversations.json").write_text(json.dumps(old), encoding="utf-8")
    store = ConversationStore.for_home(tmp_path)
    assert store.get("a").collection is None
    store.collection = "Work"
    conv = Conversation()
    store.add_turn(conv, TurnRecord(question="q?", answer="a."))
    assert conv.collection == "Work" and store.in_collection("Work") == [conv]
    store.move_collection("Work", "Job")
    reread = ConversationStore.for_home(tmp_path)
    assert reread.get(conv.id).collection == "Job"
    reread.move_collection("Job", None)
    assert ConversationStore.for_home(tmp_path).get(conv.id).collection is None
