"""The team server's API key: user-only file in the home, environment first, never in settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.credentials import (
    KEY_ENV,
    clear_chat_api_key,
    read_chat_api_key,
    save_chat_api_key,
)


def test_key_is_saved_user_only_and_read_back(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert read_chat_api_key(tmp_path) == ""
    path = save_chat_api_key(tmp_path, "  sk-abc \n")
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_chat_api_key(tmp_path) == "sk-abc"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".key-")]  # no temp left


def test_environment_wins_and_loose_modes_are_tightened(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_chat_api_key(tmp_path, "from-file")
    os.chmod(path, 0o644)
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert read_chat_api_key(tmp_path) == "from-file"
    assert path.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv(KEY_ENV, "from-env")
    assert read_chat_api_key(tmp_path) == "from-env"
    assert clear_chat_api_key(tmp_path) and not clear_chat_api_key(tmp_path)
