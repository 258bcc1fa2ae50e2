"""The Folders panel follows the collection switcher, and the window remembers the collection.

Real KnowledgeBase and LanceDB in the test's home, fake models (as test_collection_switcher.py).
A person with three folders makes a collection of two: the Folders panel then lists those two,
their files only, under a line naming the collection; "All folders" lists all three again. A
folder added while the collection is shown joins it (and is indexed); Remove takes it out of the
collection only. Closing the window and opening a new one over the same home starts in the same
collection; if it was deleted meanwhile (outside the window), the window starts in all folders.
Set CAIRN_SCREENSHOT_DIR to also save the filtered panel's screenshot there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from desktop_app.window_state import WindowState
from tests.desktop_app.conftest import WindowFactory, wait_indexed

TIMEOUT_MS = 10_000


def _folders(root: Path) -> list[Path]:
    out = []
    for name, text in (("birds", "The heron waits in the shallows at dawn."),
                       ("fish", "The trout waits in the shallows at dusk."),
                       ("ferns", "The fern unrolls in the shade of the oak.")):
        d = root / name
        d.mkdir(parents=True)
        (d / f"{name}.md").write_text(f"# {name}\n\n{text}\n", encoding="utf-8")
        (d / f"{name}-notes.txt").write_text(f"Notes on {name}.\n", encoding="utf-8")
        out.append(d)
    return out


def _open_with_collection(qtbot: Any, window_factory: WindowFactory, root: Path) -> Any:
    """A window watching birds, fish and ferns, switched to the collection "Water" (two)."""
    birds, fish, ferns = _folders(root)
    window = window_factory()
    c = window.controller
    for folder in (birds, fish, ferns):
        assert c.add_folder(folder)
    wait_indexed(qtbot, window, 6)
    window.show_tab(2)  # the panel reads files only while shown
    assert window.collections.create("Water", [birds, fish])
    qtbot.waitUntil(lambda: window.collections.current == "Water", timeout=TIMEOUT_MS)
    return window


def _shown(panel: Any) -> list[str]:
    return [panel.tree.topLevelItem(i).data(0, 256) for i in range(panel.tree.topLevelItemCount())]


def test_folders_panel_shows_the_chosen_collection(
    qtbot: Any, window_factory: WindowFactory, tmp_path: Path
) -> None:
    root = tmp_path / "docs"
    window = _open_with_collection(qtbot, window_factory, root)
    panel, switcher = window.folders_panel, window.collections
    water = [str(root / "birds"), str(root / "fish")]
    qtbot.waitUntil(lambda: _shown(panel) == water, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: len(panel.records) == 4, timeout=TIMEOUT_MS)
    assert all(Path(r.path).parent.name in ("birds", "fish") for r in panel.records)
    assert len(panel.model.records) == 4  # the file table too, with no folder selected
    assert not panel.scope_line.isHidden()
    assert panel.scope_line.text().startswith("Showing collection “Water” — 2 of 3 folders")
    assert panel.remove_button.text() == "Remove from collection"
    qtbot.waitUntil(lambda: "4 files indexed" in panel.summary.text(), timeout=TIMEOUT_MS)

    if os.environ.get("CAIRN_SCREENSHOT_DIR"):
        window.resize(1180, 640)  # no folder selected: the table lists the collection's files
        qtbot.waitUntil(lambda: switcher.progress.text().startswith("4 files"),
                        timeout=TIMEOUT_MS)
        qtbot.wait(100)
        out = Path(os.environ["CAIRN_SCREENSHOT_DIR"])
        window.grab().save(str(out / "09-collection-folders.png"))

    switcher.select(None)  # all folders: everything again, no scope line
    assert _shown(panel) == [str(root / n) for n in ("birds", "fish", "ferns")]
    assert len(panel.records) == 6 and len(panel.model.records) == 6
    assert panel.scope_line.isHidden() and panel.remove_button.text() == "Remove"
    switcher.select("Water")
    assert _shown(panel) == water and len(panel.records) == 4


def test_folder_added_in_a_collection_joins_it(
    qtbot: Any, window_factory: WindowFactory, tmp_path: Path
) -> None:
    root = tmp_path / "docs"
    window = _open_with_collection(qtbot, window_factory, root)
    panel, c = window.folders_panel, window.controller
    moss = root / "moss"
    moss.mkdir()
    (moss / "moss.md").write_text("# moss\n\nMoss grows on the north side.\n", encoding="utf-8")
    assert window.add_folder(moss)  # as a drop on the window does
    qtbot.waitUntil(lambda: str(moss) in _shown(panel), timeout=TIMEOUT_MS)
    assert moss in c.kb.collections.folders("Water") and moss in c.kb.folders()
    qtbot.waitUntil(lambda: any(Path(r.path).parent == moss and str(r.stage) == "embedded"
                                for r in panel.records), timeout=60_000)
    assert "3 of 4 folders" in panel.scope_line.text()

    panel.tree.setCurrentItem(panel.tree.topLevelItem(_shown(panel).index(str(moss))))
    assert panel.remove_selected(confirm=False)  # out of the collection, still indexed
    qtbot.waitUntil(lambda: str(moss) not in _shown(panel), timeout=TIMEOUT_MS)
    assert moss not in c.kb.collections.folders("Water") and moss in c.kb.folders()
    assert (moss / "moss.md").exists()
    window.collections.select(None)
    assert str(moss) in _shown(panel)


def test_the_chosen_collection_survives_a_restart(
    qtbot: Any, window_factory: WindowFactory, tmp_path: Path, cairn_home: Path
) -> None:
    root = tmp_path / "docs"
    first = _open_with_collection(qtbot, window_factory, root)
    first.close()
    assert WindowState.for_home(cairn_home).collection == "Water"

    second = window_factory()  # a new window over the same home
    second.show_tab(2)
    switcher, panel = second.collections, second.folders_panel
    assert switcher.current == "Water"  # restored from the settings, before the first read
    assert second.controller.collection == "Water"
    qtbot.waitUntil(lambda: switcher.combo.count() == 2 and switcher.names() == ["Water"],
                    timeout=TIMEOUT_MS)
    assert switcher.current == "Water"
    qtbot.waitUntil(lambda: _shown(panel) == [str(root / "birds"), str(root / "fish")],
                    timeout=TIMEOUT_MS)
    assert "“Water”" in panel.scope_line.text()

    switcher.select(None)  # and "all folders" is remembered too
    second.close()
    assert WindowState.for_home(cairn_home).collection is None
    third = window_factory()
    qtbot.waitUntil(lambda: third.collections.names() == ["Water"], timeout=TIMEOUT_MS)
    assert third.collections.current is None and third.controller.collection is None


def test_a_deleted_remembered_collection_falls_back_to_all(
    qtbot: Any, window_factory: WindowFactory, tmp_path: Path, cairn_home: Path
) -> None:
    from indexer.config import load_settings, save_settings

    root = tmp_path / "docs"
    first = _open_with_collection(qtbot, window_factory, root)
    assert first.collections.create("Plants", [root / "ferns"])
    qtbot.waitUntil(lambda: first.collections.current == "Plants", timeout=TIMEOUT_MS)
    first.close()
    assert WindowState.for_home(cairn_home).collection == "Plants"
    settings = load_settings(cairn_home)  # deleted outside the window (`cairn collection ...`)
    settings.collections = {"Water": settings.collections["Water"]}
    save_settings(settings, keys={"collections"})

    second = window_factory(wait_open=False)
    switcher, panel = second.collections, second.folders_panel
    chosen: list[str | None] = []
    switcher.collection_selected.connect(chosen.append)  # before the settings arrive
    second.show_tab(2)
    qtbot.waitUntil(lambda: switcher.names() == ["Water"], timeout=60_000)
    assert "Plants" not in chosen  # never chosen, not even for a moment
    assert switcher.current is None and second.controller.collection is None
    assert switcher.combo.count() == 2  # all folders and Water; no trace of Plants
    qtbot.waitUntil(lambda: len(_shown(panel)) == 3, timeout=TIMEOUT_MS)
    assert panel.collection is None and panel.scope_line.isHidden()
    assert not second.notice.isVisible()  # silently
    assert WindowState.for_home(cairn_home).collection is None
