"""`cairn serve` as a real process on a loopback port, driven by the official `openai` client,
while another process owns the home (as the Cairn window does): chat with and without
streaming, embeddings from the real embedding model, a dropped stream, a wrong token.

The chat model is the fake one (the answers' content is tested with the real model through
`cairn mcp`, tests/e2e/test_mcp_stdio.py); the embedder is real, so the owner's index and the
server's queries share the real vectors. Offline: loopback only (tests/offline_plugin.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from tests.e2e.owner_worker import cairn_command, running_owner

SAMPLES = Path(__file__).resolve().parents[2] / "desktop_app" / "sample_docs"
pytestmark = pytest.mark.real_models


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """(base_url, token, docs) of a `cairn serve` beside an owner of the same home."""
    home, docs = tmp_path / "home", tmp_path / "docs"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))
    port = _free_port()
    with running_owner(home, docs.resolve(), fake=False):
        log = (tmp_path / "serve.log").open("w")
        proc = subprocess.Popen(
            [cairn_command(), "--home", str(home), "serve", "--port", str(port)],
            env={**os.environ, "CAIRN_GENERATOR_BACKEND": "fake"},
            stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    httpx.get(base + "/models", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)
            token_file = home / "api-token"
            assert token_file.stat().st_mode & 0o777 == 0o600
            yield base, token_file.read_text().strip(), docs.resolve()
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()


def test_openai_client_against_cairn_serve(served: tuple[str, str, Path]) -> None:
    base, token, docs = served
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)
    question = [{"role": "user", "content": "How long until my eyes get used to the dark?"}]

    done = client.chat.completions.create(model="cairn", messages=question)
    extra = done.model_extra or {}
    assert done.choices[0].message.content and "citations" in extra
    assert all(Path(c["path"]).parent == docs for c in extra["citations"])

    chunks = list(client.chat.completions.create(model="cairn", messages=question, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks).strip()

    emb = client.embeddings.create(model="cairn-embed", input=["dark adaptation", "green tea"])
    vectors = np.array([d.embedding for d in emb.data])
    assert vectors.shape == (2, 384)  # all-MiniLM-L6-v2
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)

    found = httpx.post(base + "/search", json={"query": "eyes adapt to the dark", "top_k": 3},
                       headers={"Authorization": f"Bearer {token}"}).json()
    assert Path(found["hits"][0]["path"]).name == "observing-the-night-sky.pdf"


def test_dropped_stream_and_wrong_token_leave_the_server_serving(
        served: tuple[str, str, Path]) -> None:
    base, token, _ = served
    auth = {"Authorization": f"Bearer {token}"}
    body = {"model": "cairn", "stream": True,
            "messages": [{"role": "user", "content": "Explain how to build a cairn."}]}
    with httpx.stream("POST", base + "/chat/completions", json=body, headers=auth,
                      timeout=60) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # the first event, then hang up
    assert httpx.get(base + "/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)
    assert client.chat.completions.create(
        model="cairn", messages=[{"role": "user", "content": "What is a cairn?"}]
    ).choices[0].message.content
