"""The `cairn` typer app: its callback (`--home`, `--fake-models`, `--verbose`) and the command
groups, registered in the order `cairn --help` lists them."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from indexer.cli import (
    ask,
    collection_cmds,
    evaluate,
    folders,
    indexing,
    models,
    privacy,
    search,
    serving,
    summarize,
    trace,
)
from indexer.cli.common import State
from indexer.runtime import install_egress_guard

app = typer.Typer(
    name="cairn",
    help="Cairn: search and ask your own documents, fully offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(folders.folders_app, name="folders")
app.add_typer(models.models_app, name="models")
app.add_typer(trace.trace_app, name="trace")
app.add_typer(collection_cmds.collections_app, name="collections")


@app.callback()
def _main(
    home: Path | None = typer.Option(None, "--home", help="Cairn home (default: CAIRN_HOME "
                                        "or the platform's user data folder)."),
    fake_models: bool = typer.Option(False, "--fake-models", hidden=True,
                                     help="Deterministic fake models (for tests/demos)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details to stderr."),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    install_egress_guard()
    State.home = home
    State.overrides = {}
    if fake_models:
        State.overrides.update(embedder_backend="fake", generator_backend="fake")


app.command()(indexing.index)
app.command()(indexing.watch)
app.command()(search.search)
app.command()(indexing.status)
app.command()(privacy.privacy)
app.command()(ask.ask)
app.command()(summarize.summarize)
app.command()(serving.mcp)
app.command()(serving.serve)
app.add_typer(evaluate.eval_app, name="eval")
