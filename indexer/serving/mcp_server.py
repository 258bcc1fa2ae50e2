"""`cairn mcp`: the knowledge base as an MCP server (the official `mcp` SDK, `MCPServer`).

Tools (their JSON schemas come from the signatures and the pydantic result models in
`operations`): `search`, `read`, `list_files`, `status`, `ask`. Indexed files are resources
(`file:///…` URIs; a read returns the indexed text, section by section, so a PDF reads as text).

Errors: a bad argument is rejected by the SDK's schema validation or by `Operations` with a
`UserInputError`; either way the client gets a tool result with `isError` and a message that says
what to send, and the server keeps serving. An unknown tool is the SDK's own error.

Transports: stdio (what Claude Desktop and VS Code spawn) and, with `--http`, streamable HTTP on
loopback (the SDK turns DNS-rebinding protection on for loopback hosts).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.resources import ResourceSecurity
from mcp_types import Resource as MCPResource
from mcp_types import ToolAnnotations
from pydantic import Field

from indexer.errors import CairnError
from indexer.serving.operations import (
    MAX_NEIGHBOURS,
    MAX_TOP_K,
    AskResult,
    FileList,
    Operations,
    ReadResult,
    SearchResult,
    StatusResult,
)

log = logging.getLogger(__name__)

INSTRUCTIONS = """Cairn searches and answers from the user's own documents (the folders they
chose), on this computer. Use `search` to find passages (each with file, page/lines, heading and
a chunk_id), `read` to see a passage with its neighbours or a section of a file, `ask` for a
short cited answer from the local model (slow on a CPU: prefer search + read when you can write
the answer yourself), `list_files` and `status` for what is indexed."""

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
MAX_RESOURCES = 500


def _tool_error(exc: CairnError) -> ToolError:
    return ToolError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message)


class CairnMCPServer(MCPServer[Any]):
    """`MCPServer` that also lists the indexed files as resources (they change at any time,
    so they are listed per request rather than registered once)."""

    def __init__(self, ops: Operations, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ops = ops

    async def list_resources(self) -> list[MCPResource]:
        import anyio.to_thread

        listed = await super().list_resources()
        try:
            files = await anyio.to_thread.run_sync(
                lambda: self.ops.list_files(limit=MAX_RESOURCES).files)
        except CairnError as exc:  # no index yet: no file resources, the rest still listed
            log.info("no file resources: %s", exc.message)
            return listed
        return listed + [
            MCPResource(uri=file_uri(f.path), name=f.path.rsplit("/", 1)[-1],
                        description=f"Indexed text of {f.path} ({f.stage})",
                        mime_type="text/plain")
            for f in files if f.chunks
        ]


def file_uri(path: str) -> str:
    return "file://" + quote(path)


def build_server(ops: Operations) -> CairnMCPServer:
    """The MCP server over `ops` (transport chosen by the caller: `run_stdio_async`, …)."""
    server = CairnMCPServer(ops, name="cairn", title="Cairn", instructions=INSTRUCTIONS,
                            log_level="WARNING")

    @server.tool(annotations=READ_ONLY)
    def search(
        query: Annotated[str, Field(description="What to look for (words or a question).")],
        top_k: Annotated[int, Field(ge=1, le=MAX_TOP_K, description="How many passages.")] = 8,
        folders: Annotated[list[str] | None, Field(
            description="Only files under these watched folders (absolute paths).")] = None,
        extensions: Annotated[list[str] | None, Field(
            description="Only these file types, e.g. ['pdf', 'md'].")] = None,
        mode: Annotated[Literal["hybrid", "bm25", "vector"], Field(
            description="hybrid (default): keywords and meaning; bm25: keywords only; "
                        "vector: meaning only.")] = "hybrid",
    ) -> SearchResult:
        """Search the user's documents; returns passages with file, page or lines, heading,
        score and a chunk_id for `read`."""
        try:
            return ops.search(query, top_k, folders, extensions, mode)
        except CairnError as exc:
            raise _tool_error(exc) from None

    @server.tool(annotations=READ_ONLY)
    def read(
        chunk_id: Annotated[str | None, Field(
            description="A chunk_id from `search`: that passage and its neighbours.")] = None,
        path: Annotated[str | None, Field(
            description="A file inside a watched folder (instead of chunk_id).")] = None,
        page: Annotated[int | None, Field(ge=1, description="With path: this page.")] = None,
        line: Annotated[int | None, Field(ge=1, description="With path: the passage "
                                                            "covering this line.")] = None,
        heading: Annotated[str | None, Field(
            description="With path: passages under a heading containing this text.")] = None,
        neighbours: Annotated[int, Field(ge=0, le=MAX_NEIGHBOURS, description=(
            "With chunk_id: passages to include before and after."))] = 1,
    ) -> ReadResult:
        """Read a passage with its neighbours, or a file's section by page, line or heading
        (the indexed text; only files inside the watched folders)."""
        try:
            return ops.read(chunk_id, path, page, line, heading, neighbours)
        except CairnError as exc:
            raise _tool_error(exc) from None

    @server.tool(annotations=READ_ONLY)
    def list_files(
        folder: Annotated[str | None, Field(description="Only this watched folder.")] = None,
        stage: Annotated[Literal["queued", "parsed", "embedded", "failed", "skipped"] | None,
                         Field(description="Only files at this stage.")] = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 200,
    ) -> FileList:
        """The indexed files with their stage (embedded = fully searchable, failed = see
        reason)."""
        try:
            return ops.list_files(folder, stage, limit)
        except CairnError as exc:
            raise _tool_error(exc) from None

    @server.tool(annotations=READ_ONLY)
    def status() -> StatusResult:
        """The index: watched folders, files per stage, chunks, failures."""
        try:
            return ops.status()
        except CairnError as exc:
            raise _tool_error(exc) from None

    @server.tool(annotations=READ_ONLY)
    def ask(
        question: Annotated[str, Field(description="A question about the user's documents.")],
        top_k: Annotated[int | None, Field(ge=1, le=MAX_TOP_K)] = None,
    ) -> AskResult:
        """A short answer from the local model, citing passages as [n]; the citations (file,
        page, lines) are in `citations`. found=false when the documents do not say."""
        try:
            return ops.ask(question, top_k)
        except CairnError as exc:
            raise _tool_error(exc) from None

    @server.resource("file://{+path}", mime_type="text/plain",
                     security=ResourceSecurity(exempt_params={"path"}))
    def indexed_file(path: str) -> str:
        """The indexed text of a file inside a watched folder, section by section."""
        try:
            result = ops.read(path=unquote(path))
        except CairnError as exc:
            raise ResourceError(exc.message) from None
        return "\n\n".join(f"[{p.label}]\n{p.text}" for p in result.passages)

    return server
