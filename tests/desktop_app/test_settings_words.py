"""Settings in people's words (issue #21): named choices mapped exactly to setting values, custom
values kept, nothing changed by OK alone, the technical value in tooltips, accessible names on
every control, and a "This computer" panel that tells the truth about this machine."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTabBar,
    QTextEdit,
    QWidget,
)

from desktop_app.settings_dialog import SettingsDialog
from indexer.config import Settings, load_settings

DETECT_MS = 30_000
CUSTOM = {"n_gpu_layers": 20, "max_answer_tokens": 500, "context_passages": 6,
          "n_threads": (os.cpu_count() or 1) + 5}


@pytest.fixture
def open_dialog(qtbot: Any, cairn_home: Path) -> Iterator[Any]:
    made: list[SettingsDialog] = []

    def make(show: bool = False, **overrides: Any) -> SettingsDialog:
        dialog = SettingsDialog(load_settings(cairn_home, **overrides))
        qtbot.addWidget(dialog)
        made.append(dialog)
        if show:
            with qtbot.waitSignal(dialog.model_panel.detected, timeout=DETECT_MS):
                dialog.show()
        return dialog

    yield make
    for dialog in made:
        dialog.model_panel.shutdown()


def _labels(dialog: SettingsDialog) -> list[str]:
    return [label.text() for label in dialog.findChildren(QLabel)]


def _items(combo: QComboBox) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def _choose(combo: QComboBox, text: str) -> None:
    index = combo.findText(text)
    assert index >= 0, (text, _items(combo))
    combo.setCurrentIndex(index)


def test_the_knobs_are_in_peoples_words(open_dialog: Any) -> None:
    dialog = open_dialog()
    labels = _labels(dialog)
    for label in ("Use the graphics card:", "Answer length:", "How many passages to read:",
                  "CPU threads:"):
        assert label in labels
    assert not [t for t in labels if "-1 = all" in t or "0 = auto" in t]
    f = dialog._fields
    assert _items(f["n_gpu_layers"]) == ["Automatic", "Off"]
    assert _items(f["max_answer_tokens"]) == ["Short", "Normal", "Long"]
    assert _items(f["context_passages"]) == ["Few", "Normal", "Many"]
    # Cairn's defaults read as the plain choices, not as "Custom (…)".
    assert f["n_gpu_layers"].currentText() == "Automatic"
    assert f["max_answer_tokens"].currentText() == "Normal"
    assert f["context_passages"].currentText() == "Normal"
    assert f["n_threads"].text() == "Automatic"
    f["n_threads"].setValue(1)
    assert f["n_threads"].text() == "1"
    assert f["n_threads"].maximum() == max(os.cpu_count() or 1, 1)  # up to this machine's CPUs


@pytest.mark.parametrize(("setting", "choice", "value"), [
    ("n_gpu_layers", "Automatic", -1), ("n_gpu_layers", "Off", 0),
    ("max_answer_tokens", "Short", 192), ("max_answer_tokens", "Normal", 384),
    ("max_answer_tokens", "Long", 1024),
    ("context_passages", "Few", 3), ("context_passages", "Normal", 5),
    ("context_passages", "Many", 8),
])
def test_each_choice_sets_its_value(open_dialog: Any, cairn_home: Path, setting: str,
                                    choice: str, value: int) -> None:
    dialog = open_dialog(**CUSTOM)  # start from a custom value: every choice is a change
    _choose(dialog._fields[setting], choice)
    assert dialog.changes() == {setting: value}
    assert getattr(load_settings(cairn_home, **dialog.changes()), setting) == value  # valid


def test_normal_is_cairns_default() -> None:
    """Pinned so a new default cannot silently turn every user into "Custom (…)"."""
    assert Settings.model_fields["max_answer_tokens"].default == 384
    assert Settings.model_fields["context_passages"].default == 5
    assert Settings.model_fields["n_gpu_layers"].default == -1


def test_threads_are_automatic_or_a_number(open_dialog: Any) -> None:
    dialog = open_dialog()
    threads = dialog._fields["n_threads"]
    threads.setValue(1)
    assert dialog.changes() == {"n_threads": 1}
    threads.setValue(0)
    assert threads.text() == "Automatic" and dialog.changes() == {}


def test_custom_values_are_shown_and_kept(open_dialog: Any) -> None:
    dialog = open_dialog(**CUSTOM)
    f = dialog._fields
    assert f["n_gpu_layers"].currentText() == "Custom (20 layers)"
    assert f["max_answer_tokens"].currentText() == "Custom (500 tokens)"
    assert f["context_passages"].currentText() == "Custom (6 passages)"
    assert f["n_threads"].value() == CUSTOM["n_threads"]  # beyond this machine's CPUs: kept
    assert dialog.changes() == {}
    assert {k: dialog.values()[k] for k in CUSTOM} == CUSTOM
    _choose(f["n_gpu_layers"], "Off")
    assert dialog.changes() == {"n_gpu_layers": 0}
    _choose(f["n_gpu_layers"], "Custom (20 layers)")  # the custom entry stays to go back to
    assert dialog.changes() == {}


def test_ok_without_changes_changes_nothing(qtbot: Any, window_factory: Any,
                                            cairn_home: Path) -> None:
    saved = {**CUSTOM, "top_k": 11, "min_relevance": 0.37, "temperature": 0.3}
    (cairn_home / "settings.json").write_text(json.dumps(saved), encoding="utf-8")
    before = (cairn_home / "settings.json").read_bytes()
    window = window_factory()
    old = window.controller.settings.model_dump()
    dialog = window.open_settings()
    assert dialog.changes() == {}
    dialog.accept()
    qtbot.waitUntil(lambda: window._settings_dialog is None)
    qtbot.wait(200)  # an apply would have started by now
    assert (cairn_home / "settings.json").read_bytes() == before
    assert window.controller.settings.model_dump() == old
    assert {k: getattr(load_settings(cairn_home), k) for k in saved} == saved


def test_tooltips_carry_the_setting_and_its_number(open_dialog: Any) -> None:
    dialog = open_dialog()
    f = dialog._fields
    assert "n_gpu_layers = -1" in f["n_gpu_layers"].toolTip()
    _choose(f["n_gpu_layers"], "Off")
    assert "n_gpu_layers = 0" in f["n_gpu_layers"].toolTip()
    _choose(f["max_answer_tokens"], "Long")
    assert "max_answer_tokens = 1024" in f["max_answer_tokens"].toolTip()
    _choose(f["context_passages"], "Few")
    assert "context_passages = 3" in f["context_passages"].toolTip()
    assert "n_threads = 0" in f["n_threads"].toolTip()
    f["n_threads"].setValue(1)
    assert "n_threads = 1" in f["n_threads"].toolTip()
    for name in ("top_k", "min_relevance", "temperature", "n_ctx", "chunk_tokens"):
        assert f"Setting: {name}" in f[name].toolTip()


INTERACTIVE = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QPlainTextEdit,
               QTextEdit, QTabBar)


def _interactive(dialog: SettingsDialog) -> list[QWidget]:
    out = []
    for w in dialog.findChildren(QWidget):
        inner = isinstance(w.parentWidget(), (QAbstractSpinBox, QComboBox))  # their editors
        if isinstance(w, INTERACTIVE) and w.isVisible() and not inner:
            out.append(w)
    return out


def test_every_interactive_widget_has_an_accessible_name(qtbot: Any, open_dialog: Any) -> None:
    dialog = open_dialog(show=True)
    qtbot.waitUntil(lambda: bool(dialog.model_panel.rows), timeout=DETECT_MS)
    seen: set[int] = set()
    for page in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(page)
        widgets = _interactive(dialog)
        nameless = [f"{type(w).__name__} {w.objectName()!r} {getattr(w, 'text', str)()!r}"
                    for w in widgets if not w.accessibleName()]
        assert not nameless, (dialog.tabs.tabText(page), nameless)
        seen.update(id(w) for w in widgets)
    assert len(seen) >= 20  # the walk really found the dialog's controls


def _physical_cores() -> int:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo, capped by CPU affinity."""
    text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    pairs = set()
    for block in text.split("\n\n"):
        phys = re.search(r"^physical id\s*:\s*(\d+)", block, re.MULTILINE)
        core = re.search(r"^core id\s*:\s*(\d+)", block, re.MULTILINE)
        if core:
            pairs.add((phys.group(1) if phys else "0", core.group(1)))
    count = len(pairs) or os.cpu_count() or 1
    return min(count, len(os.sched_getaffinity(0)))


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads Linux's /proc/cpuinfo")
def test_hardware_panel_tells_this_machine(open_dialog: Any) -> None:
    dialog = open_dialog(show=True)
    dialog.show_page("This computer")
    panel = dialog.hardware
    assert panel.machine is not None
    flags_line = re.search(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    flags = flags_line.group(1).split() if flags_line else []
    avx2 = "yes" if "avx2" in flags else "no"
    avx512 = "yes" if any(f.startswith("avx512") for f in flags) else "no"
    cores = _physical_cores()
    html = panel.found.text()
    assert re.search(rf">{cores} cores[ <(]", html), html
    assert f"AVX2</td><td>{avx2}<" in html and f"AVX-512</td><td>{avx512}<" in html
    spoken = panel.found.accessibleName()
    assert f"AVX2: {avx2}" in spoken and f"Processor: {cores} cores" in spoken
    assert "Memory:" in spoken and "Graphics card:" in spoken
    # What it will run: the chosen model, where, how many threads — following the choices.
    plan = panel.plan.text()
    assert "Qwen2.5-Coder 1.5B Instruct" in plan and f"{cores} thread" in plan
    dialog._fields["n_threads"].setValue(1)
    assert "with 1 thread" in panel.plan.text()
    _choose(dialog._fields["n_gpu_layers"], "Off")
    assert "on the CPU" in panel.plan.text() and "graphics card off" in panel.plan.text()


def test_a_team_server_greys_the_local_knobs(open_dialog: Any) -> None:
    dialog = open_dialog()
    f = dialog._fields
    local = [f[name] for name in ("chat_model", "n_threads", "n_gpu_layers")]
    assert all(w.isEnabled() for w in local) and not f["chat_endpoint"].isEnabled()
    backend = f["generator_backend"]
    backend.setCurrentIndex(backend.findData("server"))
    f["chat_endpoint"].setText("http://gpu-box.lan:8000/v1")
    assert not any(w.isEnabled() for w in local) and f["chat_endpoint"].isEnabled()
    assert "gpu-box.lan:8000" in dialog.hardware.plan.text()
    backend.setCurrentIndex(backend.findData("llama_cpp"))
    assert all(w.isEnabled() for w in local)
    assert dialog.changes() == {"chat_endpoint": "http://gpu-box.lan:8000/v1"}


@pytest.mark.skipif(not os.environ.get("CAIRN_SCREENSHOT_DIR"),
                    reason="set CAIRN_SCREENSHOT_DIR to save the dialog's screenshots")
def test_screenshots_light_and_dark(qtbot: Any, open_dialog: Any) -> None:
    """docs/screenshots/21-settings-{light,dark}.png: the "This computer" tab at 1x."""
    from PySide6.QtWidgets import QApplication

    from desktop_app.theme import _dark_palette, is_dark

    app = QApplication.instance()
    out = Path(os.environ["CAIRN_SCREENSHOT_DIR"])
    style, palette = app.style().name(), app.palette()
    try:
        for scheme in ("light", "dark"):
            if scheme == "dark":  # what Theme.apply does when the system turns dark
                app.setStyle("Fusion")
                app.setPalette(_dark_palette())
            dialog = open_dialog(show=True)
            assert is_dark(dialog.palette()) == (scheme == "dark")
            for page, name in (("This computer", ""), ("Answers", "-answers")):
                dialog.show_page(page)
                qtbot.wait(150)
                dialog.grab().save(str(out / f"21-settings{name}-{scheme}.png"))
            dialog.reject()
    finally:
        app.setStyle(style)
        app.setPalette(palette)


def test_plan_says_cpu_or_graphics_card() -> None:
    """The GPU sentences, on made-up machines (this one's llama.cpp is a CPU build)."""
    from desktop_app.hardware_panel import RunChoice, gpu_text, plan_text
    from models.hardware import GB, Machine

    def machine(offload: bool, name: str | None) -> Machine:
        return Machine(cores=4, logical_cpus=8, ram_bytes=16 * GB, cpu_features=("AVX2",),
                       gpu_offload=offload, gpu_name=name,
                       gpu_memory_bytes=12 * GB if name else None)

    def plan(layers: int, m: Machine | None, threads: int = 0) -> str:
        return plan_text(RunChoice("llama_cpp", "Model X", layers, threads), m)

    gpu, cpu_only = machine(True, "RTX 4070"), machine(False, "RTX 4070")
    assert gpu_text(gpu) == "RTX 4070 (12 GB), which llama.cpp can use"
    assert "cannot use it" in gpu_text(cpu_only)
    assert plan(-1, gpu) == "Cairn will run Model X on the graphics card (the whole model)."
    assert "20 layers, the rest with 4 threads (automatic) on the CPU" in plan(20, gpu)
    assert plan(0, gpu) == ("Cairn will run Model X on the CPU with 4 threads (automatic), "
                            "the graphics card off.")
    assert "cannot use a graphics card" in plan(-1, cpu_only, threads=2)
    assert "with 2 threads" in plan(-1, cpu_only, threads=2)
    assert "if llama.cpp can use one" in plan(-1, None)  # before detection has finished
