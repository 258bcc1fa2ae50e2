"""`cairn collections list|create|rename|delete|add|remove`: named sets of folders.

A collection is a view over the one index (`indexer/collection_sets.py`): these commands change
names and folder lists in the settings, never files and never the index. Adding a folder that is
not watched yet starts watching it (run `cairn index` or `cairn watch` to process it). The
`--collection` option of `search`, `ask`, `eval run` and `status` limits them to one collection.

(Not `collections.py`: that name would shadow the standard library's module in scripts run from
this folder.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from indexer.cli.common import console, get_settings, make_kb, run
from indexer.collection_sets import in_scope

collections_app = typer.Typer(
    help="Named sets of folders that search, ask, eval and status can be limited to.",
    no_args_is_help=True,
)

COLLECTION_HELP = "Only this collection's folders (see `cairn collections list`; default: all)."


@collections_app.command("list")
def collections_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List collections with their folders and how many indexed files each holds."""
    def go() -> None:
        with make_kb(get_settings()) as kb:
            files = [f.path for f in kb.files()]
            rows = []
            for name, folders in kb.collections.as_dict().items():
                scope = [str(f) for f in folders]
                count = sum(1 for p in files if scope and in_scope(p, scope))
                rows.append({"name": name, "folders": scope, "files": count})
        if as_json:
            print(json.dumps(rows, ensure_ascii=False, indent=1))
            return
        if not rows:
            console.print("no collections yet: `cairn collections create NAME FOLDER…`")
        for row in rows:
            console.print(f"[bold]{escape(row['name'])}[/]  [dim]{row['files']} files[/]")
            for folder in row["folders"]:
                console.print(f"  {escape(folder)}")

    run(go)


@collections_app.command("create")
def collections_create(
    name: str,
    folders: Annotated[list[Path] | None,
                       typer.Argument(help="Its folders (watched from now on).")] = None,
) -> None:
    """Create a collection of folders (a folder may be in several collections)."""
    def go() -> None:
        kb = make_kb(get_settings())  # settings only: no need to open the index
        clean = kb.collections.create(name, folders or ())
        console.print(f"created [bold]{escape(clean)}[/] with {len(folders or ())} folder(s)")

    run(go)


@collections_app.command("rename")
def collections_rename(old: str, new: str) -> None:
    """Rename a collection (its conversations in the window follow it)."""
    def go() -> None:
        kb = make_kb(get_settings())  # settings only: no need to open the index
        clean = kb.collections.rename(old, new)
        console.print(f"renamed {escape(old)} to [bold]{escape(clean)}[/]")

    run(go)


@collections_app.command("delete")
def collections_delete(name: str) -> None:
    """Forget a collection. No file is deleted; its folders stay watched and indexed."""
    def go() -> None:
        kb = make_kb(get_settings())  # settings only: no need to open the index
        folders = kb.collections.delete(name)
        console.print(f"deleted the collection {escape(name)}; its {len(folders)} folder(s) "
                      "stay indexed and your files are untouched")

    run(go)


@collections_app.command("add")
def collections_add(name: str, folder: Path) -> None:
    """Add a folder to a collection (watched from now on if it was not)."""
    def go() -> None:
        kb = make_kb(get_settings())  # settings only: no need to open the index
        path = kb.collections.add(name, folder)
        console.print(f"added {escape(str(path))} to [bold]{escape(name)}[/]")

    run(go)


@collections_app.command("remove")
def collections_remove(name: str, folder: Path) -> None:
    """Take a folder out of a collection (it stays watched and indexed)."""
    def go() -> None:
        kb = make_kb(get_settings())  # settings only: no need to open the index
        kb.collections.remove(name, folder)
        console.print(f"removed {escape(str(folder))} from [bold]{escape(name)}[/]")

    run(go)
