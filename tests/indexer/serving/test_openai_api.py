"""The OpenAI-compatible API in process (Starlette's TestClient as the `openai` client's HTTP
client; fake models): chat with and without streaming, embeddings in both encodings, models,
search, the token, and bad requests. The socket-level test beside a running owner is
tests/e2e/test_serve_api.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from starlette.testclient import TestClient

from indexer.serving.auth import load_or_create_token, token_path
from indexer.serving.openai_api import build_app
from indexer.serving.operations import Operations

TOKEN = "cairn-test-token"


@pytest.fixture
def http(ops: Operations) -> Iterator[TestClient]:
    with TestClient(build_app(ops, TOKEN), base_url="http://127.0.0.1:8766") as client:
        yield client


@pytest.fixture
def client(http: TestClient) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://127.0.0.1:8766/v1", api_key=TOKEN, http_client=http,
                         max_retries=0)


def test_chat_non_stream_cites_passages(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(
        model="cairn", messages=[{"role": "user", "content": "How do I close the zephyrine "
                                                             "valve?"}])
    text = done.choices[0].message.content
    extra = done.model_extra or {}
    assert text and done.choices[0].finish_reason == "stop"
    assert "found" in extra and isinstance(extra["citations"], list)
    for c in extra["citations"]:
        assert f"[{c['number']}]" in text and c["path"].endswith((".md", ".txt"))


def test_chat_stream_sends_tokens_then_citations(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="cairn", stream=True,
        messages=[{"role": "system", "content": "ignored"},
                  {"role": "user", "content": "What is granite?"},
                  {"role": "assistant", "content": "A stone."},
                  {"role": "user", "content": "How do I close the zephyrine valve?"}])
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    extra = last.model_extra or {}
    assert "citations" in extra and extra["answer"]
    assert streamed.strip()


def test_embeddings_models_and_search(client: openai.OpenAI, http: TestClient,
                                      ops: Operations) -> None:
    models = [m.id for m in client.models.list()]
    assert "cairn" in models and ops.embedder_id() in models
    b64 = client.embeddings.create(model=ops.embedder_id(), input=["valve", "granite"])
    floats = client.embeddings.create(model=ops.embedder_id(), input="valve",
                                      encoding_format="float")
    assert len(b64.data) == 2 and b64.usage.prompt_tokens > 0
    np.testing.assert_allclose(b64.data[0].embedding, floats.data[0].embedding, rtol=1e-6)
    np.testing.assert_allclose(floats.data[0].embedding, ops.kb.embed(["valve"])[0], rtol=1e-6)
    found = http.post("/v1/search", json={"query": "zephyrine", "top_k": 2},
                      headers={"Authorization": f"Bearer {TOKEN}"})
    assert found.status_code == 200 and found.json()["hits"][0]["path"].endswith("valves.md")


def test_bad_requests_get_openai_style_errors(client: openai.OpenAI, http: TestClient) -> None:
    wrong = openai.OpenAI(base_url="http://127.0.0.1:8766/v1", api_key="nope", http_client=http,
                          max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="bearer token"):
        wrong.models.list()
    with pytest.raises(openai.NotFoundError, match="Unknown model"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user",
                                                                  "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="user message"):
        client.chat.completions.create(model="cairn", messages=[{"role": "system",
                                                                 "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="token arrays"):
        client.embeddings.create(model="cairn-embed", input=[[1, 2, 3]])
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = http.post("/v1/search", json={"query": "valve", "top_k": 10_000}, headers=auth)
    assert big.status_code == 400 and "between 1 and 50" in big.json()["error"]["message"]
    junk = http.post("/v1/chat/completions", content=b"{not json", headers=auth)
    assert junk.status_code == 400 and "not valid JSON" in junk.json()["error"]["message"]
    outside = http.post("/v1/search", json={"query": "valve", "folders": ["/etc"]}, headers=auth)
    assert outside.status_code == 400 and "not inside a watched folder" in outside.text
    assert client.models.list().data  # still serving


def test_token_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    assert token_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert load_or_create_token(tmp_path) == token and len(token) > 30


def test_only_loopback_addresses_count_as_local() -> None:
    from indexer.serving.auth import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.4", "example.com"))


def test_a_dropped_stream_stops_the_model(ops: Operations) -> None:
    """A real socket (uvicorn in a thread): the client hangs up after the first words; the
    model is cancelled at the next word instead of writing the rest of the answer."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    from indexer.answer.answering import Answer
    from models.generator import FakeGenerator

    generator = FakeGenerator(piece_delay=0.4)
    ops.kb.hub.generator = lambda: generator  # type: ignore[method-assign]
    finals: list[Answer] = []
    stream = ops.kb.stream

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        for item in stream(*args, **kwargs):
            if isinstance(item, Answer):
                finals.append(item)
            yield item

    ops.kb.stream = recording  # type: ignore[method-assign]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(ops, TOKEN), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        body = {"model": "cairn", "stream": True, "messages": [
            {"role": "user", "content": "How do I close the zephyrine valve?"}]}
        with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as response:
            for line in response.iter_lines():
                if '"content": "' in line and '"content": ""' not in line:
                    break  # the first words arrived: hang up
        deadline = time.monotonic() + 10
        while not finals:
            assert time.monotonic() < deadline, "the answer did not end after the hang-up"
            time.sleep(0.05)
        assert finals[0].stats.get("cancelled") is True
    finally:
        server.should_exit = True
        thread.join(10)
