"""`cairn serve`: an OpenAI-compatible HTTP API over the knowledge base (Starlette + uvicorn,
both already installed with the `mcp` SDK).

- `POST /v1/chat/completions`: the last user message is the question, earlier user/assistant
  pairs are the conversation; the answer is grounded in the index and cites passages as `[n]`
  in the text, with the citations as data in an extra `citations` field (on the response, or on
  the last chunk of a stream, beside `found`). `stream: true` sends server-sent events like
  OpenAI's; a client that drops the stream stops the model at the next token.
- `POST /v1/embeddings`: the index's own embedding model (float or base64, as the `openai`
  client asks by default).
- `GET /v1/models`: `cairn` (answers) and the embedding model.
- `POST /v1/search`: the same search as the MCP tool (`operations.SearchResult`).

Every route needs `Authorization: Bearer <token>` (the token file in the Cairn home). Errors use
OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so clients show the message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from indexer.answer.answering import Answer, Turn
from indexer.errors import CairnError
from indexer.serving.auth import token_matches
from indexer.serving.operations import MAX_TOP_K, Operations, ask_result

log = logging.getLogger(__name__)

CHAT_MODEL = "cairn"
MAX_EMBED_INPUTS = 256
MAX_EMBED_CHARS = 20_000


class ApiError(Exception):
    """A request the API refuses, with OpenAI's error fields."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 param: str | None = None, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.kind = (
            status, message, code, param, kind)

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"message": self.message, "type": self.kind,
                                       "param": self.param, "code": self.code}},
                            status_code=self.status)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")  # temperature, user, …: accepted, not used


class ChatMessage(_Lenient):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: only text parts are read
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(_Lenient):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K)


class EmbeddingRequest(_Lenient):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"


class SearchRequest(_Lenient):
    query: str
    top_k: int = 8
    folders: list[str] | None = None
    extensions: list[str] | None = None
    mode: Literal["hybrid", "bm25", "vector"] = "hybrid"


async def _body(request: Request, model: type[BaseModel]) -> Any:
    try:
        data = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(400, f"{where or 'body'}: {first['msg']}", param=where) from None


