"""`cairn privacy`: what the egress guard covers and what it blocked; `--audit` asks the kernel.

The guard wraps Python's sockets only, and says so. `--audit` (Linux) runs the real work in a
child process under a system-call trace (`indexer/privacy_audit.py`) and lists every attempt
to reach another machine, native libraries included, or "none".
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.markup import escape

from indexer.cli.common import console, err, get_settings, run
from indexer.config import Settings
from indexer.errors import UserInputError
from indexer.runtime import (
    GUARD_COVERS,
    GUARD_DOES_NOT_COVER,
    NATIVE_OFF_ENV,
    guard_status,
    model_server_address,
    read_download_log,
)
from indexer.storage.shared_location import shared_location


def privacy(
    as_json: bool = typer.Option(False, "--json"),
    audit: bool = typer.Option(False, "--audit", help="Linux: index, search and answer in a "
                               "child process under a system-call trace and report every "
                               "attempt to reach another machine, native libraries included."),
    folder: list[Path] = typer.Option([], "--folder", help="With --audit: documents to index "
                                      "(default: a few sample documents)."),
    soak: float = typer.Option(20.0, "--soak", min=0, help="With --audit: seconds the child "
                               "stays alive after answering, for timers that upload later."),
) -> None:
    """Show that Cairn is offline: what the egress guard covers, and what it blocked."""
    if audit:
        run(lambda: _privacy_audit(as_json, folder, soak))
        return
    g = guard_status()
    settings = run(get_settings)
    downloads = read_download_log(settings.paths.models_dir)
    server = _model_server(settings)
    location = shared_location(settings)
    shared = location.describe() if location is not None else None
    data = {
        "guard_installed": g.installed,
        "strict": g.strict,
        "guard_covers": GUARD_COVERS,
        "guard_does_not_cover": GUARD_DOES_NOT_COVER,
        "native_telemetry_off": {k: os.environ.get(k) for k in NATIVE_OFF_ENV},
        "blocked_attempts": g.blocked,
        "allowed_connections": g.allowed,
        "attempts": [
            {"host": a.host, "port": a.port, "caller": a.stack_summary} for a in g.attempts
        ],
        "telemetry": "none: Cairn sends nothing; dependency analytics are disabled by environment",
        "user_started_downloads": downloads,
        "model_server": server,
        "shared_index": shared,
        "allowed_endpoints": list(g.endpoints),
    }
    if as_json:
        print(json.dumps(data, indent=1))
        return
    console.print(f"offline guard: {'installed' if g.installed else 'NOT installed'}")
    console.print(f"  covers: {escape(GUARD_COVERS)}")
    console.print(f"  does not cover: {escape(GUARD_DOES_NOT_COVER)}")
    console.print(f"blocked connection attempts this run: {g.blocked}")
    for a in g.attempts:
        console.print(f"  blocked {escape(str(a.host))}:{a.port} from {escape(a.stack_summary)}")
    if server:
        console.print(f"[bold yellow]answers from {escape(server['address'])}[/]: your "
                      "documents' passages are sent there (chat_endpoint "
                      f"{escape(server['url'])}); the guard lets that host and port through, "
                      "nothing else")
    if shared:
        console.print(f"[bold yellow]shared index:[/] {escape(shared)}; read by LanceDB's own "
                      "(native) client, which this Python guard cannot see: "
                      "`cairn privacy --audit` does")
    console.print("network is otherwise only opened by an explicit `cairn models download`.")
    if not downloads:
        console.print("network used by downloads you started: never")
    for d in downloads:
        console.print(f"  {escape(str(d.get('at')))}: {escape(str(d.get('file')))} from "
                      f"{escape(str(d.get('host')))}, {int(str(d.get('bytes') or 0)) / 1e6:.0f} MB, "
                      f"{escape(str(d.get('outcome')))}")


def _model_server(settings: Settings) -> dict[str, str] | None:
    """The team model server answers come from, when one is configured."""
    address = model_server_address(settings)
    if address is None:
        return None
    return {"address": address, "url": settings.chat_endpoint,
            "sent": "the question and the passages Cairn retrieved for it"}


def _privacy_audit(as_json: bool, folders: list[Path], soak: float) -> None:
    from indexer.privacy_audit import StraceMissing, audit

    if not sys.platform.startswith("linux"):
        raise UserInputError(
            "--audit traces system calls with strace, which is Linux only.",
            hint="README, Privacy: how to check the same on macOS and Windows.",
        )
    for f in folders:
        if not f.is_dir():
            raise UserInputError(f"Not a folder: {f}", hint="Give an existing folder.")
    if not as_json:
        err.print("auditing: indexing, searching and answering in a traced child process …")
    try:
        outcome = audit(get_settings(), folders or None, soak_s=soak)
    except StraceMissing as exc:
        raise UserInputError(str(exc), hint="Install strace, then run the audit again.") from None
    if as_json:
        print(json.dumps(outcome.to_dict(), indent=1))
    else:
        flow = outcome.flow
        if flow:
            console.print(
                f"did: indexed {flow['files']} files ({flow['chunks']} chunks) in "
                f"{flow['index_s']} s, {flow['search_hits']} search hits, answered in "
                f"{flow['answer_s']} s with {escape(Path(str(flow['chat_model'])).name)}"
            )
        report = outcome.report
        console.print(f"threads traced: {report.threads_traced}; loopback calls: "
                      f"{report.loopback_calls}; local sockets: {report.local_socket_calls}")
        allowed = sorted({f"{a.query or a.address}:{a.port}" for a in report.allowed})
        if allowed:
            console.print(f"[bold yellow]calls to the model server you configured:[/] "
                          f"{len(report.allowed)} ({escape(', '.join(allowed))})")
        if report.clean:
            other = " other" if allowed else ""
            console.print(f"[bold green]{other.strip() + ' ' if other else ''}outside "
                          "connection attempts: none[/]")
        for a, n in report.grouped():
            console.print(f"[bold red]outside attempt{f' ×{n}' if n > 1 else ''}:[/] "
                          f"{escape(a.describe())}")
        for store in outcome.telemetry_stores:
            console.print(f"[bold red]telemetry store written:[/] ~/{escape(store)}")
        if outcome.returncode:
            err.print(f"the audited run failed ({outcome.returncode}):\n"
                      f"{escape(outcome.stderr_tail)}")
    if not outcome.clean:
        raise typer.Exit(1)
