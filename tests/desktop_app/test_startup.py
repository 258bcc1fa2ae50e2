"""Start-up: the window paints before the core is imported; first run; --self-test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from desktop_app.about import about_html, versions
from desktop_app.welcome import SAMPLE_FILES, SAMPLE_FOLDER_NAME
from tests.desktop_app.conftest import wait_indexed

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("lancedb", "fastembed", "llama_cpp", "onnxruntime", "indexer.service", "pyarrow")


def test_gui_modules_do_not_import_the_heavy_core():
    code = (
        "import sys, desktop_app.main, desktop_app.main_window, desktop_app.app;"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_first_run_welcome_and_sample_documents(qtbot, window_factory, cairn_home: Path):
    window = window_factory(wait_open=False)
    # Painted before the core is open: the welcome (or loading) page, buttons waiting.
    assert window.isVisible() and window.controller.kb is None
    qtbot.waitUntil(lambda: window.controller.kb is not None, timeout=60_000)
    assert window.pages.currentWidget() is window.welcome
    assert window.welcome.samples_button.isEnabled()
    qtbot.waitUntil(lambda: "Deterministic test model" in window.welcome.models_label.text())
    window.welcome.samples_button.click()
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.workspace, timeout=30_000)
    assert window.tabs.currentWidget() is window.folders_panel
    wait_indexed(qtbot, window, len(SAMPLE_FILES))
    folder = cairn_home / SAMPLE_FOLDER_NAME
    assert sorted(p.name for p in folder.iterdir()) == sorted(SAMPLE_FILES)
    assert window.controller.kb.folders() == [folder.resolve()]


def test_model_status_lines_for_real_backends(cairn_home: Path):
    from desktop_app.welcome import describe_models
    from indexer.config import load_settings

    lines = describe_models(load_settings(cairn_home))
    assert [l.role for l in lines] == ["Embedding model", "Chat model"]
    assert all(l.state in ("ready", "assemblable", "missing") for l in lines)
    assert all(l.detail for l in lines)
    custom = describe_models(load_settings(cairn_home, chat_model="/nowhere/model.gguf"))
    assert custom[1].state == "missing" and "Settings" in custom[1].detail


def test_about_lists_versions_and_licences():
    v = versions()
    assert v["Qt"] and v["PySide6"] and v["Python"]
    text = about_html()
    assert "Apache-2.0" in text and "LGPL" in text and "Qwen2.5" in text


def test_self_test_flag(tmp_path: Path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("CAIRN_HOME", None)
    out = subprocess.run(
        [sys.executable, "-m", "desktop_app.main", "--self-test", "--fake-models",
         "--home", str(tmp_path / "home")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    assert summary["ok"] is True
    assert any("brewing-green-tea.html" in c for c in summary["citations"])
    assert summary["opened"]["viewer"] in ("passage", "text", "pdf")


def test_second_window_on_a_locked_home_says_what_to_do(qtbot, window_factory):
    first = window_factory()
    second = window_factory(wait_open=False)
    qtbot.waitUntil(lambda: not second.notice.isHidden(), timeout=60_000)
    text = second.notice.label.text()
    assert "Another Cairn process" in text and "Close the other Cairn window" in text
    assert second.controller.kb is None and not second.welcome.samples_button.isEnabled()
    assert first.controller.kb is not None  # the first window keeps working
