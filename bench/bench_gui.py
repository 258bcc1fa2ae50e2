"""GUI responsiveness benchmark: event-loop stalls while indexing and generating, and launch time.

    .venv/bin/python bench/bench_gui.py [--files 300] [--real-embedder] [--real-generator]

A QTimer fires every 5 ms on the GUI thread and records the gap since its last tick; any work
that blocks the GUI thread shows up as a long gap. Phases: start-up (window shown → index open),
indexing a folder of generated text files, answering a question (streamed), and typing a search.
Launch time is measured in a child process from before the interpreter starts to the first paint
of the window and to the moment the window is interactive (index open, Ask enabled).

Prints one JSON object. Targets: max stall < 50 ms, p99 < 16 ms, launch < 2 s. Not a test: no
assertions, figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = (
    "river", "harbour", "lantern", "granite", "meadow", "orbit", "cedar", "signal", "copper",
    "glacier", "ember", "prairie", "tide", "basalt", "orchard", "compass", "falcon", "delta",
    "quartz", "summit", "willow", "beacon", "canyon", "estuary", "fjord", "heather", "lichen",
    "marsh", "nebula", "obsidian", "pebble", "ridge", "spruce", "tundra", "valley", "zephyr",
)


def make_corpus(folder: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        paras = []
        for _ in range(rng.randint(4, 8)):
            sentence_count = rng.randint(3, 6)
            sentences = [
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."
                for _ in range(sentence_count)
            ]
            paras.append(" ".join(sentences))
        (folder / f"note-{i:04d}.txt").write_text(
            f"Field note {i}: the {WORDS[i % len(WORDS)]} survey\n\n" + "\n\n".join(paras) + "\n",
            encoding="utf-8",
        )


def summarize(gaps_ms: list[float]) -> dict[str, Any]:
    if not gaps_ms:
        return {"ticks": 0}
    ordered = sorted(gaps_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "ticks": len(gaps_ms),
        "max_stall_ms": round(ordered[-1], 1),
        "p99_ms": round(p99, 1),
        "median_ms": round(statistics.median(ordered), 1),
        "over_50ms": sum(1 for g in gaps_ms if g > 50),
    }


# --------------------------------------------------------------------------- launch (child)
def launch_child(home: Path, fake: bool) -> None:
    """Child process: report (wall clock) first paint and interactive times as JSON."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import Controller
    from desktop_app.main_window import MainWindow
    from models.offline import install_egress_guard, set_offline_env

    set_offline_env()
    install_egress_guard()
    app = QApplication(sys.argv[:1])
    overrides = {"embedder_backend": "fake", "generator_backend": "fake"} if fake else {}
    controller = Controller(home, overrides)
    window = MainWindow(controller)
    marks: dict[str, float] = {}

    class PaintSpy(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:
            if event.type() == QEvent.Type.Paint and "first_paint" not in marks:
                marks["first_paint"] = time.time()
            return False

    spy = PaintSpy()
    window.installEventFilter(spy)

    def opened(_kb: Any) -> None:
        marks["interactive"] = time.time()
        QTimer.singleShot(0, app.quit)

    controller.kb_opened.connect(opened)
    controller.kb_failed.connect(lambda exc: (marks.setdefault("error", str(exc)), app.quit()))
    window.show()
    QTimer.singleShot(0, controller.start)
    QTimer.singleShot(120_000, app.quit)
    app.exec()
    window.shutdown()
    print(json.dumps(marks))


def measure_launch(fake: bool) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="cairn-bench-launch-"))
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, __file__, "--launch-child", str(home)] + (["--fake"] if fake else []),
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )
    try:
        marks = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": out.stderr[-2000:]}
    result = {k: round(v - t0, 3) for k, v in marks.items() if isinstance(v, float)}
    return {
        "launch_to_first_paint_s": result.get("first_paint"),
        "launch_to_interactive_s": result.get("interactive"),
        **({"error": marks["error"]} if "error" in marks else {}),
    }


