"""Light/dark theme that follows the system, and palette-derived colours for rich text.

Qt 6 already follows the platform's colour scheme where the platform theme reports it (macOS,
Windows 11, GNOME/KDE through their portals). Where it does not (plain X11, offscreen), the
application palette can stay light while `QStyleHints.colorScheme()` says dark: then, and only
then, Cairn switches to the Fusion style with a dark palette. Widgets that render HTML listen to
`Theme.changed` and re-render with the new `Colors`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from desktop_app.rendering import Colors


def is_dark(palette: QPalette | None = None) -> bool:
    pal = palette or QGuiApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def _dark_palette() -> QPalette:
    pal = QPalette()
    roles = QPalette.ColorRole
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(230, 230, 230)
    pal.setColor(roles.Window, window)
    pal.setColor(roles.WindowText, text)
    pal.setColor(roles.Base, base)
    pal.setColor(roles.AlternateBase, QColor(40, 40, 43))
    pal.setColor(roles.ToolTipBase, QColor(60, 60, 64))
    pal.setColor(roles.ToolTipText, text)
    pal.setColor(roles.PlaceholderText, QColor(150, 150, 150))
    pal.setColor(roles.Text, text)
    pal.setColor(roles.Button, window)
    pal.setColor(roles.ButtonText, text)
    pal.setColor(roles.BrightText, QColor(255, 90, 90))
    pal.setColor(roles.Link, QColor(120, 170, 255))
    pal.setColor(roles.LinkVisited, QColor(170, 140, 255))
    pal.setColor(roles.Highlight, QColor(64, 120, 210))
    pal.setColor(roles.HighlightedText, QColor(255, 255, 255))
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(128, 128, 128))
    return pal


def colors_for(palette: QPalette | None = None) -> Colors:
    """CSS colours for answers, chips and highlights that read well on `palette`."""
    pal = palette or QGuiApplication.palette()
    if is_dark(pal):
        return Colors(
            chip_bg="#2f4a7a", chip_fg="#e4ecff", mark_bg="#7a6212", mark_fg="#ffffff",
            muted="#a0a0a0", notice_bg="#4a3a1c", notice_fg="#ffe2b0", error_fg="#ff8a80",
        )  # fmt: skip
    return Colors()


class Theme(QObject):
    """Keeps the application palette in step with the system colour scheme.

    Signals:
        changed(bool): the effective scheme changed; True when dark.
    """

    changed = Signal(bool)

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._app = app
        self._forced = False
        hints = app.styleHints()
        hints.colorSchemeChanged.connect(self._on_color_scheme_changed)
        self.apply()

    @property
    def dark(self) -> bool:
        return is_dark(self._app.palette())

    def apply(self, scheme: Qt.ColorScheme | None = None) -> None:
        """Match the palette to `scheme` (default: what the platform reports now)."""
        if scheme is None:
            scheme = self._app.styleHints().colorScheme()
        want_dark = scheme == Qt.ColorScheme.Dark
        if want_dark and not is_dark(self._app.palette()):
            self._app.setStyle("Fusion")
            self._app.setPalette(_dark_palette())
            self._forced = True
        elif not want_dark and self._forced:
            self._app.setPalette(self._app.style().standardPalette())
            self._forced = False

    @Slot(Qt.ColorScheme)
    def _on_color_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        was_dark = self.dark
        self.apply(scheme)
        if self.dark != was_dark:
            self.changed.emit(self.dark)
