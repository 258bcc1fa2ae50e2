"""`cairn-gui` / `python -m desktop_app.main`: Cairn's desktop window.

Staged start-up (logged with timings):
  1. offline environment + egress guard (before any dependency can phone home),
  2. QApplication, theme and the window painted — nothing heavy imported yet,
  3. on the index thread: Settings → ModelHub → KnowledgeBase.open() → scan + watch.
Shutdown is one fan-out (`MainWindow.shutdown` → `Controller.shutdown`).

Flags: --home PATH, --fake-models, --self-test (offscreen: index the bundled samples, ask, check
the citation, print JSON, exit 0/1); hidden: --screenshot-dir DIR, --set KEY=VALUE.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("desktop_app")

# The fake embedder's hashed word vectors give lower cosines than MiniLM, for which the default
# relevance gate is calibrated; 0.25 keeps "couldn't find" for unrelated questions.
FAKE_MODELS: dict[str, Any] = {
    "embedder_backend": "fake",
    "generator_backend": "fake",
    "min_relevance": 0.25,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cairn-gui", description="Cairn desktop app")
    p.add_argument("--home", type=Path, help="Cairn home (default: CAIRN_HOME or the user data "
                   "folder; --self-test uses a temporary one)")
    p.add_argument("--fake-models", action="store_true",
                   help="use the deterministic test models (fast, not useful answers)")
    p.add_argument("--self-test", action="store_true",
                   help="index the sample documents offscreen, ask one question, check the "
                   "citation, print a JSON summary and exit (0 = passed)")
    p.add_argument("--verbose", "-v", action="store_true", help="log details to stderr")
    p.add_argument("--screenshot-dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=900.0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.fake_models:
        out.update(FAKE_MODELS)
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


def _install_excepthook(window: Any) -> None:
    """Bugs on the GUI thread go to the log and the window's notice bar, never a silent exit."""
    previous = sys.excepthook

    def hook(exc_type: Any, exc: BaseException, tb: Any) -> None:
        log.error("unexpected error", exc_info=(exc_type, exc, tb))
        try:
            window.notice.show_message(f"Unexpected error: {exc!r} — details are in the log.")
        except RuntimeError:
            previous(exc_type, exc, tb)

    sys.excepthook = hook


def main(argv: Sequence[str] | None = None) -> int:
    t0 = time.perf_counter()
    from indexer.runtime import install_egress_guard, set_offline_env

    set_offline_env()
    install_egress_guard()
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    home = args.home
    if args.self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        if home is None:
            home = Path(tempfile.mkdtemp(prefix="cairn-self-test-"))

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import Controller
    from desktop_app.main_window import MainWindow
    from desktop_app.theme import Theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Cairn")
    app.setApplicationDisplayName("Cairn")
    Theme(app)  # type: ignore[arg-type]
    controller = Controller(home, _overrides(args))
    window = MainWindow(controller)
    window.show()
    log.info("stage 2: window shown after %.0f ms", (time.perf_counter() - t0) * 1000)
    _install_excepthook(window)

    driver: Any = None
    if args.self_test:
        from desktop_app.scripted import SelfTest

        driver = SelfTest(window, timeout_s=args.timeout)
        driver.finished.connect(lambda code: app.exit(code))
    elif args.screenshot_dir is not None:
        from desktop_app.scripted import ScreenshotTour

        driver = ScreenshotTour(window, args.screenshot_dir, timeout_s=args.timeout)
        driver.finished.connect(lambda code: app.exit(code))

    def start() -> None:
        log.info("stage 3: opening the index (%.0f ms)", (time.perf_counter() - t0) * 1000)
        controller.start()
        if driver is not None:
            driver.start()

    QTimer.singleShot(0, start)
    code = app.exec()
    window.shutdown()
    if driver is not None and getattr(driver, "summary", None) is not None:
        print(json.dumps(driver.summary, indent=2, default=str))
    window.deleteLater()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