def _conversation(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The last user message, and the user/assistant pairs before it."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users or not messages[users[-1]].text().strip():
        raise ApiError(400, "messages must end with a non-empty user message.", param="messages")
    history: list[Turn] = []
    pending: str | None = None
    for m in messages[: users[-1]]:
        if m.role == "user":
            pending = m.text()
        elif m.role == "assistant" and pending is not None:
            history.append(Turn(pending, m.text()))
            pending = None
    return messages[users[-1]].text(), history


class _Auth:
    """Pure ASGI middleware (not `BaseHTTPMiddleware`, which gets between a streaming response
    and the client's disconnect): every HTTP request needs the bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not token_matches(header, self.token):
                refusal = ApiError(401, "Missing or wrong bearer token: send `Authorization: "
                                   "Bearer <token>` with the token from the `api-token` file in "
                                   "the Cairn home.", code="invalid_api_key").response()
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(ops: Operations, token: str) -> Starlette:
    """The API over `ops`, guarded by `token`."""

    def chat_models() -> set[str]:
        return {CHAT_MODEL, ops.model_id() or CHAT_MODEL}

    async def models(_: Request) -> Response:
        embedder = await run_in_threadpool(ops.embedder_id)
        data = [{"id": CHAT_MODEL, "object": "model", "created": 0, "owned_by": "cairn"},
                {"id": embedder, "object": "model", "created": 0, "owned_by": "cairn"}]
        return JSONResponse({"object": "list", "data": data})

    async def search(request: Request) -> Response:
        req = await _body(request, SearchRequest)
        result = await run_in_threadpool(ops.search, req.query, req.top_k, req.folders,
                                         req.extensions, req.mode)
        return JSONResponse(result.model_dump())

    async def embeddings(request: Request) -> Response:
        req = await _body(request, EmbeddingRequest)
        embedder = await run_in_threadpool(ops.embedder_id)
        if req.model not in (embedder, "cairn-embed"):
            raise ApiError(404, f"Unknown embedding model {req.model!r}: use {embedder!r}.",
                           code="model_not_found", param="model")
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ApiError(400, "input must be a string or a list of strings (token arrays are "
                           "not supported).", param="input")
        if len(texts) > MAX_EMBED_INPUTS or any(len(t) > MAX_EMBED_CHARS for t in texts):
            raise ApiError(400, f"At most {MAX_EMBED_INPUTS} inputs of {MAX_EMBED_CHARS} "
                           "characters each.", param="input")
        vectors, tokens = await run_in_threadpool(ops.embed_with_usage, texts)
        data = []
        for i, vec in enumerate(vectors):
            arr = np.asarray(vec, dtype="<f4")
            value: Any = (base64.b64encode(arr.tobytes()).decode()
                          if req.encoding_format == "base64" else arr.tolist())
            data.append({"object": "embedding", "index": i, "embedding": value})
        return JSONResponse({"object": "list", "data": data, "model": embedder,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def chat(request: Request) -> Response:
        req = await _body(request, ChatRequest)
        if req.model not in chat_models():
            raise ApiError(404, f"Unknown model {req.model!r}: use {CHAT_MODEL!r}.",
                           code="model_not_found", param="model")
        question, history = _conversation(req.messages)
        ops.check_question(question)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if req.stream:
            return StreamingResponse(
                _stream(ops, question, history, req.top_k, cid, created, req.model),
                media_type="text/event-stream")
        answer = await run_in_threadpool(_final_answer, ops, question, history, req.top_k)
        extra = ask_result(answer, ops.model_id()).model_dump()
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": req.model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer.text}}],
            "usage": _usage(answer), "citations": extra["citations"], "found": answer.found,
        })

    async def on_api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def on_cairn_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, CairnError)
        message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        status = 400 if exc.exit_code == 2 else 503
        return ApiError(status, message, kind="invalid_request_error" if status == 400
                        else "server_error").response()

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/search", search, methods=["POST"]),
        ],
        middleware=[Middleware(_Auth, token=token)],
        exception_handlers={ApiError: on_api_error, CairnError: on_cairn_error},
    )


def _usage(answer: Answer) -> dict[str, int]:
    prompt = int(answer.stats.get("prompt_tokens") or 0)
    completion = int(answer.stats.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _final_answer(ops: Operations, question: str, history: list[Turn],
                  top_k: int | None) -> Answer:
    final: Answer | None = None
    for item in ops.stream_answer(question, top_k, history=history):
        if isinstance(item, Answer):
            final = item
    assert final is not None
    return final


_END = object()


async def _stream(ops: Operations, question: str, history: list[Turn], top_k: int | None,
                  cid: str, created: int, model: str) -> AsyncIterator[str]:
    """Server-sent events of one answer. The model runs on a worker thread; tokens reach the
    event loop through a queue. When the client goes away, Starlette cancels this generator and
    `cancel` stops the model between two tokens (the answer lock is then released)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    cancel = threading.Event()

    def put(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is gone (server shutting down): nobody is listening
            cancel.set()

    def produce() -> None:
        try:
            for item in ops.stream_answer(question, top_k, cancel, history):
                put(item)
        except BaseException as exc:  # noqa: BLE001 - reported to the client below
            put(exc)
        finally:
            put(_END)

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    loop.run_in_executor(None, produce)
    try:
        yield chunk({"role": "assistant", "content": ""})
        final: Answer | None = None
        while (item := await queue.get()) is not _END:
            if isinstance(item, str):
                yield chunk({"content": item})
            elif isinstance(item, Answer):
                final = item
            elif isinstance(item, BaseException):
                message = item.message if isinstance(item, CairnError) else "internal error"
                if not isinstance(item, CairnError):
                    log.error("answer failed", exc_info=item)
                yield f"data: {json.dumps({'error': {'message': message, 'type': 'server_error'}})}\n\n"
        if final is not None:
            extra = ask_result(final, ops.model_id()).model_dump()
            yield chunk({}, "stop", citations=extra["citations"], found=final.found,
                        answer=final.text, usage=_usage(final))
        yield "data: [DONE]\n\n"
    finally:  # also when the client dropped the stream (this generator is cancelled)
        cancel.set()
