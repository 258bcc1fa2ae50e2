"""`cairn folders add|remove|list`: the watched folders, kept in the settings file."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from indexer.cli.common import console, get_settings, run
from indexer.errors import UserInputError

folders_app = typer.Typer(help="Manage watched folders.", no_args_is_help=True)


@folders_app.command("add")
def folders_add(paths: list[Path] = typer.Argument(..., help="Folders to index and watch.")) -> None:
    """Add folders to the index (run `cairn index` or `cairn watch` to process them)."""
    def go() -> None:
        from indexer.config import save_settings

        settings = get_settings()
        for p in paths:
            path = p.expanduser().resolve()
            if not path.is_dir():
                raise UserInputError(f"Not a folder: {p}", hint="Give an existing folder.")
            if path not in settings.folders:
                settings.folders = [*settings.folders, path]
            console.print(f"watching [bold]{escape(str(path))}[/]")
        save_settings(settings, keys={"folders"})

    run(go)


@folders_app.command("remove")
def folders_remove(path: Path) -> None:
    """Stop indexing a folder; its entries leave the index at the next `index`/`watch`."""
    def go() -> None:
        from indexer.config import save_settings

        settings = get_settings()
        target = path.expanduser().resolve()
        if target not in settings.folders:
            raise UserInputError(f"Not a watched folder: {path}",
                                 hint="See `cairn folders list`.")
        settings.folders = [f for f in settings.folders if f != target]
        save_settings(settings, keys={"folders"})
        console.print(f"removed {escape(str(target))} (your files are untouched)")

    run(go)


@folders_app.command("list")
def folders_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List watched folders."""
    settings = run(get_settings)
    if as_json:
        print(json.dumps([str(f) for f in settings.folders]))
        return
    if not settings.folders:
        console.print("no folders yet: `cairn folders add PATH`")
    for f in settings.folders:
        console.print(str(f), markup=False)
