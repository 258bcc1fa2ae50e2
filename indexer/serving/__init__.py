"""Cairn for other tools: the MCP server (`cairn mcp`) and the OpenAI-compatible HTTP API
(`cairn serve`) over the same knowledge base as the window and the CLI.

- `reader`: `ReadOnlyKnowledgeBase`, which searches and answers over a home another process
  (the window) owns, so a server and the window can run at once in either order;
- `operations`: what both servers offer (search, read, list files, status, ask), with the
  argument checks and the JSON shapes, independent of any protocol;
- `mcp_server`: those operations as MCP tools and the indexed files as resources (official SDK);
- `openai_api`: `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`, `/v1/search` (Starlette);
- `auth`: the bearer token in the home, and the loopback check for bind addresses.

Servers bind loopback by default and open no connection outward (the egress guard stays on).
"""
