"""`cairn search`: the index's hits for a query (keyword + semantic), without the model."""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from indexer.cli.collection_cmds import COLLECTION_HELP
from indexer.cli.common import console, err, get_settings, highlight, make_kb, run


def search(
    query: str,
    k: int = typer.Option(8, "--top-k", "-k", min=1, max=100),
    mode: str = typer.Option("hybrid", help="hybrid | bm25 | vector"),
    ext: list[str] | None = typer.Option(None, "--ext", help="Only these extensions (.pdf)."),
    path_glob: str | None = typer.Option(None, "--path", help="Only paths matching a glob."),
    as_json: bool = typer.Option(False, "--json"),
    collection: str | None = typer.Option(None, "--collection", "-c", help=COLLECTION_HELP),
) -> None:
    """Search the index (keyword + semantic), without asking the model."""
    if mode not in ("hybrid", "bm25", "vector"):
        err.print(f"[red]error:[/] unknown mode {mode!r} (hybrid, bm25, vector)")
        raise typer.Exit(2)

    def go() -> None:
        exts = [e if e.startswith(".") else f".{e}" for e in ext] if ext else None
        with make_kb(get_settings()) as kb:
            hits = kb.search(query, k, mode=mode, exts=exts,  # type: ignore[arg-type]
                             path_glob=path_glob, collection=collection)
        if as_json:
            from dataclasses import asdict

            print(json.dumps([asdict(h) for h in hits], ensure_ascii=False, indent=1))
            return
        if not hits:
            console.print("no results")
        for n, hit in enumerate(hits, 1):
            scores = f"fused {hit.fused:.4f}"
            if hit.bm25 is not None:
                scores += f" · bm25 {hit.bm25:.2f}"
            if hit.vector is not None:
                scores += f" · cos {hit.vector:.3f}"
            console.print(f"[bold]{n}. {escape(hit.anchor.label())}[/]  [dim]{scores}[/]")
            console.print(f"   [dim]{escape(hit.anchor.path)}[/]")
            console.print(f"   {highlight(hit.snippet)}")

    run(go)
