"""Screenshot of a whole-document summary in the window (offscreen Qt), for docs/screenshots.

Takes the conversation turn `bench_summarize.py --answer-out` kept (a real model's summary of
the generated report, with its citations) and the folder holding that report, opens the real
window over it (fake models: nothing is generated here, the turn is shown as the history
shows any saved turn), opens citation 1 in the Sources pane, and saves `widget.grab()`.

    QT_QPA_PLATFORM=offscreen uv run python bench/screenshot_summary.py \\
        --answer /tmp/summary-turn.json --docs /tmp/sum/docs --out docs/screenshots/08-summary.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answer", type=Path, required=True)
    ap.add_argument("--docs", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--citation", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import Controller
    from desktop_app.history import Conversation, TurnRecord
    from desktop_app.main_window import MainWindow
    from indexer.config import load_settings, save_settings

    app = QApplication.instance() or QApplication([])
    home = Path(tempfile.mkdtemp(prefix="cairn-shot-"))
    fake = {"embedder_backend": "fake", "generator_backend": "fake"}
    save_settings(load_settings(home, folders=[args.docs.resolve()], **fake), keys={"folders"})
    controller = Controller(home, fake)
    window = MainWindow(controller)
    window.resize(1500, 900)
    window.show()
    controller.start()
    deadline = time.monotonic() + 120
    while controller.kb is None and time.monotonic() < deadline:
        QTest.qWait(100)
    while time.monotonic() < deadline:  # the viewer opens a cited page of an indexed file
        status = controller.last_status
        if status is not None and status.files_by_stage.get("embedded", 0) >= 1 and status.idle:
            break
        controller.refresh_status()
        QTest.qWait(500)
    turn = TurnRecord.from_json(json.loads(args.answer.read_text(encoding="utf-8")))
    conversation = Conversation(title=turn.question, turns=[turn])
    window.store.conversations.insert(0, conversation)
    window.conversations.refresh(conversation)
    window.ask_panel.set_conversation(conversation)
    window.show_tab(0)
    QTest.qWait(500)
    opened: list[object] = []
    window.sources.source_opened.connect(lambda source, _how: opened.append(source))
    window.ask_panel.activate_citation(0, args.citation)
    until = time.monotonic() + 60
    while not opened and time.monotonic() < until:
        QTest.qWait(200)
    QTest.qWait(1500)  # the page renders after the viewer opens
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(args.out)
    window.close()
    app.processEvents()


if __name__ == "__main__":
    main()
