"""What the window remembers across restarts: `<home>/window.ini` (the collection, the theme).

Why a file of its own in the home and not `settings.json`: the settings are the core's (the CLI
and any server read them), and the window's choice of collection is not a setting of the index;
`cairn search` must not start searching one collection because the window last showed it. Why
the home: everything Cairn keeps is there (a test's home is its `tmp_path`, and removing the
home forgets everything), where QSettings' default would write to the user's platform config.
Why QSettings (INI): it writes through a temporary file and a rename, so a crash never leaves a
half-written file, and it is where the window's geometry would go too.

Reads and writes are a few hundred bytes, so they run on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

FILE_NAME = "window.ini"
_COLLECTION = "collection"
_THEME = "theme"
THEMES = ("system", "light", "dark")


class WindowState:
    """The window's remembered state in one home."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._settings = QSettings(str(path), QSettings.Format.IniFormat)

    @classmethod
    def for_home(cls, home: Path) -> WindowState:
        return cls(home / FILE_NAME)

    @property
    def collection(self) -> str | None:
        """The collection chosen last (None: all folders, or never chosen)."""
        value = self._settings.value(_COLLECTION)
        return str(value) if isinstance(value, str) and value else None

    @collection.setter
    def collection(self, name: str | None) -> None:
        if name == self.collection:
            return
        if name is None:
            self._settings.remove(_COLLECTION)
        else:
            self._settings.setValue(_COLLECTION, name)
        self._settings.sync()  # now: a crash or a killed process must not lose the choice

    @property
    def theme(self) -> str:
        """View ▸ Theme: "system" (the default, also for an unknown value), "light" or "dark"."""
        value = self._settings.value(_THEME)
        return value if isinstance(value, str) and value in THEMES else "system"

    @theme.setter
    def theme(self, mode: str) -> None:
        if mode not in THEMES:
            raise ValueError(f"unknown theme {mode!r}; one of {THEMES}")
        if mode != self.theme:
            self._settings.setValue(_THEME, mode)
            self._settings.sync()
