"""`cairn index`, `cairn watch` and `cairn status`: keeping the index in step with the folders."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from indexer.cli.collection_cmds import COLLECTION_HELP
from indexer.cli.common import console, err, get_settings, make_kb, run
from indexer.errors import UserInputError
from indexer.events import (
    Event,
    FileFailed,
    FileMoved,
    FileRemoved,
    FileSkipped,
    ProgressUpdated,
)
from indexer.runtime import guard_status


def _progress_printer(progress: Any, task: Any, quiet: bool) -> Any:
    def on_event(event: Event) -> None:
        if isinstance(event, ProgressUpdated):
            eta = f"ETA {event.eta_seconds:.0f}s" if event.eta_seconds else ""
            name = os.path.basename(event.current_path or "")
            progress.update(
                task,
                total=max(event.files_total, 1),
                completed=event.files_done,
                description=f"{event.stage:<9} {event.chunks_embedded} chunks embedded, "
                f"{event.chunks_pending} pending {eta} {escape(name)[:40]}",
            )
        elif isinstance(event, FileFailed) and not quiet:
            progress.console.print(f"[red]failed[/] {escape(event.path)}: {escape(event.reason)}")
        elif isinstance(event, FileSkipped) and not quiet:
            progress.console.print(f"[yellow]skipped[/] {escape(event.path)}: "
                                   f"{escape(event.reason)}")
        elif isinstance(event, FileMoved) and not quiet:
            progress.console.print(f"moved {escape(event.src)} → {escape(event.dest)}")
        elif isinstance(event, FileRemoved) and not quiet:
            progress.console.print(f"removed {escape(event.path)}")

    return on_event


def index(quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary.")) -> None:
    """Index every watched folder once (incremental: unchanged files are skipped)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    def go() -> None:
        settings = get_settings()
        if not settings.folders:
            raise UserInputError("No folders to index.", hint="Add one: `cairn folders add PATH`.")
        started = time.perf_counter()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True,
                      disable=quiet or not err.is_terminal) as progress:
            task = progress.add_task("scanning", total=None)
            kb = make_kb(settings, _progress_printer(progress, task, quiet))
            with kb:
                plan = kb.scan()
                _wait_interruptible(kb)
                status = kb.status()
        took = time.perf_counter() - started
        by = status.files_by_stage
        console.print(
            f"indexed in {took:.1f}s: {plan.added} new, {plan.changed} changed, {plan.removed} "
            f"removed, {plan.unchanged} unchanged — {by.get('embedded', 0)} files ready, "
            f"{by.get('failed', 0)} failed, {by.get('skipped', 0)} skipped, "
            f"{status.chunks} chunks"
        )
        for path, reason in status.failures[:20]:
            console.print(f"  [red]failed[/] {escape(path)}: {escape(reason)}")

    run(go)


def _wait_interruptible(kb: Any) -> None:
    """Wait for the pipeline while letting Ctrl-C through (work resumes on the next run)."""
    try:
        while not kb.wait_idle(timeout=0.5):
            pass
    except KeyboardInterrupt:
        err.print("interrupted: progress is saved, run again to continue")
        raise typer.Exit(130) from None


def watch() -> None:
    """Index, then keep the index in sync with the folders until Ctrl-C."""
    def go() -> None:
        settings = get_settings()
        if not settings.folders:
            raise UserInputError("No folders to watch.", hint="Add one: `cairn folders add PATH`.")

        def on_event(event: Event) -> None:
            from indexer.events import FileEmbedded, FileParsed, IndexIdle

            if isinstance(event, (FileParsed, FileEmbedded, FileFailed, FileSkipped, FileMoved,
                                  FileRemoved, IndexIdle)):
                err.print(escape(_describe(event)))

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with make_kb(settings, on_event) as kb:
            kb.scan()
            kb.start_watching()
            err.print(f"watching {len(settings.folders)} folder(s); Ctrl-C to stop")
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            err.print("stopping…")

    run(go)


def _describe(event: Event) -> str:
    name = type(event).__name__
    fields = {k: getattr(event, k) for k in getattr(event, "__slots__", ()) if k != "at"}
    return f"{name} " + " ".join(f"{k}={v}" for k, v in fields.items())


def status(
    as_json: bool = typer.Option(False, "--json"),
    collection: str | None = typer.Option(None, "--collection", "-c", help=COLLECTION_HELP),
) -> None:
    """Files per state, failures with reasons, index size and model state."""
    def go() -> None:
        from dataclasses import asdict

        with make_kb(get_settings()) as kb:
            st = kb.status(collection)
            shared = kb.shared.status(kb.retriever)  # opens it, to show what it reads
        if as_json:
            print(json.dumps({**asdict(st), "shared_index": shared}, indent=1))
            return
        title = f"Cairn index: {collection}" if collection else "Cairn index"
        table = Table(title=escape(title), show_header=False)
        table.add_row("folders", "\n".join(st.folders) or "(none)")
        for stage, n in st.files_by_stage.items():
            table.add_row(f"files {stage}", str(n))
        table.add_row("chunks", f"{st.chunks} ({st.chunks_pending} waiting for vectors)")
        table.add_row("index size", f"{st.index_bytes / 1e6:.1f} MB")
        for role, m in st.models.items():
            table.add_row(f"{role} model", f"{m['model_id']}: {m['status']} {m['detail']}")
        g = guard_status()
        table.add_row("network", f"offline guard {'on' if g.installed else 'OFF'}, "
                                 f"{g.blocked} attempts blocked")
        if shared:
            table.add_row("shared index", escape(shared))
        console.print(table)
        for path, reason in st.failures:
            console.print(f"[red]failed[/] {escape(path)}: {escape(reason)}")
        for path, reason in st.skipped:
            console.print(f"[yellow]skipped[/] {escape(path)}: {escape(reason)}")

    run(go)
