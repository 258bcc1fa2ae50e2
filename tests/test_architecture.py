"""Machine checks of the architecture rules in DESIGN.md (one-way deps, Qt-free core)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    """import-linter (pyproject.toml): desktop_app -> indexer -> models, the core never imports
    Qt, the GUI and the CLI reach models only through the core, ingest and answer stay
    independent, and storage sits below both."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_imports_with_qt_blocked() -> None:
    """The CLI and service import even when PySide6 cannot be imported at all."""
    code = (
        "import sys; sys.modules['PySide6'] = None; sys.modules['shiboken6'] = None\n"
        "import indexer.service, indexer.cli, models.hub\n"
        "assert not any(m.startswith('PySide6') and sys.modules[m] for m in sys.modules)\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_modules_stay_small() -> None:
    """DESIGN: split a module before it passes ~600 lines (everywhere: the app, the benchmarks,
    the installer recipes and the tests)."""
    too_long = []
    for package in ("indexer", "models", "desktop_app", "bench", "packaging", "tests"):
        for path in (ROOT / package).rglob("*.py"):
            lines = path.read_text(encoding="utf-8").count("\n")
            if lines > 650:
                too_long.append(f"{path.relative_to(ROOT)}: {lines}")
    assert not too_long, too_long
