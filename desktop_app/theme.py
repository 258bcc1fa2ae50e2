"""Cairn's one look: light and dark palettes, one stylesheet, a type scale and tinted icons.

Why Fusion with Cairn's own palettes everywhere, rather than the platform style when light: one
look that is the same on every system is one look to test and to screenshot, and the stock
widgets of the platform styles (framed group boxes, bevelled buttons) are what made the window
look like a developer tool. The scheme follows the system (`QStyleHints.colorScheme()`, which Qt
6 keeps up to date from macOS, Windows 11 and the GNOME/KDE portals) unless the person picks
Light or Dark in View ▸ Theme (`Theme.set_mode`; the window remembers the choice).

The stylesheet is built from the palette with literal colours (not `palette(...)` references,
which Qt resolves once, when a widget is polished) and set again on every switch. Its rules are
few: spacing on an 8 px grid, rounded frames, a primary-button style, flat tabs and group boxes,
and a type scale that widgets opt into with `set_role(widget, "title" | "heading" | "muted" |
"empty")`.

Widgets that render HTML listen to `Theme.changed` (or their own PaletteChange) and re-render
with the new `Colors`. Icons come from `desktop_app/icons/` (Lucide, ISC: see its README) and are
tinted with the palette's text colour; `bind_icon` keeps a button's or action's icon in step with
the theme.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QByteArray, QObject, Qt, Signal, Slot
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QWidget

from desktop_app.rendering import Colors
from desktop_app.window_state import THEMES

MODES = THEMES
ICON_DIR = Path(__file__).with_name("icons")
#: Pixel sizes each icon is drawn at: every size a menu, button or toolbar asks for at 1x, 1.5x
#: and 2x has an exact pixmap, so nothing is scaled (blurred) from another size.
ICON_PIXELS = (16, 20, 24, 32, 40, 48, 64)
#: The spacing grid (px): margins and gaps are multiples of it.
SPACING = 8
#: Type scale, as factors of the application font.
TYPE_SCALE = {"title": 1.6, "heading": 1.15, "body": 1.0, "small": 0.9}


def is_dark(palette: QPalette | None = None) -> bool:
    pal = palette or QGuiApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def _palette(colors: dict[str, str]) -> QPalette:
    pal = QPalette()
    roles = QPalette.ColorRole
    for role, value in colors.items():
        pal.setColor(getattr(roles, role), QColor(value))
    disabled = QColor(colors["PlaceholderText"])
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return pal


def _dark_palette() -> QPalette:
    return _palette({
        "Window": "#232427", "WindowText": "#e8e8ea", "Base": "#1b1c1e",
        "AlternateBase": "#26272a", "ToolTipBase": "#3a3b40", "ToolTipText": "#f0f0f2",
        "PlaceholderText": "#8d8f96", "Text": "#e8e8ea", "Button": "#303136",
        "ButtonText": "#e8e8ea", "BrightText": "#ff6b6b", "Link": "#82aaff",
        "LinkVisited": "#b59cff", "Highlight": "#3d6fd6", "HighlightedText": "#ffffff",
        "Light": "#45464c", "Midlight": "#393a3f", "Mid": "#2c2d31", "Dark": "#141416",
        "Shadow": "#000000",
    })  # fmt: skip


def _light_palette() -> QPalette:
    return _palette({
        "Window": "#f4f4f6", "WindowText": "#1d1d20", "Base": "#ffffff",
        "AlternateBase": "#f6f7f9", "ToolTipBase": "#ffffff", "ToolTipText": "#1d1d20",
        "PlaceholderText": "#80828a", "Text": "#1d1d20", "Button": "#ffffff",
        "ButtonText": "#1d1d20", "BrightText": "#c62828", "Link": "#2457c5",
        "LinkVisited": "#6a3fc4", "Highlight": "#2f66d0", "HighlightedText": "#ffffff",
        "Light": "#ffffff", "Midlight": "#ebebef", "Mid": "#c9cad1", "Dark": "#a0a2aa",
        "Shadow": "#5f6168",
    })  # fmt: skip


def _blend(base: QColor, ink: QColor, amount: float) -> str:
    """`amount` (0..1) of the way from `base` to `ink`, as a CSS colour."""
    mix = [round(b + (i - b) * amount) for b, i in (
        (base.red(), ink.red()), (base.green(), ink.green()), (base.blue(), ink.blue()))]
    return "#{:02x}{:02x}{:02x}".format(*mix)


def colors_for(palette: QPalette | None = None) -> Colors:
    """CSS colours for answers, chips and highlights that read well on `palette`.

    Code blocks and table headers are tinted a step from the palette's base towards its text
    (a bigger step in dark, where small differences of dark greys are hard to see), so they
    read on whatever base the palette has, the system's own included."""
    pal = palette or QGuiApplication.palette()
    dark = is_dark(pal)
    base, ink = pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text)
    code = {"code_bg": _blend(base, ink, 0.07 if dark else 0.045),
            "code_border": _blend(base, ink, 0.2 if dark else 0.14)}
    if dark:
        return Colors(
            chip_bg="#2f4a7a", chip_fg="#e4ecff", mark_bg="#7a6212", mark_fg="#ffffff",
            muted="#a0a0a0", notice_bg="#4a3a1c", notice_fg="#ffe2b0", error_fg="#ff8a80",
            **code,
        )  # fmt: skip
    return Colors(**code)


