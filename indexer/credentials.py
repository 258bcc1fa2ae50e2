"""The team model server's API key: kept apart from settings.json, readable by the user only.

Why not in settings.json: that file is shown (`cairn config show`), copied between machines and
attached to bug reports. The key lives in its own file in the Cairn home (mode 0600, the home
itself 0700), written atomically; `CAIRN_CHAT_API_KEY` in the environment wins, for a secret
manager or a service unit. The OS keyring was considered: `keyring` is not among Cairn's
dependencies, has no backend on a headless Linux box without a Secret Service, and would make
the CLI and a service behave differently; a user-only file is what ssh and the cloud CLIs do.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["KEY_ENV", "KEY_FILE", "clear_chat_api_key", "read_chat_api_key", "save_chat_api_key"]

KEY_FILE = "chat-api-key"
KEY_ENV = "CAIRN_CHAT_API_KEY"


def _path(home: Path) -> Path:
    return home / KEY_FILE


def read_chat_api_key(home: Path) -> str:
    """The key from the environment, else from the home's key file (a looser mode is
    tightened to 0600 on read), else ""."""
    from_env = os.environ.get(KEY_ENV, "").strip()
    if from_env:
        return from_env
    path = _path(home)
    try:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def save_chat_api_key(home: Path, key: str) -> Path:
    """Write the key (mode 0600 from the start: temp file, then rename)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".key-", dir=home)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key.strip() + "\n")
        os.replace(tmp, _path(home))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return _path(home)


def clear_chat_api_key(home: Path) -> bool:
    """Delete the stored key; True when there was one."""
    try:
        _path(home).unlink()
    except FileNotFoundError:
        return False
    return True
