"""`cairn` command line: a thin layer over `KnowledgeBase` (the same core as the GUI).

typer gives typed arguments, help text and shell completion; rich gives the progress bar, ETA and
tables. Errors are translated here, at the edge: a `CairnError` prints its message and hint and
exits with its code; anything else is a bug and shows a traceback.

One module per command group (`folders`, `indexing`, `search`, `ask`, `trace`, `models`,
`privacy`, `evaluate`, `serving`: `mcp` and `serve`), the root app and its callback in
`root`, and what they share (the consoles, settings from the command line, the knowledge base,
error translation) in `common`; no command module imports another. The console script is `cairn = "indexer.cli:app"`.
"""

from __future__ import annotations

from indexer.runtime import set_offline_env

set_offline_env()  # before anything below can import a library that phones home

from indexer.cli.common import console, err
from indexer.cli.root import app

__all__ = ["app", "console", "err", "main"]


def main() -> None:  # pragma: no cover - console entry
    app()
