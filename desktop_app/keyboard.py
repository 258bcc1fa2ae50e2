"""The main window's keyboard and accessibility: menus with shortcuts and icons, accessible
names, and the tab order.

Why every shortcut is a menu item (and not a bare QShortcut): a menu shows the key beside the
words, so the keyboard is discoverable, and the action's enabled state is the one truth for both
the menu and the key. Keys: Ctrl+Enter ask, Esc stop, Ctrl+N new conversation, Ctrl+K search,
F8 / Shift+F8 next / previous citation in the open source, Ctrl+1..3 the views.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop_app.theme import bind_icon

if TYPE_CHECKING:
    from desktop_app.main_window import MainWindow

THEME_CHOICES = (("system", "&System", "monitor"), ("light", "&Light", "sun"),
                 ("dark", "&Dark", "moon"))


def _action(window: MainWindow, menu: Any, text: str, slot: Any, shortcut: Any = None,
            icon: str | None = None) -> QAction:
    action = QAction(text, window)
    if isinstance(shortcut, list):
        action.setShortcuts(shortcut)
    elif shortcut is not None:
        action.setShortcut(shortcut)
    if icon is not None:
        bind_icon(action, icon)
    action.triggered.connect(lambda _checked=False: slot())
    menu.addAction(action)
    return action


def build_menus(window: MainWindow) -> None:
    """Fill the window's menu bar; the actions become attributes of the window."""
    w = window
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    w.add_folder_action = _action(w, file_menu, "&Add Folder…", w.choose_folder,
                                  QKeySequence.StandardKey.Open, "folder-plus")
    w.new_action = _action(w, file_menu, "&New Conversation", w.new_conversation,
                           QKeySequence.StandardKey.New, "message-square-plus")
    w.export_action = _action(w, file_menu, "&Export Conversation…", w.export, None, "download")
    file_menu.addSeparator()
    w.settings_action = _action(w, file_menu, "&Settings…", w.open_settings,
                                QKeySequence("Ctrl+,"), "settings")
    w.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
    file_menu.addSeparator()
    quit_action = _action(w, file_menu, "&Quit", w.close, QKeySequence.StandardKey.Quit)
    quit_action.setMenuRole(QAction.MenuRole.QuitRole)

    edit_menu = bar.addMenu("&Edit")
    w.ask_action = _action(w, edit_menu, "As&k Question", w.ask_from_box,
                           [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")], "send")
    w.stop_action = _action(w, edit_menu, "S&top Generating", w.stop_generation,
                            QKeySequence(Qt.Key.Key_Escape), "circle-stop")
    w.stop_action.setEnabled(False)
    edit_menu.addSeparator()
    w.copy_action = _action(w, edit_menu, "&Copy Answer", w.copy_answer,
                            QKeySequence("Ctrl+Shift+C"), "copy")
    w.search_action = _action(w, edit_menu, "&Search Documents", w.focus_search,
                              QKeySequence("Ctrl+K"), "search")

    view_menu = bar.addMenu("&View")
    w.view_actions = [
        _action(w, view_menu, name, lambda i=i: w.show_tab(i), QKeySequence(f"Ctrl+{i + 1}"))
        for i, name in enumerate(("&Ask", "Searc&h", "&Folders"))
    ]
    view_menu.addSeparator()
    theme_menu = view_menu.addMenu("&Theme")
    w.theme_group = QActionGroup(w)
    w.theme_group.setExclusive(True)
    w.theme_actions = {}
    for mode, text, icon in THEME_CHOICES:
        action = _action(w, theme_menu, text, lambda m=mode: w.set_theme(m), None, icon)
        action.setCheckable(True)
        action.setChecked(mode == w.state.theme)
        w.theme_group.addAction(action)
        w.theme_actions[mode] = action

    go_menu = bar.addMenu("&Go")
    w.next_citation_action = _action(w, go_menu, "&Next Citation", lambda: w.step_citation(1),
                                     QKeySequence(Qt.Key.Key_F8), "chevron-down")
    w.previous_citation_action = _action(
        w, go_menu, "&Previous Citation", lambda: w.step_citation(-1),
        QKeySequence(Qt.KeyboardModifier.ShiftModifier | Qt.Key.Key_F8), "chevron-up")

    help_menu = bar.addMenu("&Help")
    about = _action(w, help_menu, "&About Cairn", w.show_about, None, "info")
    about.setMenuRole(QAction.MenuRole.AboutRole)
    about_qt = _action(w, help_menu, "About &Qt", lambda: QMessageBox.aboutQt(w))
    about_qt.setMenuRole(QAction.MenuRole.AboutQtRole)
    for action in w.input_actions():
        action.setEnabled(False)


def name_controls(window: MainWindow) -> None:
    """Accessible names (and icons) for the panels' controls that do not set their own: a
    screen reader says "Question, edit" rather than "edit". The tests walk every control."""
    assert window.tabs is not None and window.ask_panel is not None and window.sources is not None
    window.tabs.tabBar().setAccessibleName("Views")
    names = {
        window.ask_panel.transcript: "Conversation",
        window.ask_panel.question: "Question",
        window.sources.list: "Sources",
        window.sources.text_viewer: "Source text",
        window.sources.passage_viewer: "Cited passage",
    }
    for widget, name in names.items():
        if not widget.accessibleName():
            widget.setAccessibleName(name)
    window.ask_panel.question.setTabChangesFocus(True)  # a question needs no tab characters
    bind_icon(window.ask_panel.copy_button, "copy")


def set_tab_order(window: MainWindow) -> None:
    """Tab in reading order: collection → conversations → views → question → Ask → the
    answer → sources; hidden widgets (the other views) are skipped by Qt."""
    assert window.collections is not None and window.conversations is not None
    assert window.ask_panel is not None and window.sources is not None and window.tabs is not None
    a, s = window.ask_panel, window.sources
    chain = [window.collections.combo, window.collections.manage, window.conversations.new_button,
             window.conversations.list, window.tabs.tabBar(), a.question, a.ask_button,
             a.copy_button, a.transcript, s.list, s.open_button, s.folder_button]
    for first, second in itertools.pairwise(chain):
        QWidget.setTabOrder(first, second)
