"""Subprocess helper for tests/e2e/test_crash_safety.py (not a test module).

    python -m tests.e2e.crash_worker HOME FOLDER [--hold SECONDS]

Indexes FOLDER into the Cairn home HOME with the fake models and prints one line per milestone
(`OPEN`, `SCANNED`, `IDLE`) so the parent can SIGKILL it at a chosen point. With `--hold` it
keeps the home (and its lock) open for that long after indexing, which the lock test uses.
The egress guard is installed strictly, as in every Cairn entry point.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("home", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--hold", type=float, default=0.0)
    args = parser.parse_args(argv)

    from models.offline import install_egress_guard, set_offline_env

    set_offline_env()
    install_egress_guard(strict=True)

    from indexer.config import load_settings
    from indexer.service import KnowledgeBase, build_hub

    settings = load_settings(
        args.home, embedder_backend="fake", generator_backend="fake", folders=[args.folder]
    )
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        print("OPEN", flush=True)
        kb.scan()
        print("SCANNED", flush=True)
        kb.wait_idle(600)
        print("IDLE", flush=True)
        if args.hold:
            time.sleep(args.hold)
    print("CLOSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
