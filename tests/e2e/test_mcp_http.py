"""`cairn mcp --http`: the streamable HTTP transport on loopback, driven by the SDK's client
(a URL means streamable HTTP), beside a process that owns the home. Fake models."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client

from tests.e2e.owner_worker import cairn_command, running_owner

SAMPLES = Path(__file__).resolve().parents[2] / "desktop_app" / "sample_docs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_streamable_http_beside_an_owner(tmp_path: Path) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with running_owner(home, docs.resolve(), fake=True):
        proc = subprocess.Popen([cairn_command(), "--home", str(home), "--fake-models", "mcp",
                                 "--http", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, "server exited"
                try:
                    httpx.get(url, timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)

            async def session() -> tuple[Any, Any, Any]:
                async with Client(url) as client:
                    tools = await client.list_tools()
                    hit = await client.call_tool("search", {"query": "green tea temperature"})
                    bad = await client.call_tool("search", {"query": "tea", "top_k": 10**6})
                    return tools, hit, bad

            tools, hit, bad = anyio.run(session)
            # DNS-rebinding protection: a foreign Host header is refused.
            rebound = httpx.post(url, json={}, headers={"Host": "evil.example"})
        finally:
            proc.terminate()
            proc.wait(30)
    assert {t.name for t in tools.tools} >= {"search", "read", "ask"}
    assert Path(hit.structured_content["hits"][0]["path"]).name == "brewing-green-tea.html"
    assert bad.is_error
    assert rebound.status_code in (400, 403, 421)
