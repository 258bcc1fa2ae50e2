"""Cairn's main window: conversations | Ask · Search · Folders | Sources, menus and shortcuts.

The window paints before the core exists. Its panels are built before it is shown: built later,
while the index thread imports the core, the same widgets took several times as long (they wait
for the GIL) and stalled the window. It shows "Starting Cairn — loading models…" and takes input
as soon as the settings and the conversation history are read; questions, searches and folders
given before the index is open are queued by the `Controller` and run when it opens, with an
"Opening the index…" note meanwhile. It owns no core logic; closing it runs the controller's
shutdown. It starts in the collection chosen last time (`window_state.py`), as soon as the
settings say that collection still exists, and in the theme chosen last (View ▸ Theme).

Keyboard: every shortcut is a menu item (`menus.py`); every control has an accessible name
(the window names the few of its panels' controls that do not name themselves) and Tab walks
the window in reading order (both in `keyboard.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.about import about_html
from desktop_app.app import Controller
from desktop_app.ask_panel import AskPanel, describe_error
from desktop_app.collection_switcher import CollectionSwitcher, collection_column
from desktop_app.conversations_panel import ConversationsPanel
from desktop_app.folders_panel import FoldersPanel, dropped_folders
from desktop_app.history import Conversation, ConversationStore, Source, read_conversations
from desktop_app.keyboard import build_menus, name_controls, set_tab_order
from desktop_app.search_panel import SearchPanel
from desktop_app.sources_view import SourcesView
from desktop_app.status_bar import CairnStatusBar
from desktop_app.summary_actions import add_file_actions, export_conversation, summary_question
from desktop_app.theme import SPACING, Theme, bind_icon, set_role
from desktop_app.welcome import (
    SAMPLE_FOLDER_NAME,
    FirstRunSteps,
    WelcomePage,
    copy_samples,
    describe_models,
)
from desktop_app.window_state import WindowState

if TYPE_CHECKING:  # imported when first opened: pydantic costs ~0.3 s of start-up
    from desktop_app.settings_dialog import SettingsDialog


class NoticeBar(QWidget):
    """A dismissable one-line message above the panels (errors with what to do)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.label = QLabel(self)
        self.label.setObjectName("noticeText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self, autoRaise=True, toolTip="Dismiss")
        close.setAccessibleName("Dismiss the message")
        bind_icon(close, "x")
        close.clicked.connect(self.hide)
        self.close_button = close
        layout = QHBoxLayout(self)
        layout.setContentsMargins(SPACING * 2, SPACING // 2, SPACING, SPACING // 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()


class MainWindow(QMainWindow):
    """The application window.

    Signals:
        inputs_enabled(): the question box, Ask, search and the folder buttons take input (the
            settings and history are read; the index may still be opening).
        closed(): the window closed and the controller has shut down.
    """

    inputs_enabled = Signal()
    closed = Signal()

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Cairn")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.store: ConversationStore | None = None
        self._settings_dialog: SettingsDialog | None = None
        self._shut_down = False
        self._settings_known = False
        self._history_read = False
        self.accepting_input = False

        self.state = WindowState.for_home(controller.home)
        theme = Theme.instance()
        if theme is not None and theme.mode != self.state.theme:
            theme.set_mode(self.state.theme)  # before anything is painted
        self.loading = set_role(QLabel("Starting Cairn — loading models…", self), "empty")
        self.loading.setObjectName("loadingPage")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome = WelcomePage(self)
        self.welcome.folder_chosen.connect(self._on_welcome_folder)
        self.welcome.samples_requested.connect(self.use_sample_documents)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.loading)
        self.pages.addWidget(self.welcome)
        self.notice = NoticeBar(self)
        self.first_run = FirstRunSteps(self)
        self.first_run.ask_requested.connect(self._on_first_question)
        central = QWidget(self)
        v = QVBoxLayout(central)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(0)
        v.addWidget(self.notice)
        v.addWidget(self.first_run)
        v.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.status = CairnStatusBar(controller, self)
        self.setStatusBar(self.status)
        self.ask_panel: AskPanel | None = None
        self.search_panel: SearchPanel | None = None
        self.folders_panel: FoldersPanel | None = None
        self.sources: SourcesView | None = None
        self.conversations: ConversationsPanel | None = None
        self.collections: CollectionSwitcher | None = None
        self.tabs: QTabWidget | None = None
        self.workspace: QSplitter | None = None
        build_menus(self)
        self._build_workspace()
        name_controls(self)
        set_tab_order(self)

        controller.settings_loaded.connect(self._on_settings_loaded)
        controller.kb_opened.connect(self._on_kb_opened)
        controller.kb_failed.connect(self._on_kb_failed)
        controller.kb_reloaded.connect(self._on_kb_reloaded)
        controller.error_reported.connect(self._on_error_reported)
        controller.folders_changed.connect(self._on_folders_changed)
        controller.models_changed.connect(self.refresh_models)
        self._initial_size()
        self._read_history()

    # ------------------------------------------------------------------ building
    def _initial_size(self) -> None:
        """About 90 % of the screen, capped at a size that reads well (font-relative: DPI-safe)."""
        font_h = self.fontMetrics().height()
        width, height = font_h * 100, font_h * 62
        screen = self.screen()
        if screen is not None:
            avail = screen.availableGeometry()
            width = min(width, int(avail.width() * 0.92))
            height = min(height, int(avail.height() * 0.92))
        self.resize(width, height)
        self.setMinimumSize(min(width, font_h * 48), min(height, font_h * 30))

    def input_actions(self) -> list[QAction]:
        """The actions that wait for the settings and the history (`_enable_inputs`)."""
        return [self.add_folder_action, self.new_action, self.copy_action, self.search_action,
                self.ask_action]

    def _build_workspace(self) -> None:
        c = self.controller
        self.store = ConversationStore.for_home(c.home, load=False)  # read on the pool
        self.conversations = ConversationsPanel(self.store, self)
        self.collections = CollectionSwitcher(c, self)
        self.ask_panel = AskPanel(c, self.store, self)
        self.search_panel = SearchPanel(c, self)
        self.folders_panel = FoldersPanel(c, self)
        self.sources = SourcesView(c, self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.ask_panel, "Ask")
        self.tabs.addTab(self.search_panel, "Search")
        self.tabs.addTab(self.folders_panel, "Folders")
        self.workspace = QSplitter(Qt.Orientation.Horizontal, self)
        self.workspace.setObjectName("workspace")
        self.workspace.addWidget(collection_column(self.collections, self.conversations))
        self.workspace.addWidget(self.tabs)
        self.workspace.addWidget(self.sources)
        self.workspace.setChildrenCollapsible(False)
        self.workspace.setStretchFactor(0, 0)
        self.workspace.setStretchFactor(1, 3)
        self.workspace.setStretchFactor(2, 2)
        em = self.fontMetrics().horizontalAdvance("x")
        self.workspace.setSizes([em * 26, em * 70, em * 56])
        self.pages.addWidget(self.workspace)

        self.conversations.conversation_selected.connect(self._on_conversation_selected)
        self.collections.collection_selected.connect(self._on_collection_selected)
        self.collections.collection_selected.connect(self.folders_panel.set_collection)
        self.collections.collection_moved.connect(self._on_collection_moved)
        self.collections.collection_selected.connect(self._remember_collection)
        self.collections.collection_moved.connect(self._remember_collection)
        self.conversations.new_requested.connect(self.new_conversation)
        self.ask_panel.sources_shown.connect(self._on_sources_shown)
        self.ask_panel.citation_activated.connect(self._on_citation_activated)
        self.ask_panel.conversation_changed.connect(self._on_conversation_changed)
        self.ask_panel.answer_started.connect(lambda: self.stop_action.setEnabled(True))
        self.ask_panel.answer_finished.connect(lambda _t: self.stop_action.setEnabled(False))
        self.ask_panel.answer_finished.connect(lambda _t: self.first_run.set_answered())
        self.folders_panel.stats_updated.connect(self._on_folder_stats)
        self.search_panel.results_shown.connect(
            lambda results: self.sources and self.sources.show_sources(results, "Search results")
        )
        self.search_panel.hit_activated.connect(self._on_citation_activated)
        self.folders_panel.stats_updated.connect(self.status.set_folder_stats)
        self.summary_actions = add_file_actions(self.folders_panel.table,
                                                self.folders_panel.selected_paths, self.ask_about)
        self.search_panel.summarize_requested.connect(
            lambda path: self.ask_about(summary_question([path])))

    def _read_history(self) -> None:
        """Read the saved conversations on the pool (the file can be megabytes of JSON)."""
        assert self.store is not None
        path = self.store.path

        def failed(exc: BaseException) -> None:
            self._on_history_read(([], f"Could not read {path.name}: {exc}"))

        self.controller.pool.run(lambda: read_conversations(path), self._on_history_read, failed)

    def _on_history_read(self, result: tuple[list[Conversation], str | None]) -> None:
        assert self.store is not None and self.ask_panel is not None
        assert self.conversations is not None
        self.store.adopt(*result)
        if self.store.conversations and not self.ask_panel.conversation.turns:
            self.ask_panel.set_conversation(self.store.conversations[0])
        self._on_collection_selected(self.controller.collection)
        self._history_read = True
        self._enable_inputs()

    # ------------------------------------------------------------------ controller stages
    @Slot(object)
    def _on_settings_loaded(self, settings: Any) -> None:
        if settings.folders:
            self.pages.setCurrentWidget(self.workspace)
        else:
            self.pages.setCurrentWidget(self.welcome)
        self._settings_known = True
        assert self.collections is not None
        if not self.collections.restore(self.state.collection, settings.collections):
            self.state.collection = None  # gone (or never chosen): all folders from now on
        self._show_model_server(settings)
        self._enable_inputs()
        self.refresh_models()

    def _show_model_server(self, settings: Any) -> None:
        from indexer.runtime import model_server_address

        try:
            address = model_server_address(settings)
        except Exception:  # a malformed address is reported when the model loads
            address = settings.chat_endpoint or "an unknown address"
        self.ask_panel.set_model_server(address)

    def _enable_inputs(self) -> None:
        """Take input once settings and history are known, even before the index is open."""
        c = self.controller
        if self.accepting_input or not (self._settings_known and self._history_read):
            return
        if c.open_error is not None or c.closing:
            return
        assert self.ask_panel is not None
        self.accepting_input = True
        self.welcome.set_ready(True, "Opening the index…" if c.kb is None else "")
        for action in self.input_actions():
            action.setEnabled(True)
        self.ask_panel.set_ready(True)
        self.inputs_enabled.emit()

    @Slot()
    def refresh_models(self) -> None:
        """Re-check which models are ready (on the pool) for the welcome page and settings."""
        settings = self.controller.settings
        if settings is None:
            return
        preparing = self.controller.warming_up

        def checked(lines: list[Any]) -> None:
            self.welcome.set_models(lines)
            if self._settings_dialog is not None:
                self._settings_dialog.set_model_lines(lines)

        self.controller.pool.run(lambda: describe_models(settings, preparing), checked,
                                 lambda exc: self.welcome.set_models([]))

    @Slot(object)
    def _on_kb_opened(self, kb: Any) -> None:
        self.controller.warm_up()
        self.refresh_models()
        assert self.ask_panel is not None and self.folders_panel is not None
        self.folders_panel.set_folders([str(f) for f in kb.folders()])
        if self.accepting_input:
            self.welcome.set_ready(True)
            self.ask_panel.set_ready(True)  # drops the "opening" note
        else:
            self._enable_inputs()  # the history is still being read: enabled when it is

    @Slot(object)
    def _on_kb_reloaded(self, kb: Any) -> None:
        self._on_kb_opened(kb)
        self._show_model_server(kb.settings)
        self.notice.show_message("Settings applied.")

    @Slot(object)
    def _on_kb_failed(self, exc: BaseException) -> None:
        text = f"Cairn could not open its index: {describe_error(exc)}"
        self.loading.setText(text)
        self.welcome.set_ready(False, text)
        self.accepting_input = False
        self.add_folder_action.setEnabled(False)
        if self.ask_panel is not None:
            self.ask_panel.set_ready(False, text)
        self.notice.show_message(text)

    @Slot(str, object)
    def _on_error_reported(self, what: str, exc: BaseException) -> None:
        self.notice.show_message(f"{what} failed: {describe_error(exc)}")

    @Slot(object)
    def _on_folders_changed(self, folders: list[Path]) -> None:
        if folders and self.pages.currentWidget() is self.welcome and self.workspace is not None:
            self.pages.setCurrentWidget(self.workspace)
            self.show_tab(2)

    # ------------------------------------------------------------------ actions
    def add_folder(self, folder: Path | str) -> bool:
        """Index `folder` (queued by the controller while the index opens); with a collection
        chosen it joins that collection too, wherever it was dropped (the Folders panel's rule)."""
        assert self.folders_panel is not None
        added = self.folders_panel.add_folder(folder)
        if added and self.controller.kb is None and self.pages.currentWidget() is self.welcome:
            self.welcome.set_ready(False, f"Opening the index… {Path(folder).name} is read as "
                                   "soon as it is open.")
        return added

    def choose_folder(self) -> None:
        if self.folders_panel is not None:
            self.folders_panel.choose_folder()

    def _on_welcome_folder(self, folder: Path) -> None:
        """A folder chosen on the welcome page: index it and show the steps to a first answer."""
        if self.add_folder(folder):
            self.first_run.start(Path(folder).name, sample=False)

    def use_sample_documents(self) -> bool:
        """Copy the bundled samples into the home and index them."""
        settings = self.controller.settings
        if settings is None:
            return False
        dest = settings.paths.home / SAMPLE_FOLDER_NAME
        self.welcome.set_ready(False, "Copying the sample documents…")

        def failed(exc: BaseException) -> None:
            self.welcome.set_ready(True, f"Could not copy the samples: {exc}")
            self.first_run.hide()

        self.first_run.start(SAMPLE_FOLDER_NAME, sample=True)
        return self.controller.pool.run(lambda: copy_samples(dest), self.add_folder, failed)

    def new_conversation(self) -> None:
        if self.ask_panel is None:
            return
        self.show_tab(0)
        self.ask_panel.new_conversation()

    def ask_about(self, question: str) -> bool:
        """Ask in the Ask view (a Summarize / Compare action writes an `@file` question)."""
        self.show_tab(0)
        return self.ask_panel.ask(question)

    def export(self) -> Path | None:
        """File ▸ Export Conversation…: the current conversation as Markdown with links."""
        return export_conversation(self, self.ask_panel.conversation)

    def focus_search(self) -> None:
        if self.search_panel is None:
            return
        self.show_tab(1)
        self.search_panel.focus_search()

    def show_tab(self, index: int) -> None:
        if self.tabs is not None and self.workspace is not None:
            self.pages.setCurrentWidget(self.workspace)
            self.tabs.setCurrentIndex(index)
            if index == 0 and self.ask_panel is not None:
                self.ask_panel.question.setFocus()

    def stop_generation(self) -> None:
        if self.ask_panel is not None:
            self.ask_panel.stop()

    def ask_from_box(self) -> bool:
        """Edit ▸ Ask Question (Ctrl+Enter): ask what the question box holds."""
        if self.ask_panel is None or self.ask_panel.generating:
            return False
        self.show_tab(0)
        return self.ask_panel.ask()

    def copy_answer(self) -> None:
        if self.ask_panel is not None:
            self.ask_panel.copy_last_answer()

    def step_citation(self, delta: int) -> bool:
        """Go ▸ Next / Previous Citation (F8 / Shift+F8): the Sources pane moves to the next or
        previous cited place (within the open file, else the next source). False at either end.

        The menu's shortcut is the only F8 in the window: while it exists the viewers' own F8
        handling (their keyPressEvent, for a viewer on its own) never sees the key, so one
        press is one step."""
        return self.sources is not None and self.sources.step_citation(delta)

    def set_theme(self, mode: str) -> None:
        """View ▸ Theme: follow the system, or light or dark; remembered for the next start."""
        self.state.theme = mode
        theme = Theme.instance() or Theme(QApplication.instance())  # type: ignore[arg-type]
        theme.set_mode(mode)
        self.theme_actions[mode].setChecked(True)

    def open_settings(self) -> SettingsDialog | None:
        """Open the settings dialog (window-modal, non-blocking); OK applies the changes."""
        settings = self.controller.settings
        if settings is None:
            return None
        if self._settings_dialog is not None:
            self._settings_dialog.raise_()
            return self._settings_dialog
        from desktop_app.settings_dialog import SettingsDialog

        dialog = SettingsDialog(settings, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._settings_dialog = dialog

        def finished(result: int) -> None:
            self._settings_dialog = None
            if result == QDialog.DialogCode.Accepted:
                changes = dialog.changes()
                if changes and not self.controller.apply_settings(changes):
                    self.notice.show_message("Settings can be changed once the index is open.")

        dialog.finished.connect(finished)
        dialog.open()
        self.refresh_models()
        return dialog

    def show_about(self) -> None:
        QMessageBox.about(self, "About Cairn", about_html())

    # ------------------------------------------------------------------ panel wiring
    @Slot(object, str)
    def _on_sources_shown(self, sources: list[Source], title: str) -> None:
        if self.sources is None:
            return
        if sources:
            self.sources.show_sources(sources, title)
        else:
            self.sources.clear()

    @Slot(object, int)
    def _on_citation_activated(self, sources: list[Source], number: int) -> None:
        if self.sources is not None:
            if self.sources.sources is not sources:
                self.sources.show_sources(sources, self.sources.title.text())
            self.sources.select(number)

    @Slot(object)
    def _on_conversation_selected(self, conversation: Conversation) -> None:
        if self.ask_panel is not None and conversation is not self.ask_panel.conversation:
            self.show_tab(0)
            self.ask_panel.set_conversation(conversation)

    @Slot(object)
    def _on_collection_selected(self, collection: str | None) -> None:
        """Show the collection's conversations; keep the open one if it belongs to it, else
        open its newest (or a new one): questions are asked in the chosen collection."""
        assert self.store is not None and self.ask_panel is not None
        assert self.conversations is not None
        self.store.collection = collection
        current: Conversation | None = self.ask_panel.conversation
        if current is not None and current.turns and current.collection != collection:
            mine = self.store.in_collection(collection)
            current = next((c for c in mine if c.turns), None)
            if current is not None:
                self.ask_panel.set_conversation(current)
            else:
                self.ask_panel.new_conversation()
        self.conversations.set_collection(collection, current)

    @Slot(str, object)
    def _on_collection_moved(self, old: str, new: str | None) -> None:
        """A collection was renamed (its conversations follow) or deleted (they join all)."""
        assert self.store is not None and self.conversations is not None
        assert self.folders_panel is not None
        self.store.move_collection(old, new)
        self.conversations.refresh()
        if self.folders_panel.collection == old:
            self.folders_panel.set_collection(new)

    def _remember_collection(self, *_args: object) -> None:
        """Remember the chosen collection (also after a rename) for the next start."""
        if self.collections is not None:
            self.state.collection = self.collections.current

    @Slot(object)
    def _on_conversation_changed(self, conversation: Conversation) -> None:
        if self.conversations is not None:
            self.conversations.refresh(conversation)
        if self.stop_action is not None and self.ask_panel is not None:
            self.stop_action.setEnabled(self.ask_panel.generating)

    @Slot(object)
    def _on_folder_stats(self, stats: dict[str, dict[str, int]]) -> None:
        """Files read so far, for the first-run steps."""
        from desktop_app.folders_panel import is_working

        done = sum(s.get("done", 0) for s in stats.values())
        total = sum(s.get("total", 0) for s in stats.values())
        self.first_run.set_files(done, total, is_working(self.controller.last_progress))

    @Slot(str)
    def _on_first_question(self, question: str) -> None:
        """The first-run steps' button: ask the sample question, or go to the question box."""
        self.show_tab(0)
        if question:
            self.ask_about(question)

    # ------------------------------------------------------------------ Qt events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        c = self.controller
        if (c.kb is not None or (c.opening and self.accepting_input)) and dropped_folders(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for folder in dropped_folders(event):
            self.add_folder(folder)
        event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop generation, close the knowledge base and join the worker threads (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        if self._settings_dialog is not None:
            self._settings_dialog.close()
        self.hide()
        self.controller.shutdown()
        self.closed.emit()
