"""Fixtures the indexer tests share. The plain helpers they are built from (settings, knowledge
bases with fake models, corpora, probes) are in `tests/indexer/builders.py`: import those."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from indexer.service import KnowledgeBase
from tests.indexer.builders import TIMEOUT, make_settings, open_hub_kb


@pytest.fixture
def indexed_kb(tmp_path: Path) -> Iterator[Callable[..., KnowledgeBase]]:
    """`indexed_kb(docs, **overrides)`: a knowledge base over `docs` with the hub's fake models
    and its home in tmp_path/home, opened and indexed; closed when the test ends."""
    opened: list[KnowledgeBase] = []

    def build(docs: Path, **overrides: Any) -> KnowledgeBase:
        kb = open_hub_kb(make_settings(tmp_path / "home", [docs], **overrides))
        opened.append(kb)
        kb.index(timeout=TIMEOUT)
        return kb

    yield build
    for kb in opened:
        kb.close()
