"""Folders: add (dialog or drag-and-drop), remove, pause/resume, progress and per-file status.

Per-folder figures (files done/total, failed) come from `KnowledgeBase.files()` read on the pool,
refreshed at most twice a second while files change; the stage, current file and ETA come from
the throttled `ProgressUpdated` events and are shown on the folder being worked on. Failed files
show their reason and can be retried; any file can be shown in its folder.

With a collection chosen in the switcher, the panel shows that collection's folders only (their
files, progress and summary) under a line that names it, and its buttons act on the collection:
a folder added joins it, Remove takes a folder out of it (still indexed). "All folders" shows
every watched folder again. A collection's folders are read from `kb.collections` when the
file list arrives, so a rename, a deletion or a folder added elsewhere shows at the next reload.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.sources_view import open_externally, show_in_folder
from desktop_app.theme import SPACING, bind_icon, set_role
from indexer.collection_sets import in_scope
from indexer.events import ProgressUpdated

if TYPE_CHECKING:
    from desktop_app.app import Controller

DONE_STAGES = {"embedded", "failed", "skipped"}
STAGE_LABELS = {
    "queued": "Queued",
    "parsed": "Searchable (embedding…)",
    "embedded": "Indexed",
    "failed": "Failed",
    "skipped": "Skipped",
}
_Index = QModelIndex | QPersistentModelIndex


def in_folder(path: str, folder: str) -> bool:
    folder = folder.rstrip(os.sep)
    return path == folder or path.startswith(folder + os.sep)


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds <= 0:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def is_working(progress: ProgressUpdated | None) -> bool:
    """True while the pipeline reports work (files to process or chunks to embed)."""
    return progress is not None and progress.stage != "idle" and (
        progress.files_done < progress.files_total or progress.chunks_pending > 0
    )


def dropped_folders(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    """Local folders among the URLs of a drag (files are ignored)."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and
            Path(u.toLocalFile()).is_dir()]


