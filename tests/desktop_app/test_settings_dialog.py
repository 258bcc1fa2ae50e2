"""The settings dialog persists changes, warns on index-rebuilding keys, shows the privacy state."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QDialog

from desktop_app.settings_dialog import SettingsDialog
from indexer.config import load_settings
from tests.desktop_app.conftest import wait_indexed


def test_live_setting_is_saved_and_applied_in_place(qtbot, window_factory, cairn_home: Path):
    window = window_factory()
    kb = window.controller.kb
    dialog = window.open_settings()
    assert isinstance(dialog, SettingsDialog) and dialog.isVisible()
    dialog._fields["top_k"].setValue(5)
    assert dialog.changes() == {"top_k": 5}
    assert not dialog.reindex_warned
    with qtbot.waitSignal(window.controller.kb_reloaded, timeout=30_000):
        dialog.accept()
    assert window.controller.kb is kb  # answer knobs apply without reopening
    assert kb.settings.top_k == 5
    saved = json.loads((cairn_home / "settings.json").read_text())
    assert saved["top_k"] == 5
    assert load_settings(cairn_home).top_k == 5


def test_reindex_key_warns_and_rebuilds(qtbot, window_factory, sample_docs: Path, cairn_home: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    old_kb = window.controller.kb
    dialog = window.open_settings()
    dialog._fields["chunk_tokens"].setValue(96)
    assert dialog.reindex_warned
    assert "rebuilds the index" in dialog.warning.text()
    dialog._fields["chunk_tokens"].setValue(old_kb.settings.chunk_tokens)
    assert not dialog.reindex_warned  # back to the original value: no warning
    dialog._fields["chunk_tokens"].setValue(96)
    with qtbot.waitSignal(window.controller.kb_reloaded, timeout=60_000):
        dialog.accept()
    new_kb = window.controller.kb
    assert new_kb is not old_kb and new_kb.settings.chunk_tokens == 96
    assert load_settings(cairn_home).chunk_tokens == 96
    wait_indexed(qtbot, window, 4)
    panel = window.search_panel
    panel.edit.setText("Polaris")
    qtbot.waitUntil(lambda: bool(panel.results), timeout=10_000)


def test_cancel_changes_nothing(qtbot, window_factory, cairn_home: Path):
    window = window_factory()
    dialog = window.open_settings()
    dialog._fields["n_threads"].setValue(3)
    assert "reloads" in dialog.warning.text()
    dialog.reject()
    qtbot.wait(50)
    assert not (cairn_home / "settings.json").exists() or "n_threads" not in json.loads(
        (cairn_home / "settings.json").read_text()
    )
    assert window._settings_dialog is None


def test_ignore_patterns_and_size_limit_round_trip(qtbot, window_factory, cairn_home: Path):
    window = window_factory()
    dialog = window.open_settings()
    dialog.exclude_edit.setPlainText("*.log\n\n  drafts/**  \n")
    dialog._fields["max_file_mb"].setValue(2.5)
    changes = dialog.changes()
    assert changes == {"exclude_globs": ["*.log", "drafts/**"], "max_file_mb": 2.5}
    with qtbot.waitSignal(window.controller.kb_reloaded, timeout=30_000):
        dialog.done(QDialog.DialogCode.Accepted)
    s = load_settings(cairn_home)
    assert s.exclude_globs == ["*.log", "drafts/**"] and s.max_file_mb == 2.5


def test_privacy_panel_shows_offline(qtbot, window_factory):
    window = window_factory()
    dialog = window.open_settings()
    text = dialog.privacy.text()
    assert "Cairn works offline" in text
    assert "Blocked since start" in text
    model_ids = [dialog.model_combo.itemData(i) for i in range(dialog.model_combo.count())]
    assert "qwen2.5-coder-1.5b-instruct-q4_k_m" in model_ids
    dialog.set_chat_model_file("/models/my-model.gguf")
    assert dialog.changes()["chat_model"] == "/models/my-model.gguf"
    dialog.reject()


def test_team_model_server_is_said_before_the_first_question(qtbot, window_factory,
                                                             cairn_home: Path):
    """Choosing the team's server: the dialog says what will be sent where, and after OK the
    ask panel says it above the conversation, before anything is asked (no connection yet)."""
    window = window_factory()
    panel = window.ask_panel
    assert panel.server_notice.isHidden()
    dialog = window.open_settings()
    backend = dialog._fields["generator_backend"]
    backend.setCurrentIndex(backend.findData("server"))
    dialog._fields["chat_endpoint"].setText("http://gpu-box.lan:8000/v1")
    assert "gpu-box.lan:8000" in dialog.warning.text()
    assert "passages" in dialog.warning.text()
    assert dialog.changes() == {"generator_backend": "server",
                                "chat_endpoint": "http://gpu-box.lan:8000/v1"}
    with qtbot.waitSignal(window.controller.kb_reloaded, timeout=30_000):
        dialog.accept()
    qtbot.waitUntil(lambda: not panel.server_notice.isHidden(), timeout=5_000)
    assert "gpu-box.lan:8000" in panel.server_notice.text()
    assert panel.server_notice.accessibleName()
    saved = json.loads((cairn_home / "settings.json").read_text())
    assert saved["generator_backend"] == "server"
    assert saved["chat_endpoint"] == "http://gpu-box.lan:8000/v1"
    assert load_settings(cairn_home).generator_backend == "server"
