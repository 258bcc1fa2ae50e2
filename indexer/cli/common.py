"""What every `cairn` command shares: the consoles, the settings the command line asks for, the
knowledge base built from them, and the translation of errors into messages and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from indexer.errors import CairnError
from indexer.events import EventCallback
from indexer.runtime import ModelError

if TYPE_CHECKING:
    from indexer.config import Settings
    from indexer.service import KnowledgeBase

T = TypeVar("T")

console = Console()
err = Console(stderr=True)


class State:
    """What the root callback parsed (`--home`, `--fake-models`), for every command."""

    home: Path | None = None
    overrides: dict[str, Any] = {}


def get_settings(**overrides: Any) -> Settings:
    """The settings for this command: the home's, then `--fake-models`, then `overrides`."""
    from indexer.config import load_settings

    merged = {**State.overrides, **{k: v for k, v in overrides.items() if v is not None}}
    return load_settings(State.home, **merged)


def make_kb(settings: Settings, on_event: EventCallback | None = None) -> KnowledgeBase:
    """The composition root of a command: Settings → ModelHub → KnowledgeBase."""
    from indexer.service import KnowledgeBase, build_hub

    return KnowledgeBase(settings, build_hub(settings), on_event or (lambda e: None))


def run(fn: Callable[[], T]) -> T:
    """Call `fn`; a `CairnError`/`ModelError` becomes its message, hint and exit code."""
    try:
        return fn()
    except (CairnError, ModelError) as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        if exc.hint:
            err.print(f"[dim]hint: {escape(exc.hint)}[/]")
        raise typer.Exit(getattr(exc, "exit_code", 3)) from None


def highlight(snippet: str) -> str:
    """A snippet's «matched» terms in rich markup."""
    return escape(snippet).replace("«", "[bold yellow]").replace("»", "[/]")