# --------------------------------------------------------------------------- stalls (in process)
def measure_stalls(args: argparse.Namespace) -> dict[str, Any]:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import Controller
    from desktop_app.main_window import MainWindow
    from models.offline import install_egress_guard, set_offline_env

    set_offline_env()
    install_egress_guard()
    app = QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-gui-"))
    corpus = tmp / "corpus"
    make_corpus(corpus, args.files)
    from desktop_app.main import FAKE_MODELS

    overrides: dict[str, Any] = {}
    if not args.real_embedder:
        overrides.update(embedder_backend="fake", min_relevance=FAKE_MODELS["min_relevance"])
    if args.real_generator:
        overrides.update(chat_model=args.chat_model, n_ctx=2048)
    else:
        overrides["generator_backend"] = "fake"
    controller = Controller(tmp / "home", overrides)
    window = MainWindow(controller)

    gaps: dict[str, list[float]] = {}
    phase = {"name": "startup", "last": time.perf_counter(), "t0": time.perf_counter()}
    phase_times: dict[str, float] = {}

    def tick() -> None:
        now = time.perf_counter()
        gaps.setdefault(phase["name"], []).append((now - phase["last"]) * 1000)
        phase["last"] = now

    def set_phase(name: str) -> None:
        now = time.perf_counter()
        phase_times[phase["name"]] = round(now - phase["t0"], 2)
        phase.update(name=name, t0=now)

    monitor = QTimer()
    monitor.setInterval(5)
    monitor.timeout.connect(tick)

    def steps() -> Any:
        yield lambda: controller.kb is not None
        if args.real_generator is False:
            controller.kb.hub.generator().piece_delay = 0.01  # a steady stream of ~100 tokens/s
        set_phase("indexing")
        window.add_folder(corpus)

        def indexed() -> bool:
            # Only the app's own status refreshes (on IndexIdle, throttled on file events):
            # polling status() from the bench would add load the app itself does not.
            st = controller.last_status
            if st is None:
                return False
            by = st.files_by_stage
            done = by.get("embedded", 0) + by.get("failed", 0) + by.get("skipped", 0)
            return done >= args.files and st.idle and not by.get("queued") and not by.get("parsed")

        yield indexed
        set_phase("generating")
        window.show_tab(0)
        panel = window.ask_panel
        for n in (12, 57, 123):  # questions built from a note's own words, so they are answered
            words = (corpus / f"note-{n:04d}.txt").read_text().split("\n\n")[1].split()[:12]
            panel.ask("What does the field note say about " + " ".join(words).lower() + "?")
            yield lambda: not panel.generating
        answers = [t for t in panel.conversation.turns if t.found]
        phase["answers_found"] = len(answers)
        set_phase("searching")
        window.focus_search()
        text = "granite ridge beacon"
        for i in range(1, len(text) + 1):
            window.search_panel.edit.setText(text[:i])
            yield ("sleep", 0.06)
        yield lambda: bool(window.search_panel.results)
        set_phase("done")

    gen = steps()
    state: dict[str, Any] = {"cond": next(gen), "since": time.perf_counter()}
    driver = QTimer()
    driver.setInterval(50)

    def drive() -> None:
        cond = state["cond"]
        if isinstance(cond, tuple):
            ok = time.perf_counter() - state["since"] >= cond[1]
        else:
            ok = cond()
        if not ok:
            if time.perf_counter() - state["since"] > args.timeout:
                state["error"] = f"timeout in phase {phase['name']}"
                app.quit()
            return
        try:
            state["cond"] = next(gen)
            state["since"] = time.perf_counter()
        except StopIteration:
            app.quit()

    driver.timeout.connect(drive)
    window.show()
    monitor.start()
    QTimer.singleShot(0, controller.start)
    driver.start()
    app.exec()
    monitor.stop()
    driver.stop()
    window.shutdown()
    gaps.pop("done", None)
    result: dict[str, Any] = {
        "files": args.files,
        "embedder": "real" if args.real_embedder else "fake",
        "generator": args.chat_model if args.real_generator else "fake (10 ms/token)",
        "phase_seconds": phase_times,
        "stalls": {name: summarize(g) for name, g in gaps.items()},
        "overall_excluding_startup": summarize(
            [g for name, gs in gaps.items() if name != "startup" for g in gs]
        ),
        "answers_found": f"{phase.get('answers_found', 0)}/3",
    }
    if "error" in state:
        result["error"] = state["error"]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=300)
    p.add_argument("--real-embedder", action="store_true")
    p.add_argument("--real-generator", action="store_true")
    p.add_argument("--chat-model", default="qwen2.5-coder-0.5b-instruct-q4_k_m")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--launch-child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--fake", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--skip-launch", action="store_true")
    args = p.parse_args()
    if args.launch_child:
        launch_child(args.launch_child, args.fake)
        return
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out: dict[str, Any] = {}
    if not args.skip_launch:
        out["launch_fake_models"] = measure_launch(fake=True)
        out["launch_real_models"] = measure_launch(fake=False)
    out.update(measure_stalls(args))
    out["targets"] = {"max_stall_ms": 50, "p99_ms": 16, "launch_s": 2}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
