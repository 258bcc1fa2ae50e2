"""`cairn trace last`: what the last answers retrieved, passed to the model and judged."""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from indexer.cli.common import console, get_settings, run

trace_app = typer.Typer(help="Show answer traces.", no_args_is_help=True)


@trace_app.command("last")
def trace_last(
    n: int = typer.Option(1, "-n", min=1), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show the most recent answer trace(s)."""
    from indexer.answer.traces import TraceStore

    settings = run(get_settings)
    traces = TraceStore(settings.paths.traces_dir).last(n)
    if not traces:
        console.print("no traces yet: ask something first")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(traces if n > 1 else traces[-1], ensure_ascii=False, indent=1))
        return
    for t in traces:
        console.print(f"[bold]{escape(t['question'])}[/]  [dim]{t['trace_id']}[/]")
        console.print(f"  standalone query: {escape(t['standalone_query'])}")
        console.print(f"  found: {t['found']}   stats: {escape(json.dumps(t['stats']))}")
        for p in t["passages"]:
            console.print(f"  passage {escape(p['label'])} fused={p['fused']:.4f} "
                          f"bm25={p['bm25']} cos={p['vector']}")
        for v in t["verdicts"]:
            mark = "ok " if v["supported"] else "!! "
            console.print(f"  {mark}{escape(v['sentence'][:100])}")