def _base_point_size(app: QApplication) -> float:
    size = app.font().pointSizeF()
    return size if size > 0 else 10.0


def stylesheet(palette: QPalette, base_pt: float = 10.0) -> str:
    """The application stylesheet for `palette` (literal colours; see the module docstring)."""
    c = palette.color
    r = QPalette.ColorRole
    dark = is_dark(palette)
    text, muted = c(r.Text).name(), c(r.PlaceholderText).name()
    window, base, button = c(r.Window).name(), c(r.Base).name(), c(r.Button).name()
    accent, on_accent = c(r.Highlight).name(), c(r.HighlightedText).name()
    border = "#3a3b41" if dark else "#d3d4da"
    hover = "#393a40" if dark else "#eceef3"
    accent_hover = QColor(accent).lighter(112).name() if dark else QColor(accent).darker(110).name()
    colors = colors_for(palette)
    pt = {k: round(base_pt * f, 1) for k, f in TYPE_SCALE.items()}
    s = SPACING
    return f"""
QLabel[role="title"] {{ font-size: {pt['title']}pt; font-weight: 700; }}
QLabel[role="heading"] {{ font-size: {pt['heading']}pt; font-weight: 600; }}
QLabel[role="muted"] {{ color: {muted}; font-size: {pt['small']}pt; }}
QLabel[role="empty"] {{ color: {muted}; padding: {s + 4}px; }}
QPushButton {{
    background: {button}; color: {text}; border: 1px solid {border}; border-radius: 6px;
    padding: {s // 2 + 1}px {s + 4}px; min-height: 1.4em;
}}
QPushButton:hover {{ background: {hover}; }}
QPushButton:pressed, QPushButton:checked {{ background: {border}; }}
QPushButton:disabled {{ color: {muted}; background: {window}; }}
QPushButton:default, QPushButton[primary="true"] {{
    background: {accent}; color: {on_accent}; border-color: {accent};
}}
QPushButton:default:hover, QPushButton[primary="true"]:hover {{ background: {accent_hover}; }}
QPushButton:default:disabled, QPushButton[primary="true"]:disabled {{
    background: {border}; border-color: {border}; color: {muted};
}}
QToolButton {{ border: 1px solid transparent; border-radius: 6px; padding: 3px; }}
QToolButton:hover {{ background: {hover}; border-color: {border}; }}
QToolButton#collectionMenu::menu-indicator {{ image: none; width: 0; }}
QLineEdit, QPlainTextEdit, QTextEdit, QAbstractItemView {{
    background: {base}; color: {text}; border: 1px solid {border}; border-radius: 6px;
    selection-background-color: {accent}; selection-color: {on_accent};
}}
QLineEdit {{ padding: {s // 2}px {s - 2}px; }}
QLineEdit:focus, QPlainTextEdit:focus, QTextEdit:focus, QAbstractItemView:focus {{
    border: 1px solid {accent};
}}
QListView::item {{ padding: {s // 2 + 1}px {s // 2}px; border-radius: 4px; }}
QListView::item:selected {{ background: {accent}; color: {on_accent}; }}
QHeaderView::section {{
    background: {window}; color: {muted}; border: none; border-bottom: 1px solid {border};
    padding: {s // 2}px {s - 2}px; font-weight: 600;
}}
QTabWidget::pane {{ border: none; border-top: 1px solid {border}; }}
QTabBar::tab {{
    background: transparent; color: {muted}; padding: {s - 2}px {s * 2}px;
    border: none; border-bottom: 2px solid transparent; margin-right: {s // 2}px;
}}
QTabBar::tab:selected {{ color: {text}; border-bottom: 2px solid {accent}; }}
QTabBar::tab:hover:!selected {{ color: {text}; }}
QGroupBox {{
    border: 1px solid {border}; border-radius: 8px; margin-top: 1.6em;
    padding: {s + 4}px {s}px {s}px {s}px; font-weight: 600;
}}
QGroupBox::title {{
    subcontrol-origin: margin; subcontrol-position: top left; left: {s // 2}px;
    padding: 0 {s // 2}px; color: {text};
}}
QSplitter::handle {{ background: {border}; }}
QSplitter::handle:horizontal {{ width: 1px; }}
QSplitter::handle:vertical {{ height: 1px; }}
QStatusBar {{ border-top: 1px solid {border}; color: {muted}; }}
QStatusBar QLabel {{ color: {muted}; padding: 0 {s // 2}px; }}
QProgressBar {{
    border: 1px solid {border}; border-radius: 5px; background: {base}; text-align: center;
    min-height: 1.1em;
}}
QProgressBar::chunk {{ background: {accent}; border-radius: 4px; }}
QMenu {{ padding: {s // 2}px; }}
QMenu::item {{ padding: {s // 2}px {s * 3}px {s // 2}px {s * 2}px; border-radius: 4px; }}
QMenu::item:selected {{ background: {accent}; color: {on_accent}; }}
QMenu::separator {{ height: 1px; background: {border}; margin: {s // 2}px {s}px; }}
QToolTip {{ color: {c(r.ToolTipText).name()}; background: {c(r.ToolTipBase).name()};
    border: 1px solid {border}; padding: {s // 2}px; }}
#noticeBar {{ background: {colors.notice_bg}; }}
#noticeBar QLabel {{ color: {colors.notice_fg}; }}
#firstRunSteps {{ background: {base}; border-bottom: 1px solid {border}; }}
"""


