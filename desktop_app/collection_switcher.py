"""The collection switcher: which collection the window searches, answers and lists in.

A combo ("All folders" and each collection, with its number of indexed files), a menu to create,
rename and delete collections and to add a folder to one, and a line with the current
collection's files and indexing progress. Collections live in the core
(`indexer/collection_sets.py`); changes run on the index thread through
`Controller.change_collections` (creating one may start watching a folder), reads on the pool.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.theme import SPACING, bind_icon, set_role
from indexer.collection_sets import in_scope

if TYPE_CHECKING:
    from desktop_app.app import Controller
    from indexer.service import KnowledgeBase

ALL_LABEL = "All folders"


def _files_label(n: int) -> str:
    return f"{n} file{'' if n == 1 else 's'}"


def collection_column(switcher: CollectionSwitcher, conversations: QWidget) -> QWidget:
    """The window's left column: the switcher above the collection's conversations."""
    column = QWidget()
    column.setObjectName("collectionColumn")
    layout = QVBoxLayout(column)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    layout.addWidget(switcher)
    layout.addWidget(conversations, 1)
    return column


def read_collections(kb: KnowledgeBase) -> tuple[dict[str, list[Path]], dict[str | None, int]]:
    """(name → folders, name → indexed files; None: all), read on the pool."""
    collections = kb.collections.as_dict()
    paths = [f.path for f in kb.files()]
    counts: dict[str | None, int] = {None: len(paths)}
    for name, folders in collections.items():
        scope = [str(f) for f in folders]
        counts[name] = sum(1 for p in paths if scope and in_scope(p, scope))
    return collections, counts


class CollectionSwitcher(QWidget):
    """Chooses the window's collection and manages collections.

    Signals:
        collection_selected(object): the collection chosen (a name; None for all folders).
        collection_moved(str, object): a collection was renamed (old, new) or deleted
            (old, None): its conversations follow it (or join "all folders").
    """

    collection_selected = Signal(object)
    collection_moved = Signal(str, object)

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("collectionSwitcher")
        self._controller = controller
        self._collections: dict[str, list[Path]] = {}
        self._counts: dict[str | None, int] = {}
        self._filling = False
        self._generation = 0  # reads started before the latest change or read are dropped
        self._pending_select: str | None = None  # a created collection, switched to once read
        self.combo = QComboBox(self)
        self.combo.setObjectName("collectionCombo")
        self.combo.setAccessibleName("Collection")
        self.combo.setToolTip("Search and ask in one collection of folders, or in all of them")
        self.combo.addItem(ALL_LABEL, None)
        self.combo.currentIndexChanged.connect(self._on_current_index_changed)
        self.menu = QMenu(self)
        self.new_action = self.menu.addAction("New collection…", self._ask_create)
        self.add_folder_action = self.menu.addAction("Add a folder to it…", self._ask_add_folder)
        self.rename_action = self.menu.addAction("Rename…", self._ask_rename)
        self.delete_action = self.menu.addAction("Delete…", self._ask_delete)
        self.manage = QToolButton(self)
        self.manage.setObjectName("collectionMenu")
        self.manage.setText("⋯")
        self.manage.setAccessibleName("Manage collections")
        bind_icon(self.manage, "ellipsis")
        self.manage.setToolTip("New, rename, delete collections")
        self.manage.setMenu(self.menu)
        self.manage.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.progress = set_role(QLabel(self), "muted")  # the collection's files and progress
        self.progress.setObjectName("collectionProgress")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(set_role(QLabel("Collection", self), "heading"), 1)
        row.addWidget(self.manage)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING, 0)
        layout.setSpacing(SPACING // 2)
        layout.addLayout(row)
        layout.addWidget(self.combo)
        layout.addWidget(self.progress)
        self._update_actions()
        controller.collections_changed.connect(self._on_collections_changed)
        controller.status_refreshed.connect(self._on_status_refreshed)
        controller.files_changed.connect(self.reload)
        controller.kb_opened.connect(self._on_kb_opened)

    # ------------------------------------------------------------------ state
    @property
    def current(self) -> str | None:
        data = self.combo.currentData()
        return str(data) if data is not None else None

    def names(self) -> list[str]:
        return list(self._collections)

    def select(self, name: str | None) -> None:
        index = self.combo.findData(name) if name is not None else 0
        self.combo.setCurrentIndex(max(index, 0))

    def restore(self, name: str | None, known: Collection[str]) -> bool:
        """Start in `name`, the collection chosen last time, if it is one of `known` (the
        settings' collections); otherwise stay in all folders, silently: it was deleted or
        renamed outside the window (`cairn collection delete`), and there is nothing to do.

        Called as soon as the settings are read, before the index opens, so that a question
        asked meanwhile is asked in it; the first read of the collections adds the others.
        """
        if name is None or name not in known or self.current is not None:
            return False
        self._filling = True
        try:
            self.combo.addItem(name, name)
        finally:
            self._filling = False
        self.combo.setCurrentIndex(self.combo.count() - 1)  # emits collection_selected
        return True

    @Slot()
    def reload(self) -> None:
        """Re-read the collections and their file counts (on the pool); a read that a later
        read or change overtook is dropped. A collection just created is switched to."""
        self._generation += 1
        generation = self._generation

        def read(result: tuple[dict[str, list[Path]], dict[str | None, int]]) -> None:
            if generation != self._generation:
                return
            self._on_collections_read(result)
            if self._pending_select in self._collections:
                name, self._pending_select = self._pending_select, None
                self.select(name)

        self._controller.read(read_collections, read)

    @Slot(object)
    def _on_kb_opened(self, _kb: object) -> None:
        self.reload()

    def _on_collections_read(
        self, result: tuple[dict[str, list[Path]], dict[str | None, int]]
    ) -> None:
        self._collections, self._counts = result
        self._fill()

    @Slot(object)
    def _on_collections_changed(self, _collections: object) -> None:
        self.reload()

    def _fill(self) -> None:
        current = self.current
        self._filling = True
        try:
            self.combo.clear()
            self.combo.addItem(self._label(ALL_LABEL, None), None)
            for name in self._collections:
                self.combo.addItem(self._label(name, name), name)
                folders = "\n".join(str(f) for f in self._collections[name]) or "(no folders)"
                self.combo.setItemData(self.combo.count() - 1, folders, 3)  # ToolTipRole
            index = self.combo.findData(current) if current is not None else 0
        finally:
            self._filling = False
        if index < 0:  # the current collection was deleted: back to all folders
            self.combo.setCurrentIndex(0)
            self._on_current_index_changed(0)
        else:
            self.combo.setCurrentIndex(index)
        self._update_actions()

    def _label(self, text: str, name: str | None) -> str:
        n = self._counts.get(name)
        return text if n is None else f"{text} ({_files_label(n)})"

    @Slot(int)
    def _on_current_index_changed(self, _index: int) -> None:
        if self._filling:
            return
        self._update_actions()
        self._controller.collection = self.current
        self.progress.setText("")
        self._controller.refresh_status()
        self.collection_selected.emit(self.current)

    def _update_actions(self) -> None:
        chosen = self.current is not None
        for action in (self.rename_action, self.delete_action, self.add_folder_action):
            action.setEnabled(chosen)

    @Slot(object)
    def _on_status_refreshed(self, status: Any) -> None:
        """The current collection's files by stage (the status is read for it)."""
        stages = status.files_by_stage
        total = sum(stages.values())
        ready = stages.get("embedded", 0)
        waiting = stages.get("queued", 0) + stages.get("parsed", 0)
        text = f"{_files_label(total)} · {ready} ready"
        if waiting:
            text += f" · {waiting} indexing"
        if stages.get("failed"):
            text += f" · {stages['failed']} failed"
        self.progress.setText(text)

    # ------------------------------------------------------------------ changes
    def create(self, name: str, folders: list[Path | str]) -> bool:
        """Create a collection of these folders, then switch to it."""
        def created() -> None:
            self._pending_select = " ".join(name.split())

        self._generation += 1
        return self._controller.change_collections(
            "Creating the collection", lambda kb: kb.collections.create(name, folders), created)

    def rename(self, new: str) -> bool:
        old = self.current
        if old is None:
            return False
        clean = " ".join(new.split())

        def renamed() -> None:  # before the re-read: later reads must ask for the new name
            self._filling = True
            try:
                index = self.combo.findData(old)
                if index >= 0:
                    self.combo.setItemData(index, clean)
                    self.combo.setItemText(index, self._label(clean, old))
            finally:
                self._filling = False
            self._collections = {(clean if n == old else n): f
                                 for n, f in self._collections.items()}
            if self._controller.collection == old:
                self._controller.collection = clean
            self.collection_moved.emit(old, clean)

        self._generation += 1
        return self._controller.change_collections(
            "Renaming the collection", lambda kb: kb.collections.rename(old, clean), renamed)

    def delete(self) -> bool:
        """Forget the current collection (no file is deleted; its folders stay indexed)."""
        old = self.current
        if old is None:
            return False
        def deleted() -> None:
            self._collections.pop(old, None)
            self.collection_moved.emit(old, None)
            if self.current == old:
                self.select(None)  # all folders, before anything reads the status again

        self._generation += 1
        return self._controller.change_collections(
            "Deleting the collection", lambda kb: kb.collections.delete(old), deleted)

    def add_folder(self, folder: Path | str) -> bool:
        name = self.current
        if name is None:
            return False
        return self._controller.change_collections(
            "Adding the folder to the collection", lambda kb: kb.collections.add(name, folder))

    # ------------------------------------------------------------------ dialogs
    @Slot()
    def _ask_create(self) -> None:
        name, ok = QInputDialog.getText(self, "New collection", "Name of the collection:")
        if not ok or not name.strip():
            return
        folder = QFileDialog.getExistingDirectory(self, f"A folder for {name.strip()}")
        self.create(name, [folder] if folder else [])

    @Slot()
    def _ask_add_folder(self) -> None:
        if self.current is None:
            return
        folder = QFileDialog.getExistingDirectory(self, f"A folder for {self.current}")
        if folder:
            self.add_folder(folder)

    @Slot()
    def _ask_rename(self) -> None:
        if self.current is None:
            return
        name, ok = QInputDialog.getText(self, "Rename collection", "New name:",
                                        text=self.current)
        if ok and name.strip() and name.strip() != self.current:
            self.rename(name)

    @Slot()
    def _ask_delete(self) -> None:
        if self.current is None:
            return
        answer = QMessageBox.question(
            self, "Delete collection",
            f"Delete the collection “{self.current}”?\n\nNo file is deleted: its folders stay "
            "indexed and searchable under All folders, and its conversations move there.")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete()
