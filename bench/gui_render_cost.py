"""GUI-thread cost of one streamed render of the Ask panel, by length of the conversation above.

    PYTHONPATH=CHECKOUT QT_QPA_PLATFORM=offscreen python bench/gui_render_cost.py [--turns 3 20]

While an answer streams, the Ask panel re-renders (at most 20 times a second) whatever its
render throttle calls; that runs on the GUI thread, so its cost is part of every stall of the
"generating" phase of bench_gui.py. Here it is timed alone, in a shown panel (layout and paint
included: `processEvents` after each render), one token more each time, after `--turns` earlier
answers — the figure grows with the conversation when the whole transcript is re-rendered.
The panel is the one of the checkout first on PYTHONPATH (this script adds nothing to the path),
so `bench_gui.py --baseline` runs it for both revisions. Prints one JSON object.
Not a test: no assertions, figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ANSWER = ("Field note 12 says the river harbour lantern granite meadow orbit cedar signal copper "
          "glacier [1].")


def measure(turns: int, renders: int) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from desktop_app.ask_panel import AskPanel
    from desktop_app.history import Conversation, ConversationStore, Source, TurnRecord
    from indexer.records import Anchor

    app = QApplication.instance() or QApplication(sys.argv[:1])
    store = ConversationStore(Path(tempfile.mkdtemp(prefix="cairn-render-")) / "c.json")
    panel = AskPanel(SimpleNamespace(kb=None), store)  # type: ignore[arg-type]
    panel.resize(600, 700)
    panel.show()
    sources = [Source(1, Anchor("/notes/note-0012.txt", line_start=1, line_end=9), "text", "")]
    earlier = [TurnRecord(f"What does field note {i} say?", ANSWER, True, sources)
               for i in range(turns)]
    panel.set_conversation(Conversation(turns=earlier))
    panel.generating = True  # as after Ask; tokens are appended as `_on_stream_item` does
    panel._pending_question = "What does field note 57 say?"
    panel._render(follow=True)
    app.processEvents()
    render = panel._render_throttle._callback  # what each throttled streaming render runs
    words = ANSWER.split()
    times = []
    for i in range(renders):
        panel._stream_text += words[i % len(words)] + " "
        t0 = time.perf_counter()
        render(None)
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1000)
    panel.generating = False
    panel.close()
    panel.deleteLater()
    times.sort()
    return {"earlier_turns": turns, "renders": renders,
            "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(times[int(len(times) * 0.9)], 2), "max_ms": round(times[-1], 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--turns", type=int, nargs="+", default=[3, 20])
    p.add_argument("--renders", type=int, default=200)
    args = p.parse_args()
    print(json.dumps([measure(n, args.renders) for n in args.turns]))


if __name__ == "__main__":
    main()
