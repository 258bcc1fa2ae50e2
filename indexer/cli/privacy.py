"""`cairn privacy`: the egress guard's own report (moved verbatim from the old `cli.py`).

It reads `models.offline` directly, as it did there: this command is the guard's report, and the
import-linter contract that keeps the CLI away from `models` names this one import as the
exception (pyproject.toml).
"""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from indexer.cli.common import console
from models.offline import guard_status


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
