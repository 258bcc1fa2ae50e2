"""`cairn mcp` beside the real Cairn window on the same home, in both orders of start-up: the
window owns the index (its lock, its writes), the server reads it without the lock and sees
what the window indexes later. Fake models in both processes (the same fake embedder)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from indexer.config import save_settings
from indexer.service import KnowledgeBase, build_hub
from tests.desktop_app.conftest import wait_indexed
from tests.indexer.builders import make_settings

CAIRN = str(Path(sys.executable).with_name("cairn"))


def _server(home: Path) -> StdioServerParameters:
    return StdioServerParameters(command=CAIRN, args=["--home", str(home), "--fake-models", "mcp"])


def _paths(result: Any) -> list[str]:
    assert not result.is_error, result.content
    return [Path(h["path"]).name for h in result.structured_content["hits"]]


def test_window_first_then_the_server(qtbot, window_factory, sample_docs: Path,
                                      cairn_home: Path) -> None:
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)

    async def session() -> tuple[list[str], list[str]]:
        async with Client(_server(cairn_home), mode="legacy", read_timeout_seconds=120) as c:
            first = _paths(await c.call_tool("search", {"query": "green tea temperature"}))
            (sample_docs / "late.md").write_text("# Late\n\nThe quillwort trail opens in "
                                                 "May.\n", encoding="utf-8")
            wait_indexed(qtbot, window, 5)  # the window's watcher indexes the new file
            later = _paths(await c.call_tool("search", {"query": "quillwort trail",
                                                        "mode": "bm25"}))
            return first, later

    first, later = anyio.run(session)
    assert first[0] == "brewing-green-tea.html"
    assert later[0] == "late.md"


def test_server_first_then_the_window(qtbot, window_factory, sample_docs: Path,
                                      cairn_home: Path) -> None:
    settings = make_settings(cairn_home, [sample_docs.resolve()])
    save_settings(settings, keys={"folders"})
    with KnowledgeBase(settings, build_hub(settings)) as kb:  # an index from an earlier session
        kb.index(timeout=60)

    async def session() -> tuple[list[str], list[str]]:
        async with Client(_server(cairn_home), mode="legacy", read_timeout_seconds=120) as c:
            before = _paths(await c.call_tool("search", {"query": "green tea temperature"}))
            window = window_factory()  # opens the home: the server holds no lock
            assert window.controller.kb is not None
            (sample_docs / "late.md").write_text("# Late\n\nThe quillwort trail opens in "
                                                 "May.\n", encoding="utf-8")
            wait_indexed(qtbot, window, 5)
            after = _paths(await c.call_tool("search", {"query": "quillwort trail",
                                                        "mode": "bm25"}))
            return before, after

    before, after = anyio.run(session)
    assert before[0] == "brewing-green-tea.html"
    assert after[0] == "late.md"
