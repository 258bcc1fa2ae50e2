"""Root test configuration shared by every suite.

Tests never touch the user's real Cairn home and never reach the network: opt-out variables of
every dependency that phones home are set before anything imports them. The egress guard
(`models.offline`) is installed in strict mode for the whole session by `tests/offline_plugin.py`:
any connection attempt to a non-loopback address fails the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.offline_plugin"]

for _name, _value in {
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "QT_QPA_PLATFORM": "offscreen",
}.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture
def cairn_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty Cairn home for one test (also exported as CAIRN_HOME)."""
    home = tmp_path / "cairn-home"
    home.mkdir()
    monkeypatch.setenv("CAIRN_HOME", str(home))
    return home
