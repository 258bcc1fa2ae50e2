"""`cairn mcp` over stdio, driven by the MCP SDK's own client, while another process owns the
home (as the Cairn window does): initialize, list tools, search, read, and ask with the real
small chat model; then the other order of start-up (the server first, then the owner).

Offline: the server runs behind Cairn's egress guard (the CLI installs it) and the test session
is strict (tests/offline_plugin.py); stdio needs no socket at all.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import anyio
import filelock
import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.owner_worker import cairn_command, running_owner

SAMPLES = Path(__file__).resolve().parents[2] / "desktop_app" / "sample_docs"
SMALL_CHAT = "qwen2.5-coder-0.5b-instruct-q4_k_m"


def _server(home: Path, *extra: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(command=cairn_command(), args=["--home", str(home), *extra,
                                                                "mcp"], env=env or None)


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))
    return docs.resolve()


@pytest.mark.real_models
def test_stdio_with_the_real_models_while_another_process_owns_the_home(tmp_path: Path) -> None:
    home, docs = tmp_path / "home", _docs(tmp_path)
    # The answer settings of tests/e2e/test_real_models.py, through the environment.
    params = _server(home, CAIRN_CHAT_MODEL=SMALL_CHAT, CAIRN_N_CTX="2048",
                     CAIRN_MAX_ANSWER_TOKENS="96")

    async def session() -> dict[str, Any]:
        async with Client(params, mode="legacy", read_timeout_seconds=600) as client:
            out: dict[str, Any] = {"info": client.server_info,
                                   "tools": (await client.list_tools()).tools}
            out["search"] = await client.call_tool(
                "search", {"query": "how long until my eyes get used to the dark", "top_k": 3})
            hit = out["search"].structured_content["hits"][0]
            out["read"] = await client.call_tool("read", {"chunk_id": hit["chunk_id"]})
            out["ask"] = await client.call_tool(
                "ask", {"question": "How many minutes does the eye take to adapt fully to "
                                    "darkness?"})
            return out

    with running_owner(home, docs, fake=False):
        with pytest.raises(filelock.Timeout):  # the owner really holds the home
            filelock.FileLock(str(home / "cairn.lock"), timeout=0).acquire()
        out = anyio.run(session)

    assert out["info"].name == "cairn"
    assert {t.name for t in out["tools"]} == {"search", "read", "list_files", "status", "ask"}
    hit = out["search"].structured_content["hits"][0]
    assert Path(hit["path"]).name == "observing-the-night-sky.pdf" and hit["page"] == 1
    passages = out["read"].structured_content["passages"]
    assert hit["chunk_id"] in [p["chunk_id"] for p in passages]
    ask = out["ask"]
    assert not ask.is_error, ask.content
    answer = ask.structured_content
    assert answer["model"] == SMALL_CHAT
    assert answer["text"]
    for c in answer["citations"]:  # citations as data, each one marked in the text
        assert f"[{c['number']}]" in answer["text"] and Path(c["path"]).parent == docs
    if answer["found"]:
        assert answer["citations"]
        assert any(Path(c["path"]).name == "observing-the-night-sky.pdf"
                   for c in answer["citations"])


def test_server_first_then_the_owner(tmp_path: Path) -> None:
    """The other order: `cairn mcp` runs (fake models) before a process takes the home; the
    owner still gets the lock, and the server sees what it indexes afterwards."""
    home, docs = tmp_path / "home", _docs(tmp_path)
    with running_owner(home, docs, fake=True):  # build a first index, then let go of the home
        pass
    params = _server(home, "--fake-models")

    async def session() -> tuple[Any, Any]:
        async with Client(params, mode="legacy", read_timeout_seconds=120) as client:
            before = await client.call_tool("search", {"query": "cairn base stones"})
            (docs / "late.md").write_text("# Late\n\nThe quillwort trail opens in May.\n",
                                          encoding="utf-8")
            with running_owner(home, docs, fake=True):  # takes the lock: the server holds none
                after = await client.call_tool("search", {"query": "quillwort trail",
                                                          "mode": "bm25"})
            return before, after

    before, after = anyio.run(session)
    assert not before.is_error and before.structured_content["hits"]
    assert not after.is_error, after.content
    assert Path(after.structured_content["hits"][0]["path"]).name == "late.md"
