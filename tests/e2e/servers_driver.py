"""Subprocess helper for tests/e2e/test_servers_egress.py (not a test module): drives both
servers the way their clients do, under the parent's system-call trace.

    python -m tests.e2e.servers_driver HOME FOLDER

A process owns HOME (tests.e2e.owner_worker: index FOLDER, watch); meanwhile `cairn mcp` is
driven over stdio by the MCP SDK's client (initialize, search, read, ask) and `cairn serve` on a
loopback port by the `openai` client (chat streamed and not, embeddings). Prints one JSON line
with what each step returned. It sets no offline variables itself: every Cairn process it
starts must switch telemetry off on its own, or the trace shows it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
from mcp import Client, StdioServerParameters

from tests.e2e.owner_worker import cairn_command, running_owner

QUESTION = "How many minutes does the eye take to adapt fully to darkness?"


def _mcp(home: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k.startswith("CAIRN_")}
    params = StdioServerParameters(command=cairn_command(), args=["--home", str(home), "mcp"],
                                   env=env)

    async def session() -> dict[str, Any]:
        async with Client(params, mode="legacy", read_timeout_seconds=900) as client:
            found = await client.call_tool("search", {"query": "dark adaptation", "top_k": 3})
            hit = found.structured_content["hits"][0]
            read = await client.call_tool("read", {"chunk_id": hit["chunk_id"]})
            ask = await client.call_tool("ask", {"question": QUESTION})
            return {"search_hits": len(found.structured_content["hits"]),
                    "read_passages": len(read.structured_content["passages"]),
                    "ask_error": ask.is_error, "ask_found": ask.structured_content["found"],
                    "ask_citations": [c["label"] for c in ask.structured_content["citations"]]}

    return anyio.run(session)


def _serve(home: Path) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CAIRN_GENERATOR_BACKEND": "fake"}  # the model was audited via mcp
    proc = subprocess.Popen([cairn_command(), "--home", str(home), "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 300
        while True:
            try:
                httpx.get(base + "/models", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        token = (home / "api-token").read_text().strip()
        client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)
        messages = [{"role": "user", "content": QUESTION}]
        done = client.chat.completions.create(model="cairn", messages=messages)
        chunks = list(client.chat.completions.create(model="cairn", messages=messages,
                                                     stream=True))
        emb = client.embeddings.create(model="cairn-embed", input=["dark adaptation"])
        return {"chat": bool(done.choices[0].message.content), "stream_chunks": len(chunks),
                "embedding_dim": len(emb.data[0].embedding)}
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> int:
    home, folder = Path(sys.argv[1]), Path(sys.argv[2])
    with running_owner(home, folder, fake=False):
        out = {"mcp": _mcp(home), "serve": _serve(home)}
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
