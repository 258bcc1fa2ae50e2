"""`cairn ask`: a streamed answer from the user's documents, with its sources."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import typer
from rich.markup import escape

from indexer.cli.collection_cmds import COLLECTION_HELP
from indexer.cli.common import console, err, get_settings, highlight, make_kb, run
from indexer.cli.summarize import stream_to_console


def ask(
    question: str,
    as_json: bool = typer.Option(False, "--json", help="Print the structured Answer as JSON."),
    no_stream: bool = typer.Option(False, "--no-stream", help="Print the answer when complete."),
    model: str | None = typer.Option(None, "--model", help="Catalog id or a .gguf path."),
    top_k: int | None = typer.Option(None, "--top-k", min=1, max=50),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore the answer cache."),
    collection: str | None = typer.Option(None, "--collection", "-c", help=COLLECTION_HELP),
    files: list[str] | None = typer.Option(  # noqa: B008
        None, "--files", help="Read these whole files (every passage) instead of searching."),
) -> None:
    """Answer a question from your documents, with citations."""
    if files:  # whole-document answering (indexer/cli/summarize.py)
        run(lambda: stream_to_console(files, "ask", question, as_json=as_json, model=model))
        return

    def go() -> None:
        from indexer.answer.answering import Answer, AnswerSources, AnswerStage, AnswerToken
        from indexer.answer.traces import answer_to_dict

        settings = get_settings(chat_model=model, top_k=top_k)
        cancel = threading.Event()
        final: Answer | None = None
        streaming = not (as_json or no_stream)
        wrote_tokens = False
        with make_kb(settings) as kb:
            try:
                for item in kb.stream(question, cancel=cancel, use_cache=not no_cache,
                                     collection=collection):
                    if isinstance(item, AnswerSources) and streaming:
                        _print_reading(item.passages)
                    elif isinstance(item, AnswerToken) and streaming:
                        wrote_tokens = True
                        sys.stdout.write(item.text)
                        sys.stdout.flush()
                    elif (isinstance(item, AnswerStage) and item.stage == "rereading"
                          and streaming and wrote_tokens):
                        console.print("\n[dim](one passage stood out: reading it again)[/]")
                    elif (isinstance(item, AnswerStage) and item.stage == "second_part"
                          and streaming):
                        console.print("\n[dim](checking the question's second part)[/]")
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
        if streaming:
            print()
            if not final.found and final.stats.get("refused_by") == "grounding":
                console.print("[yellow]The passages do not support this answer.[/] "
                              f"{escape(final.text)}")
            elif not wrote_tokens:  # e.g. the relevance gate refuses without the model
                console.print(escape(final.text))
        else:
            console.print(escape(final.text))
        _print_sources(final)

    run(go)


def _print_reading(passages: Any) -> None:
    """The passages the model is reading, shown before its first token (seconds away on a CPU)."""
    console.print(f"[dim]Reading {len(passages)} passage{'s' if len(passages) != 1 else ''}:[/]")
    for n, hit in enumerate(passages, 1):
        console.print(f"  [dim][{n}][/] [bold]{escape(hit.anchor.label())}[/] "
                      f"{highlight(hit.snippet)}")
    console.print()


def _print_sources(answer: Any) -> None:
    if answer.citations:
        console.print("\n[bold]Sources[/]")
        for c in answer.citations:
            console.print(f"  [{c.number}] [bold]{escape(c.label)}[/] "
                          f"[dim]{escape(c.anchor.path)}[/]")
            console.print(f"      {highlight(c.snippet)}")
    elif not answer.found and answer.passages:
        console.print("\n[bold]Closest passages[/] (not enough to answer)")
        for hit in answer.passages:
            console.print(f"  • {escape(hit.anchor.label())}: {highlight(hit.snippet)}")
    if answer.unsupported:
        console.print("\n[yellow]Not supported by the cited passages:[/]")
        for s in answer.unsupported:
            console.print(f"  - {escape(s)}")