class FileTableModel(QAbstractTableModel):
    """Files of the index (`FileRecord`s) as File / Status / Chunks / Reason rows."""

    HEADERS = ("File", "Status", "Chunks", "Reason")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[Any] = []

    def set_records(self, records: list[Any]) -> None:
        self.beginResetModel()
        self.records = sorted(records, key=lambda r: (str(r.stage) != "failed", r.path))
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.records[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                folder = getattr(r, "folder", "")
                return os.path.relpath(r.path, folder) if folder else os.path.basename(r.path)
            if col == 1:
                return STAGE_LABELS.get(str(r.stage), str(r.stage))
            if col == 2:
                n = getattr(r, "chunk_count", None)
                return "" if n is None else str(n)
            return getattr(r, "reason", "") or ""
        if role == Qt.ItemDataRole.ToolTipRole:
            reason = getattr(r, "reason", "") or ""
            return r.path + (f"\n{reason}" if reason else "")
        return None

    def record(self, row: int) -> Any:
        return self.records[row] if 0 <= row < len(self.records) else None


class FoldersPanel(QWidget):
    """Watched folders with progress, and the files of the selected folder with their status.

    Signals:
        stats_updated(object): per-folder stats {folder: {"total", "done", "failed", …}}.
    """

    stats_updated = Signal(object)

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.setAcceptDrops(True)
        self.collection: str | None = None  # the collection shown (None: all folders)
        self.watched: list[str] = []  # every watched folder
        self.folders: list[str] = []  # the folders shown: the collection's, or all watched
        self.records: list[Any] = []  # the shown folders' files
        self._all_records: list[Any] = []  # every indexed file, as last read
        self.stats: dict[str, dict[str, int]] = {}
        self._progress: ProgressUpdated | None = None
        self._bars: dict[str, QProgressBar] = {}
        self._loading = False
        self._reload_again = False
        self._stale = True

        self.add_button = QPushButton("Add folder…", self)
        self.remove_button = QPushButton("Remove", self)
        self.pause_button = QPushButton("Pause indexing", self)
        self.pause_button.setCheckable(True)
        for button, name in ((self.add_button, "folder-plus"), (self.remove_button, "folder-minus"),
                             (self.pause_button, "pause")):
            bind_icon(button, name)
        self.add_button.clicked.connect(self.choose_folder)
        self.remove_button.clicked.connect(lambda: self.remove_selected())
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.summary = QLabel(self)
        self.summary.setObjectName("indexSummary")
        self.summary.setWordWrap(True)
        self.scope_line = QLabel(self)  # which collection is shown; hidden for all folders
        self.scope_line.setObjectName("folderScope")
        self.scope_line.setWordWrap(True)
        self.scope_line.hide()

        self.tree = QTreeWidget(self)
        self.tree.setObjectName("folderTree")
        self.tree.setAccessibleName("Watched folders")
        self.tree.setMinimumHeight(self.fontMetrics().height() * 6)  # a few folders, not one
        self.empty = set_role(QLabel(self), "empty")  # instead of the tree while it is empty
        self.empty.setObjectName("foldersEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        self.tree.setHeaderLabels(["Folder", "Progress", "State"])
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setToolTip("Drop folders here to index them")
        self.tree.currentItemChanged.connect(lambda *_: self._apply_filter())

        self.filter = QComboBox(self)
        self.filter.addItems(["All files", "Failed or skipped", "Not finished"])
        self.filter.setAccessibleName("Show files")
        self.filter.currentIndexChanged.connect(lambda _i: self._apply_filter())
        self.model = FileTableModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("fileTable")
        self.table.setAccessibleName("Files")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        h = self.table.horizontalHeader()
        # Fixed widths: ResizeToContents would measure every row on each refresh.
        h.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        h.setStretchLastSection(False)
        fm = self.fontMetrics()
        self.table.setColumnWidth(1, fm.horizontalAdvance("Searchable (embedding…)") + 16)
        self.table.setColumnWidth(2, fm.horizontalAdvance("Chunks") + 16)
        self.table.setColumnWidth(3, fm.horizontalAdvance("x" * 18))
        self.table.verticalHeader().setDefaultSectionSize(fm.height() + 6)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.table.doubleClicked.connect(lambda _i: self._on_open_clicked())
        self.retry_button = QPushButton("Retry", self)
        self.show_button = QPushButton("Show in folder", self)
        self.open_button = QPushButton("Open", self)
        for button, name in ((self.retry_button, "rotate-cw"), (self.show_button, "folder-open"),
                             (self.open_button, "external-link")):
            bind_icon(button, name)
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.show_button.clicked.connect(self._on_show_clicked)
        self.open_button.clicked.connect(self._on_open_clicked)

        top = QHBoxLayout()
        for w in (self.add_button, self.remove_button, self.pause_button):
            top.addWidget(w)
        top.addStretch(1)
        folders_box = QWidget(self)
        fl = QVBoxLayout(folders_box)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addLayout(top)
        fl.addWidget(self.scope_line)
        fl.addWidget(self.summary)
        fl.addWidget(self.tree, 1)
        fl.addWidget(self.empty, 1)
        file_bar = QHBoxLayout()
        file_bar.addWidget(QLabel("Files:", self))
        file_bar.addWidget(self.filter)
        file_bar.addStretch(1)
        for w in (self.retry_button, self.show_button, self.open_button):
            file_bar.addWidget(w)
        files_box = self.files_box = QWidget(self)  # hidden while there is no folder
        fb = QVBoxLayout(files_box)
        fb.setContentsMargins(0, 0, 0, 0)
        fb.addLayout(file_bar)
        fb.addWidget(self.table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(folders_box)
        splitter.addWidget(files_box)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING, SPACING)
        layout.addWidget(splitter)
        for box in (fl, fb):
            box.setSpacing(SPACING)

        controller.files_changed.connect(self.reload)
        controller.progress_updated.connect(self._on_progress_updated)
        controller.folders_changed.connect(self._on_folders_changed)
        controller.indexing_paused.connect(self._on_indexing_paused)
        controller.collections_changed.connect(lambda _c: self.reload())
        self._update_buttons()

    # ------------------------------------------------------------------ folders
    @Slot()
    def choose_folder(self) -> None:
        title = "Choose a folder to index"
        if self.collection is not None:
            title = f"Choose a folder to index and add to “{self.collection}”"
        folder = QFileDialog.getExistingDirectory(self, title)
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str | Path) -> bool:
        """Index `folder`; with a collection shown, also add it to that collection.

        Why no question first: a collection's folder is watched and indexed like any other, so
        it is in "All folders" either way; adding it to the collection on screen only makes it
        show up where the person is looking (as adding to a playlist that is open adds to the
        library too). Nothing is lost, and Remove (from the collection) undoes it. The scope
        line says so beforehand ("folders added here join it"), and the file dialog's title.
        """
        name = self.collection
        if name is None:
            return self._controller.add_folder(folder)
        return self._controller.change_collections(
            "Adding the folder", lambda kb: kb.collections.add(name, folder))

    def selected_folder(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def remove_selected(self, confirm: bool = True) -> bool:
        """Stop indexing the selected folder; with a collection shown, only take it out of the
        collection (it stays indexed under All folders: the collection is a view)."""
        folder = self.selected_folder()
        if folder is None:
            return False
        name = self.collection
        if name is not None:
            if confirm:
                answer = QMessageBox.question(
                    self, "Remove from collection",
                    f"Take {folder} out of the collection “{name}”?\n\nIt stays indexed and "
                    "searchable under All folders; no file is touched.")
                if answer != QMessageBox.StandardButton.Yes:
                    return False
            return self._controller.change_collections(
                "Taking the folder out of the collection",
                lambda kb: kb.collections.remove(name, folder))
        if confirm:
            answer = QMessageBox.question(
                self,
                "Remove folder",
                f"Stop indexing {folder}?\n\nIts documents stay where they are; only Cairn's "
                "index of them is removed.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return self._controller.remove_folder(folder)

    @Slot(bool)
    def _on_pause_toggled(self, paused: bool) -> None:
        self._controller.set_paused(paused)

    @Slot(bool)
    def _on_indexing_paused(self, paused: bool) -> None:
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self.pause_button.setText("Resume indexing" if paused else "Pause indexing")
        bind_icon(self.pause_button, "play" if paused else "pause")
        self._render_summary()

    @Slot(object)
    def _on_folders_changed(self, folders: list[Path]) -> None:
        self.set_folders([str(f) for f in folders])

    def set_folders(self, folders: list[str]) -> None:
        """The watched folders; the tree shows them, or the shown collection's share of them."""
        self.watched = list(folders)
        self._show_folders(self._scope())

    def set_collection(self, name: str | None) -> None:
        """Show one collection's folders and files (None: every watched folder)."""
        self.collection = name
        self._show_records(self._all_records)

    def _scope(self) -> list[str] | None:
        """The shown collection's folders; None for all folders, before the index is open, or
        when the collection is gone (the switcher goes back to all folders then)."""
        kb = self._controller.kb
        if self.collection is None or kb is None:
            return None
        folders = kb.collections.as_dict().get(self.collection)
        return None if folders is None else [str(f) for f in folders]

    def _show_folders(self, scope: list[str] | None) -> None:
        shown = self.watched if scope is None else scope
        if scope is None:
            self.scope_line.hide()
        else:
            n = len(scope)
            self.scope_line.setText(
                f"Showing collection “{self.collection}” — {n} of {len(self.watched)} "
                f"folder{'' if len(self.watched) == 1 else 's'} · folders added here join it")
            self.scope_line.show()
        self.remove_button.setText("Remove" if scope is None else "Remove from collection")
        if shown != self.folders or self.tree.topLevelItemCount() != len(shown):
            self._build_tree(shown)
        self._update_rows()
        self._update_buttons()

    def _build_tree(self, folders: list[str]) -> None:
        current = self.selected_folder()
        self.folders = list(folders)
        self.tree.clear()
        self._bars.clear()
        for folder in self.folders:
            parent, name = os.path.split(folder.rstrip(os.sep))
            item = QTreeWidgetItem([f"{name}  —  {parent}", "", ""])
            item.setData(0, Qt.ItemDataRole.UserRole, folder)
            item.setToolTip(0, folder)
            self.tree.addTopLevelItem(item)
            bar = QProgressBar(self.tree)
            bar.setTextVisible(True)
            bar.setMinimumWidth(self.fontMetrics().horizontalAdvance("x" * 16))
            self.tree.setItemWidget(item, 1, bar)
            self._bars[folder] = bar
            if folder == current:
                self.tree.setCurrentItem(item)

    # ------------------------------------------------------------------ data
    @Slot()
    def reload(self) -> None:
        """Re-read the file list on the pool (one read at a time; bursts coalesce).

        Only while the panel is visible: a hidden panel just remembers to reload when shown.
        """
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        if self._loading:
            self._reload_again = True
            return
        if self._controller.files(self._on_files_loaded):
            self._loading = True

    def _on_files_loaded(self, records: list[Any]) -> None:
        self._loading = False
        kb = self._controller.kb
        if kb is not None:
            self.watched = [str(f) for f in kb.folders()]
        self._show_records(list(records))
        if self._reload_again:
            self._reload_again = False
            self.reload()

    def _show_records(self, records: list[Any]) -> None:
        """Show the shown folders' share of `records` (every indexed file), with their stats."""
        self._all_records = records
        scope = self._scope()
        self.records = [r for r in records if in_scope(r.path, scope)]
        self._show_folders(scope)
        self.stats = {f: self._folder_stats(f) for f in self.folders}
        self._update_rows()
        self._apply_filter()
        self.stats_updated.emit(self.stats)

    def _folder_stats(self, folder: str) -> dict[str, int]:
        counts = {"total": 0, "done": 0, "failed": 0, "skipped": 0, "embedded": 0,
                  "parsed": 0, "queued": 0}
        for r in self.records:
            if in_folder(r.path, folder):
                stage = str(r.stage)
                counts["total"] += 1
                counts[stage] = counts.get(stage, 0) + 1
                if stage in DONE_STAGES:
                    counts["done"] += 1
        return counts

    @Slot(object)
    def _on_progress_updated(self, event: ProgressUpdated) -> None:
        self._progress = event
        self._update_rows()

    def _update_rows(self) -> None:
        p = self._progress
        working = is_working(p)
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            folder = item.data(0, Qt.ItemDataRole.UserRole)
            s = self.stats.get(folder, {})
            total, done = s.get("total", 0), s.get("done", 0)
            bar = self._bars.get(folder)
            if bar is not None:
                bar.setMaximum(max(1, total))
                bar.setValue(done if total else 0)
                bar.setFormat(f"{done}/{total} files" if total else "scanning…")
            here = working and p is not None and p.current_path and in_folder(p.current_path, folder)
            if self._controller.paused and total != done:
                state = "Paused"
            elif here and p is not None:
                state = " · ".join(x for x in (p.stage.capitalize(), format_eta(p.eta_seconds)) if x)
                item.setToolTip(2, p.current_path or "")
            elif total and total == done:
                state = "Up to date" + (f" · {s.get('failed', 0)} failed" if s.get("failed") else "")
            elif total:
                state = "Embedding" if s.get("parsed") and not s.get("queued") else "Queued"
            else:
                state = "Scanning…"
            item.setText(2, state)
        self._render_summary()

    def _render_summary(self) -> None:
        p = self._progress
        total = sum(s.get("total", 0) for s in self.stats.values())
        done = sum(s.get("done", 0) for s in self.stats.values())
        failed = sum(s.get("failed", 0) for s in self.stats.values())
        if not self.folders:
            text = "No folders yet. Add one, or drop a folder here."
            if self.collection is not None:
                text = f"“{self.collection}” has no folders yet. Add one, or drop one here."
            self.empty.setText(f"{text}\n\nCairn reads every document in it and keeps up as "
                               "files change. File ▸ Add Folder… (Ctrl+O)")
        elif self._controller.paused:
            text = "Indexing paused."
        elif done < total or is_working(p):
            text = f"Indexing: {done} of {total} files done"
            if p is not None and p.stage != "idle":
                name = os.path.basename(p.current_path or "")
                text += f" · {p.stage} {name}".rstrip()
                if p.eta_seconds:
                    text += f" · {format_eta(p.eta_seconds)}"
        else:
            text = f"{total} files indexed" + (f" · {failed} failed" if failed else "")
        self.summary.setText(text)
        self.summary.setVisible(bool(self.folders))
        self.empty.setVisible(not self.folders)
        self.tree.setVisible(bool(self.folders))
        self.files_box.setVisible(bool(self.folders))

    def _apply_filter(self) -> None:
        folder = self.selected_folder()
        mode = self.filter.currentIndex()
        rows = [r for r in self.records if folder is None or in_folder(r.path, folder)]
        if mode == 1:
            rows = [r for r in rows if str(r.stage) in ("failed", "skipped")]
        elif mode == 2:
            rows = [r for r in rows if str(r.stage) not in DONE_STAGES]
        self.model.set_records(rows)
        self._update_buttons()

    # ------------------------------------------------------------------ files
    def selected_record(self) -> Any:
        rows = self.table.selectionModel().selectedRows()
        return self.model.record(rows[0].row()) if rows else None

    def selected_paths(self) -> list[str]:
        """The selected files' paths (several may be selected: Summarize / Compare act on them)."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [self.model.record(r).path for r in rows]

    def select_file(self, path: str) -> bool:
        for row, r in enumerate(self.model.records):
            if r.path == path:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        record = self.selected_record()
        self.remove_button.setEnabled(self.selected_folder() is not None)
        self.retry_button.setEnabled(record is not None and str(record.stage) in ("failed", "skipped"))
        self.show_button.setEnabled(record is not None)
        self.open_button.setEnabled(record is not None)

    @Slot()
    def _on_retry_clicked(self) -> None:
        record = self.selected_record()
        if record is not None:
            self._controller.retry(record.path)

    @Slot()
    def _on_show_clicked(self) -> None:
        record = self.selected_record()
        if record is not None:
            show_in_folder(record.path)

    @Slot()
    def _on_open_clicked(self) -> None:
        record = self.selected_record()
        if record is not None:
            open_externally(record.path)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.reload()

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_folders(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for folder in dropped_folders(event):
            self.add_folder(folder)
        event.acceptProposedAction()
