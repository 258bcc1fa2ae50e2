"""Packaging tests: fast recipe checks run by default; the real build only on request.

The `packaging` marker is registered here too, so these tests collect under `--strict-markers`
even before pyproject.toml lists the marker. Tests marked `packaging` (a full PyInstaller build
plus the frozen self-test: minutes) are skipped unless selected explicitly:

    uv run pytest -m packaging tests/packaging        # or CAIRN_PACKAGING_TESTS=1
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "packaging: builds the frozen app and installers (minutes); opt-in"
    )


def _selected(config: pytest.Config) -> bool:
    if os.environ.get("CAIRN_PACKAGING_TESTS") == "1":
        return True
    expr = (config.getoption("markexpr", default="") or "").replace("not packaging", "")
    return "packaging" in expr


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selected(config):
        return
    skip = pytest.mark.skip(
        reason="full installer build; run with `pytest -m packaging` or CAIRN_PACKAGING_TESTS=1"
    )
    for item in items:
        if item.get_closest_marker("packaging") is not None:
            item.add_marker(skip)
