"""The MCP server in process, through the SDK's own `Client` (fake models): the tools, their
schemas, the resources, and bad requests that get clear errors while the server keeps serving.
The stdio end-to-end test with the real models is in tests/e2e/test_mcp_stdio.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from indexer.service import KnowledgeBase
from indexer.serving.mcp_server import build_server, file_uri
from indexer.serving.operations import MAX_TOP_K, Operations


def _run(ops: Operations, body: Any) -> Any:
    async def main() -> Any:
        async with Client(build_server(ops)) as client:
            return await body(client)

    return anyio.run(main)


def test_tools_are_listed_with_schemas_and_search_read_work(ops: Operations) -> None:
    async def body(client: Client) -> dict[str, Any]:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        found = await client.call_tool("search", {"query": "zephyrine valve", "top_k": 3})
        hit = found.structured_content["hits"][0]
        around = await client.call_tool("read", {"chunk_id": hit["chunk_id"]})
        section = await client.call_tool("read", {"path": str(Path(hit["path"]).parent
                                                              / "manual.md"),
                                                  "heading": "storage"})
        files = await client.call_tool("list_files", {})
        status = await client.call_tool("status", {})
        return {"tools": tools, "found": found, "around": around, "section": section,
                "files": files, "status": status}

    r = _run(ops, body)
    assert set(r["tools"]) == {"search", "read", "list_files", "status", "ask"}
    schema = r["tools"]["search"].input_schema
    assert schema["properties"]["top_k"]["maximum"] == MAX_TOP_K
    assert r["tools"]["search"].output_schema is not None
    assert all(t.description for t in r["tools"].values())
    hit = r["found"].structured_content["hits"][0]
    assert not r["found"].is_error and hit["path"].endswith("valves.md")
    assert hit["label"].startswith("valves.md")
    assert r["around"].structured_content["focus"] == hit["chunk_id"]
    texts = [p["text"] for p in r["section"].structured_content["passages"]]
    assert texts and all("frost" in t for t in texts)
    assert r["files"].structured_content["total"] == 3
    assert r["status"].structured_content["read_only"] is True
    assert r["status"].structured_content["files_by_stage"]["embedded"] == 3


def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(
        ops: Operations, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret", encoding="utf-8")

    async def body(client: Client) -> list[Any]:
        results = [
            await client.call_tool("search", {"query": "valve", "top_k": 100000}),
            await client.call_tool("search", {"query": "valve", "top_k": "many"}),
            await client.call_tool("search", {"query": "   "}),
            await client.call_tool("read", {"path": str(outside)}),
            await client.call_tool("read", {"path": "/etc/passwd"}),
            await client.call_tool("read", {"chunk_id": "no-such-chunk"}),
            await client.call_tool("no_such_tool", {}),
            await client.call_tool("search", {"query": "valve", "folders": [str(tmp_path)]}),
        ]
        results.append(await client.call_tool("search", {"query": "valve"}))  # still serving
        return results

    *bad, good = _run(ops, body)
    assert all(r.is_error for r in bad)
    messages = [r.content[0].text for r in bad]
    assert "less than or equal to 50" in messages[0]
    assert "top_k" in messages[1]
    assert "empty" in messages[2]
    assert "not inside a watched folder" in messages[3] and "top secret" not in messages[3]
    assert "not inside a watched folder" in messages[4]
    assert "No passage with chunk_id" in messages[5]
    assert "no_such_tool" in messages[6]
    assert "not inside a watched folder" in messages[7]
    assert not good.is_error and good.structured_content["hits"]


def test_ask_returns_citations_as_data(ops: Operations) -> None:
    async def body(client: Client) -> Any:
        return await client.call_tool("ask", {"question": "How do I close the zephyrine "
                                                          "valve?"})

    result = _run(ops, body)
    assert not result.is_error, result.content
    data = result.structured_content
    assert data["text"] and isinstance(data["citations"], list)
    for c in data["citations"]:
        assert f"[{c['number']}]" in data["text"] and Path(c["path"]).name in {
            "valves.md", "kitchen.txt", "manual.md"}


def test_files_are_resources(ops: Operations, owned_home: tuple[Path, KnowledgeBase]) -> None:
    async def body(client: Client) -> tuple[Any, Any, Any]:
        listed = await client.list_resources()
        valves = next(r for r in listed.resources if r.name == "valves.md")
        content = await client.read_resource(valves.uri)
        outside = None
        try:
            await client.read_resource(file_uri("/etc/passwd"))
        except Exception as exc:  # noqa: BLE001 - the SDK raises its protocol error
            outside = exc
        return listed, content, outside

    listed, content, outside = _run(ops, body)
    assert {r.name for r in listed.resources} == {"valves.md", "kitchen.txt", "manual.md"}
    assert "zephyrine" in content.contents[0].text
    assert outside is not None and "not inside a watched folder" in str(outside)


def test_a_home_without_an_index_errors_until_the_owner_builds_one(tmp_path: Path) -> None:
    from indexer.config import save_settings
    from indexer.service import build_hub
    from indexer.serving.reader import ReadOnlyKnowledgeBase
    from tests.indexer.builders import TIMEOUT, make_docs, make_settings, write_valve_docs

    settings = make_settings(tmp_path / "home")
    reader = ReadOnlyKnowledgeBase(settings, build_hub(settings))
    ops = Operations(reader)

    async def search(client: Client) -> Any:
        return await client.call_tool("search", {"query": "zephyrine valve"})

    first = _run(ops, search)
    assert first.is_error and "no index" in first.content[0].text
    assert not (tmp_path / "home" / "index").exists() or not any(
        (tmp_path / "home" / "index").iterdir())  # the reader created nothing
    docs = make_docs(tmp_path)
    write_valve_docs(docs)
    owner_settings = make_settings(tmp_path / "home", [docs])
    save_settings(owner_settings, keys={"folders"})
    with KnowledgeBase(owner_settings, build_hub(owner_settings)) as owner:
        owner.index(timeout=TIMEOUT)
        second = _run(ops, search)
    reader.close()
    assert not second.is_error and second.structured_content["hits"]
