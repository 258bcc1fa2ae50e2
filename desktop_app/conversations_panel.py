"""The conversation list: newest first; select to reopen, rename in place, delete.

With no conversation yet (in the chosen collection) the list gives way to a line that says how
to start one.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.history import Conversation, ConversationStore
from desktop_app.theme import SPACING, bind_icon, set_role

EMPTY_TEXT = "No conversations yet.\nAsk a question (Ctrl+Enter) and it is kept here."


class ConversationsPanel(QWidget):
    """Lists the store's conversations.

    Signals:
        conversation_selected(object): the Conversation the user picked.
        new_requested(): "New conversation" was clicked.
    """

    conversation_selected = Signal(object)
    new_requested = Signal()

    def __init__(self, store: ConversationStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._current_id: str | None = None
        self._refreshing = False
        self.collection: str | None = None  # list only this collection's conversations
        self.new_button = QPushButton("New conversation", self)
        self.new_button.setObjectName("newConversationButton")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        bind_icon(self.new_button, "message-square-plus")
        self.new_button.clicked.connect(self.new_requested)
        self.list = QListWidget(self)
        self.list.setObjectName("conversationList")
        self.list.setAccessibleName("Conversations")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._on_context_menu_requested)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.currentItemChanged.connect(self._on_current_item_changed)
        self.list.setEditTriggers(
            QListWidget.EditTrigger.EditKeyPressed | QListWidget.EditTrigger.DoubleClicked
        )
        delete = QAction("Delete", self.list)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self.delete_current)
        self.list.addAction(delete)
        title = set_role(QLabel("Conversations", self), "heading")
        self.empty = set_role(QLabel(EMPTY_TEXT, self), "empty")
        self.empty.setObjectName("conversationsEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.empty.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING, SPACING)
        layout.setSpacing(SPACING)
        layout.addWidget(title)
        layout.addWidget(self.new_button)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty, 1)
        self.note = QLabel(self)  # why the saved history could not be read, if it could not
        self.note.setWordWrap(True)
        self.note.hide()
        layout.addWidget(self.note)
        self.refresh()

    def refresh(self, current: Conversation | None = None) -> None:
        """Rebuild the list from the store, keeping (or setting) the highlighted conversation."""
        if current is not None:
            self._current_id = current.id
        self.note.setText(self._store.load_error or "")
        self.note.setVisible(bool(self._store.load_error))
        self._refreshing = True
        try:
            self.list.clear()
            for conv in self._store.in_collection(self.collection):
                if not conv.turns and not conv.title:
                    continue
                item = QListWidgetItem(conv.display_title)
                item.setData(Qt.ItemDataRole.UserRole, conv.id)
                item.setToolTip(conv.display_title)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.list.addItem(item)
                if conv.id == self._current_id:
                    self.list.setCurrentItem(item)
        finally:
            self._refreshing = False
        empty = self.list.count() == 0
        self.empty.setVisible(empty)
        self.list.setVisible(not empty)

    def set_collection(self, collection: str | None, current: Conversation | None = None) -> None:
        """List the conversations of `collection` (None: those over all folders)."""
        self.collection = collection
        self.refresh(current)

    def _conversation_of(self, item: QListWidgetItem | None) -> Conversation | None:
        if item is None:
            return None
        return self._store.get(item.data(Qt.ItemDataRole.UserRole))

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_current_item_changed(self, item: QListWidgetItem | None, _prev: object) -> None:
        if self._refreshing:
            return
        conv = self._conversation_of(item)
        if conv is not None and conv.id != self._current_id:
            self._current_id = conv.id
            self.conversation_selected.emit(conv)

    @Slot(QListWidgetItem)
    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._refreshing:
            return
        conv = self._conversation_of(item)
        if conv is not None and item.text().strip() and item.text() != conv.display_title:
            self._store.rename(conv.id, item.text())

    def rename(self, conversation_id: str, title: str) -> None:
        self._store.rename(conversation_id, title)
        self.refresh()

    @Slot()
    def delete_current(self) -> None:
        conv = self._conversation_of(self.list.currentItem())
        if conv is None:
            return
        self._store.delete(conv.id)
        was_current = conv.id == self._current_id
        self.refresh()
        if was_current:
            self._current_id = None
            self.new_requested.emit()

    @Slot(QPoint)
    def _on_context_menu_requested(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.list.editItem(item))
        menu.addAction("Delete", self.delete_current)
        self.list.setCurrentItem(item)
        menu.exec(self.list.viewport().mapToGlobal(pos))
        menu.deleteLater()
