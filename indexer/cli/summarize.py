"""`cairn summarize FILE…` (and `cairn ask --files`): answers over every chunk of whole files.

A thin call into `KnowledgeBase.stream_documents`: progress (step i/n and the time left) goes to
stderr as it happens — a long PDF takes minutes on a CPU — and the cited result to stdout.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from indexer.cli.common import console, err, get_settings, make_kb, run

if TYPE_CHECKING:
    from indexer.answer.whole_document import DocumentMode


def summarize(
    files: list[str] = typer.Argument(..., help="Indexed files, by name or path."),  # noqa: B008
    list_what: str | None = typer.Option(
        None, "--list", help="List these instead (e.g. \"action items\", \"deadlines\")."),
    compare: bool = typer.Option(False, "--compare", help="Compare two files (e.g. versions)."),
    focus: str = typer.Option("", "--focus", help="What the summary should focus on."),
    as_json: bool = typer.Option(False, "--json", help="Print the structured Answer as JSON."),
    model: str | None = typer.Option(None, "--model", help="Catalog id or a .gguf path."),
) -> None:
    """Summarize, list from or compare whole files: every passage is read, each point cited."""
    mode: DocumentMode = "compare" if compare else "list" if list_what else "summarize"
    instruction = list_what or focus
    run(lambda: stream_to_console(files, mode, instruction, as_json=as_json, model=model))


def stream_to_console(files: Sequence[str], mode: DocumentMode, instruction: str, *,
                      as_json: bool = False, model: str | None = None) -> None:
    """Run a whole-document answer, showing progress on stderr; Ctrl-C stops it cleanly."""
    from indexer.answer.answering import Answer
    from indexer.answer.traces import answer_to_dict
    from indexer.answer.whole_document import DocumentProgress

    settings = get_settings(chat_model=model)
    cancel = threading.Event()
    final: Answer | None = None
    with make_kb(settings) as kb:
        try:
            for item in kb.stream_documents(list(files), mode, instruction, cancel):
                if isinstance(item, DocumentProgress) and not as_json:
                    err.print(f"[dim]{progress_line(item)}[/]")
                elif isinstance(item, Answer):
                    final = item
        except KeyboardInterrupt:
            cancel.set()
            err.print("\nstopped")
            raise typer.Exit(130) from None
    assert final is not None
    if as_json:
        print(json.dumps(answer_to_dict(final), ensure_ascii=False, indent=1))
        return
    console.print(escape(final.text))
    _print_sources(final)


def progress_line(item: Any) -> str:
    """"reading report.pdf p. 1–8 · step 1/5 · about 2 min left"."""
    where = f" {item.label}" if item.label else ""
    left = ""
    if item.eta_s is not None:
        left = (f" · about {round(item.eta_s)} s left" if item.eta_s < 90
                else f" · about {round(item.eta_s / 60)} min left")
    return f"{item.stage}{where} · step {item.step + 1}/{item.steps}{left}"


def _print_sources(answer: Any) -> None:
    if answer.citations:
        console.print("\n[bold]Sources[/]")
        for c in answer.citations:
            console.print(f"  [{c.number}] [bold]{escape(c.label)}[/] [dim]{escape(c.anchor.path)}[/]")
    if answer.stats.get("cancelled"):
        console.print("[yellow]Stopped before the end: the points above cover part of the files.[/]")
