"""The Folders panel follows the collection switcher, and the window remembers the collection.

Real KnowledgeBase and LanceDB in the test's home, fake models (as test_collection_switcher.py).
A person with three folders makes a collection of two: the Folders panel then lists those two,
their files only, under a line naming the collection; "All folders" lists all three again. A
folder added while the collection is shown joins it (and is indexed); Remove takes it out of the
collection only.
Set CAIRN_SCREENSHOT_DIR to also save the filtered panel's screenshot there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
        window.resize(1180, 640)
        panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
        qtbot.waitUntil(lambda: switcher.progress.text().startswith("4 files"),
                        timeout=TIMEOUT_MS)
        qtbot.wait(100)
        out = Path(os.environ["CAIRN_SCREENSHOT_DIR"])
        window.grab().save(str(out / "09-collection-folders.png"))
        panel.tree.setCurrentItem(None)

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