def set_role(widget: QWidget, role: str) -> QWidget:
    """Give `widget` a place in the type scale ("title", "heading", "muted", "empty")."""
    widget.setProperty("role", role)
    return widget


# ------------------------------------------------------------------ icons
_icon_cache: dict[tuple[str, str, str], QIcon] = {}
_bound: list[tuple[weakref.ref[Any], str]] = []


def icon(name: str, palette: QPalette | None = None) -> QIcon:
    """The bundled icon `name`, tinted for `palette`, with an exact pixmap per `ICON_PIXELS`
    size (crisp at 1x and 2x); a disabled variant in the palette's disabled text colour."""
    pal = palette or QGuiApplication.palette()
    normal = pal.color(QPalette.ColorRole.ButtonText).name()
    disabled = pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText).name()
    key = (name, normal, disabled)
    cached = _icon_cache.get(key)
    if cached is not None:
        return cached
    svg = (ICON_DIR / f"{name}.svg").read_text(encoding="utf-8")
    result = QIcon()
    for mode, color in ((QIcon.Mode.Normal, normal), (QIcon.Mode.Disabled, disabled)):
        renderer = QSvgRenderer(QByteArray(svg.replace("currentColor", color).encode()))
        for px in ICON_PIXELS:
            pixmap = QPixmap(px, px)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            renderer.render(painter)
            painter.end()
            result.addPixmap(pixmap, mode)
    _icon_cache[key] = result
    return result


def bind_icon(target: Any, name: str) -> None:
    """Set `name`'s icon on a button or action now, and again whenever the theme changes."""
    target.setIcon(icon(name))
    _bound[:] = [(ref, n) for ref, n in _bound if ref() is not target]  # re-bound: replace
    _bound.append((weakref.ref(target), name))


def _retint_bound() -> None:
    alive = []
    for ref, name in _bound:
        target = ref()
        if target is not None and shiboken6.isValid(target):
            target.setIcon(icon(name))
            alive.append((ref, name))
    _bound[:] = alive


class Theme(QObject):
    """Keeps the application palette, style sheet and icons in step with the chosen scheme.

    One per application (`Theme.instance()`); `mode` is "system" (follow the platform), "light"
    or "dark".

    Signals:
        changed(bool): the effective scheme changed; True when dark.
    """

    changed = Signal(bool)
    _instance: Theme | None = None

    def __init__(self, app: QApplication, mode: str = "system") -> None:
        super().__init__(app)
        if mode not in MODES:
            raise ValueError(f"unknown theme mode {mode!r}; one of {MODES}")
        self._app = app
        self._mode = mode
        self._base_pt = _base_point_size(app)
        Theme._instance = self
        hints = app.styleHints()
        hints.colorSchemeChanged.connect(self._on_color_scheme_changed)
        self._scheme = hints.colorScheme()
        self.apply()

    @classmethod
    def instance(cls) -> Theme | None:
        """The application's Theme, if one was made (main() makes it; tests may not)."""
        theme = cls._instance
        return theme if theme is not None and shiboken6.isValid(theme) else None

    @property
    def dark(self) -> bool:
        return is_dark(self._app.palette())

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Follow the system ("system") or force "light" / "dark"; emits `changed` if the
        effective scheme changes."""
        if mode not in MODES:
            raise ValueError(f"unknown theme mode {mode!r}; one of {MODES}")
        self._mode = mode
        self._update()

    def apply(self, scheme: Qt.ColorScheme | None = None) -> None:
        """Set style, palette, stylesheet and icons for the mode (and the system `scheme`)."""
        if scheme is not None:
            self._scheme = scheme
        want_dark = self._mode == "dark" or (
            self._mode == "system" and self._scheme == Qt.ColorScheme.Dark
        )
        if self._app.style().name().lower() != "fusion":
            self._app.setStyle("Fusion")
        palette = _dark_palette() if want_dark else _light_palette()
        self._app.setPalette(palette)
        self._app.setStyleSheet(stylesheet(palette, self._base_pt))
        _retint_bound()

    def dispose(self) -> None:
        """Stop following the system (tests restore the application's look afterwards)."""
        self._app.styleHints().colorSchemeChanged.disconnect(self._on_color_scheme_changed)
        if Theme._instance is self:
            Theme._instance = None
        self.deleteLater()

    def _update(self, scheme: Qt.ColorScheme | None = None) -> None:
        was_dark = self.dark
        self.apply(scheme)
        if self.dark != was_dark:
            self.changed.emit(self.dark)

    @Slot(Qt.ColorScheme)
    def _on_color_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        self._update(scheme)
