"""Subprocess helper for the server tests (not a test module): a process that owns a home the
way the Cairn window does.

    python -m tests.e2e.owner_worker HOME FOLDER [--fake]

Opens the knowledge base of HOME (taking its lock), saves FOLDER as its watched folder, indexes
it, starts watching it, and prints `READY`; it keeps the home (and the lock) until its stdin is
closed, then prints `CLOSED`. The egress guard is installed strictly, as in every entry point.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_owner(home: Path, folder: Path, *, fake: bool,
                  timeout: float = 600) -> Iterator[subprocess.Popen[str]]:
    """Run this worker until the block ends: the home is owned (locked) inside the block."""
    cmd = [sys.executable, "-m", "tests.e2e.owner_worker", str(home), str(folder)]
    proc = subprocess.Popen(cmd + (["--fake"] if fake else []), cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        assert line.strip() == "READY", f"owner did not start: {line!r}"
        yield proc
        proc.stdin.close()
        assert proc.stdout.readline().strip() == "CLOSED"
        assert proc.wait(timeout) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def cairn_command() -> str:
    """The `cairn` console script of this environment."""
    return str(Path(sys.executable).with_name("cairn"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("home", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--fake", action="store_true", help="fake models (fast)")
    args = parser.parse_args(argv)

    from models.offline import install_egress_guard, set_offline_env

    set_offline_env()
    install_egress_guard(strict=True)

    from indexer.config import load_settings, save_settings
    from indexer.service import KnowledgeBase, build_hub

    fake = {"embedder_backend": "fake", "generator_backend": "fake"} if args.fake else {}
    settings = load_settings(args.home, folders=[args.folder.resolve()], **fake)
    save_settings(settings, keys={"folders"})
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.index(timeout=600)
        kb.start_watching()
        print("READY", flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    print("CLOSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
