"""Where Cairn keeps its files: one *home* folder per user (or per test).

The home is `CAIRN_HOME` if set, else the platform's user data dir (platformdirs: XDG on Linux,
~/Library/Application Support on macOS, %LOCALAPPDATA% on Windows). Everything Cairn writes lives
under it, so tests get a private home in tmp_path and uninstalling never touches documents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "Cairn"


def default_home() -> Path:
    """The home for this process: `CAIRN_HOME`, else the platform user data dir."""
    env = os.environ.get("CAIRN_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True, slots=True)
class AppPaths:
    """The layout inside a home. Directories are created on demand with user-only permissions."""

    home: Path

    @property
    def settings_file(self) -> Path:
        return self.home / "settings.json"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def traces_dir(self) -> Path:
        return self.home / "traces"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def lock_file(self) -> Path:
        return self.home / "cairn.lock"

    def ensure(self) -> AppPaths:
        """Create the home and its folders (mode 0700: the index holds document text)."""
        for d in (self.home, self.index_dir, self.models_dir, self.traces_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
            try:
                os.chmod(d, 0o700)
            except OSError:  # e.g. a filesystem without POSIX modes
                pass
        return self
