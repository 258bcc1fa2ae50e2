"""Fixtures of the server tests: a home indexed by an owning knowledge base (fake models), with
its folders saved the way the window saves them, and the servers' operations over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.config import save_settings
from indexer.service import KnowledgeBase, build_hub
from indexer.serving.operations import Operations
from indexer.serving.reader import ReadOnlyKnowledgeBase
from tests.indexer.builders import TIMEOUT, make_docs, make_settings, write_valve_docs


@pytest.fixture
def owned_home(tmp_path: Path) -> Iterator[tuple[Path, KnowledgeBase]]:
    """(home, owner): valves.md and kitchen.txt indexed; the owner holds the home's lock."""
    docs = make_docs(tmp_path)
    write_valve_docs(docs)
    (docs / "manual.md").write_text(
        "# Pump manual\n\n## Priming\n\nOpen the bleed screw and fill the casing with water.\n\n"
        "## Storage\n\nDrain the pump before the first frost.\n", encoding="utf-8")
    settings = make_settings(tmp_path / "home", [docs])
    save_settings(settings, keys={"folders"})
    owner = KnowledgeBase(settings, build_hub(settings)).open()
    owner.index(timeout=TIMEOUT)
    yield tmp_path / "home", owner
    owner.close()


@pytest.fixture
def ops(owned_home: tuple[Path, KnowledgeBase]) -> Iterator[Operations]:
    settings = make_settings(owned_home[0])
    reader = ReadOnlyKnowledgeBase(settings, build_hub(settings))
    yield Operations(reader)
    reader.close()
