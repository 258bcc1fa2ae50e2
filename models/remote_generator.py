"""A chat model served by the team: any OpenAI-compatible `/v1/chat/completions` endpoint.

Teams that outgrow one laptop run a model server inside their own network (llama.cpp's server,
vLLM, Ollama, LM Studio, …). They all speak the same streaming chat API, so Cairn needs one
client, not one per server. It satisfies the same `Generator` seam as the local llama.cpp model:
answering, citations, the grounding checks, Stop, traces and `cairn eval` do not know which one
they talk to.

Why httpx and not the `openai` package: httpx already ships with Cairn (the MCP SDK and the
local API use it) and a streamed chat completion is a POST plus server-sent events; the `openai`
client would add a dependency, its own retry loop (a second request the user did not ask for)
and, in some versions, platform headers. The endpoint's host is the only network destination,
and the egress guard allows exactly that host and port (`models.offline.allow_endpoint`).

Server differences handled here: `stream_options.include_usage` (vLLM, llama.cpp, OpenAI report
token usage in a last chunk; others ignore the field), `grammar` (llama.cpp's GBNF; other
servers ignore unknown fields), and a model name: an empty one means "the first model the
server lists", which is what a single-model llama.cpp or vLLM server serves anyway.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from models.errors import ModelError, ModelLoadError
from models.generator import FinishReason, GenerationStats, Messages

__all__ = ["RemoteGenerator", "endpoint_address"]

#: Seconds to wait for a connection and for the first byte of a reply; a server that is loading
#: its model or busy with another laptop's prefill may take a while before the first token.
_CONNECT_TIMEOUT = 10.0
_READ_TIMEOUT = 300.0


def endpoint_address(url: str) -> tuple[str, int]:
    """(host, port) of an endpoint URL, the port defaulted from the scheme; what the egress
    guard allows and what the user is shown ("answers from gpu-box.lan:8000")."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelError(
            f"Not a model server address: {url!r}.",
            hint="Give the server's base URL, e.g. http://gpu-box.lan:8000/v1",
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port


class RemoteGenerator:
    """Streams answers from an OpenAI-compatible server; one HTTP request per answer.

    `context_size` is what Cairn budgets its prompt against: the server's own window is not
    part of the API, so it comes from the settings (`n_ctx`), as for a local model.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "",
        api_key: str = "",
        context_size: int = 4096,
        timeout: float = _READ_TIMEOUT,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.host, self.port = endpoint_address(self.base_url)
        self._model = model.strip()
        self._api_key = api_key
        self.context_size = context_size
        self._timeout = timeout
        self._client: Any = None
        self._last_stats: GenerationStats | None = None
        self._lock = threading.Lock()

    # -- identity -------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        """The server's model name and where it runs, as traces and eval reports record it."""
        return f"{self._model or 'server default'} @ {self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def last_stats(self) -> GenerationStats | None:
        return self._last_stats

    def count_tokens(self, text: str) -> int:
        """An estimate (no tokenizer of the server's model is at hand): ~3.5 characters per
        token for English and code, rounded up so prompt budgets err on the short side."""
        return max(1, -(-len(text) * 2 // 7))

    # -- connection -------------------------------------------------------------------------

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._client = httpx.Client(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(self._timeout, connect=_CONNECT_TIMEOUT),
                trust_env=False,  # no proxy from the environment: only the configured host
                follow_redirects=False,  # a redirect would lead to a host nobody allowed
            )
        return self._client

    def load(self) -> None:
        """Check the server answers and pick its model when none was named; fails clearly."""
        import httpx

        try:
            reply = self._http().get("/models", timeout=_CONNECT_TIMEOUT)
        except httpx.HTTPError as exc:
            raise ModelLoadError(
                f"The model server at {self.address} did not answer: {exc}.",
                hint="Check the address in Settings (chat_endpoint) and that the server runs.",
            ) from exc
        if reply.status_code in (401, 403):
            raise ModelLoadError(
                f"The model server at {self.address} refused Cairn's API key "
                f"({reply.status_code}).",
                hint="Set the key with `cairn models endpoint --api-key-stdin`.",
            )
        if reply.status_code >= 400:
            raise ModelLoadError(
                f"The model server at {self.address} answered {reply.status_code} to "
                f"GET {self.base_url}/models.",
                hint="The address must end where /chat/completions starts (usually …/v1).",
            )
        if not self._model:
            try:
                listed = [m["id"] for m in reply.json().get("data", [])]
            except (ValueError, KeyError, TypeError, AttributeError):
                listed = []
            if not listed:
                raise ModelLoadError(
                    f"The model server at {self.address} lists no model.",
                    hint="Name one with the setting chat_endpoint_model.",
                )
            self._model = str(listed[0])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- generation -----------------------------------------------------------------------

    def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """Yield text pieces as the server streams them; Stop closes the connection, which
        llama.cpp's and vLLM's servers take as "abort this request" (no tokens wasted)."""
        import httpx

        with self._lock:  # one answer at a time, as with the local model
            start = time.perf_counter()
            first: float | None = None
            finish: FinishReason | None = None
            usage: dict[str, Any] = {}
            pieces = 0
            body: dict[str, Any] = {
                "model": self._model or "default",
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            if stop:
                body["stop"] = stop
            if grammar:
                body["grammar"] = grammar
            if cancel is not None and cancel.is_set():
                self._last_stats = GenerationStats(0, 0, 0, 0.0, 0.0, None, "cancelled")
                return
            try:
                with self._http().stream("POST", "/chat/completions", json=body) as reply:
                    if reply.status_code >= 400:
                        reply.read()
                        raise ModelError(
                            f"The model server at {self.address} answered "
                            f"{reply.status_code}: {reply.text[:300]}",
                            hint="Check chat_endpoint_model and the server's log.",
                        )
                    for event in _sse_events(reply.iter_lines()):
                        if cancel is not None and cancel.is_set():
                            finish = "cancelled"
                            break
                        if event.get("usage"):
                            usage = event["usage"]
                        for choice in event.get("choices") or []:
                            text = (choice.get("delta") or {}).get("content") or ""
                            if text:
                                if first is None:
                                    first = time.perf_counter() - start
                                pieces += 1
                                yield text
                            if choice.get("finish_reason"):
                                reason = choice["finish_reason"]
                                finish = reason if reason in ("stop", "length") else "stop"
                    if cancel is not None and cancel.is_set():
                        finish = "cancelled"
            except httpx.HTTPError as exc:
                raise ModelError(
                    f"Lost the model server at {self.address}: {exc}.",
                    hint="Check that the server runs and the network to it is up.",
                ) from exc
            finally:
                end = time.perf_counter()
                prefill = first if first is not None else end - start
                self._last_stats = GenerationStats(
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    cached_prompt_tokens=int(
                        (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
                    ),
                    completion_tokens=int(usage.get("completion_tokens") or pieces),
                    prefill_seconds=prefill,
                    generate_seconds=max(0.0, end - start - prefill),
                    time_to_first_token=first,
                    finish_reason=finish or ("cancelled" if cancel and cancel.is_set() else None),
                )


def _sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of a server-sent event stream, up to `data: [DONE]`.

    Only `data:` fields matter for chat completions; comments (`: ping`, sent by some servers to
    keep the connection open) and other fields are skipped, and a payload that is not JSON is an
    error in the server's words, not a crash.
    """
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise ModelError(f"The model server sent something that is not JSON: {data[:200]}") \
                from exc
        if isinstance(event, dict) and event.get("error"):
            raise ModelError(f"The model server reported an error: {event['error']}")
        if isinstance(event, dict):
            yield event
