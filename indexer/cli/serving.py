"""`cairn mcp` and `cairn serve`: the knowledge base for other tools (agents, chat clients).

Both read the home without owning it (`indexer.serving.reader`), so they run beside the Cairn
window in either order of start-up, and bind loopback unless `--host` says otherwise (with a
warning). Messages go to stderr: on stdio, stdout is the MCP channel.
"""

from __future__ import annotations

import typer

from indexer.cli.common import err, get_settings, run

DEFAULT_MCP_PORT = 8765
DEFAULT_API_PORT = 8766


def _operations(model: str | None) -> object:
    """The composition root of a server: Settings → ModelHub → ReadOnlyKnowledgeBase."""
    from indexer.errors import StoreError
    from indexer.service import build_hub
    from indexer.serving.operations import Operations
    from indexer.serving.reader import ReadOnlyKnowledgeBase

    settings = get_settings(chat_model=model)
    kb = ReadOnlyKnowledgeBase(settings, build_hub(settings))
    try:
        kb.open()  # load the embedder now, so the first search does not wait for it
    except StoreError as exc:  # no index yet: serve anyway, each request tries again
        err.print(f"[yellow]note:[/] {exc.message} Requests will fail until it exists.")
    return Operations(kb)


def _check_host(host: str) -> None:
    from indexer.serving.auth import is_loopback

    if not is_loopback(host):
        err.print(f"[bold yellow]warning:[/] listening on {host}: other machines on the network "
                  "can reach this server. Use the default (127.0.0.1) unless you mean it.")


def mcp(
    http: bool = typer.Option(False, "--http", help="Streamable HTTP instead of stdio."),
    host: str = typer.Option("127.0.0.1", "--host", help="With --http: address to bind."),
    port: int = typer.Option(DEFAULT_MCP_PORT, "--port", help="With --http: port."),
    model: str | None = typer.Option(None, "--model", help="Chat model for `ask`."),
) -> None:
    """Serve your documents to MCP clients (Claude Desktop, VS Code, …) over stdio."""
    def go() -> None:
        import anyio

        from indexer.serving.mcp_server import build_server
        from indexer.serving.operations import Operations

        ops = _operations(model)
        assert isinstance(ops, Operations)
        server = build_server(ops)
        if http:
            _check_host(host)
            err.print(f"Cairn MCP server on http://{host}:{port}/mcp")
            anyio.run(lambda: server.run_streamable_http_async(host=host, port=port))
        else:
            anyio.run(server.run_stdio_async)

    run(go)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback default)."),
    port: int = typer.Option(DEFAULT_API_PORT, "--port"),
    model: str | None = typer.Option(None, "--model", help="Chat model for answers."),
) -> None:
    """Serve an OpenAI-compatible API (chat, embeddings, search) over your documents."""
    def go() -> None:
        import uvicorn

        from indexer.serving.auth import load_or_create_token, token_path
        from indexer.serving.openai_api import build_app
        from indexer.serving.operations import Operations

        ops = _operations(model)
        assert isinstance(ops, Operations)
        home = ops.kb.settings.paths.home
        token = load_or_create_token(home)
        _check_host(host)
        err.print(f"Cairn API on http://{host}:{port}/v1 — bearer token in {token_path(home)}")
        uvicorn.run(build_app(ops, token), host=host, port=port, log_level="warning",
                    access_log=False)

    run(go)
