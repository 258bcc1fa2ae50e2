"""GUI responsiveness benchmark: event-loop stalls while indexing and generating, and launch time.

    .venv/bin/python bench/bench_gui.py [--files 300] [--real-embedder] [--real-generator]
        [--launch-runs 3] [--startup-runs 3] [--bytecode cached|env] [--skip-launch]
        [--baseline CHECKOUT [--rounds 1] [--out FILE]]

A QTimer fires every 5 ms on the GUI thread and records the gap since its last tick; any work
that blocks the GUI thread (or holds the GIL it needs) shows up as a long gap. Phases: start-up
(window shown → index open), indexing a folder of generated text files, answering a question
(streamed), and typing a search. Start-up happens once per process, so it is also measured in
`--startup-runs` fresh child processes (one noisy run on a shared machine says little).

Launch time is measured in child processes from before the interpreter starts to the first
paint of the window, to the moment it takes input (`MainWindow.inputs_enabled`: question box,
Ask, search and folder buttons work; requests made before the index is open are queued) and to
the index being open (`Controller.kb_opened`), on a fresh home (first run) and, after the
stall run, on that run's home (a returning user: 300 indexed files and three conversations).

`--bytecode cached` (default) gives every child, and this process, a private bytecode cache
(PYTHONPYCACHEPREFIX, warmed by one launch that is not counted), as an installed app has; with
`env` the environment decides (here PYTHONDONTWRITEBYTECODE=1 and many packages ship no
__pycache__, so each launch compiles them from source, ~0.6 s more).

`--baseline CHECKOUT` compares two revisions in one run: it runs CHECKOUT's own
bench/bench_gui.py (e.g. a `git worktree add /tmp/base <commit>`) and then this checkout's, each
in a child process with its own checkout first on the path and the same options, `--rounds`
times alternating (base, this, base, this…, so a burst of load on a shared machine hits both),
and prints one row per revision — its commit, each round's overall max stall (indexing,
generating, searching; start-up excluded) and the worst, and the GUI-thread cost of one streamed
render after 3 and 20 earlier answers (bench/gui_render_cost.py, run on that revision's panel) —
with the CPU (model, cores, AVX flags) and each child's full figures. `--out FILE` also writes
that JSON to FILE.

Prints one JSON object, with the load average before and after. Targets: max stall < 50 ms,
p99 < 16 ms, launch < 2 s. Not a test: no assertions, figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
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
def launch_child(home: Path, overrides: dict[str, Any]) -> None:
    """Child process: report (wall clock) first paint, input-ready and index-open times as JSON."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import Controller
    from desktop_app.main_window import MainWindow
    from models.offline import install_egress_guard, set_offline_env

    set_offline_env()
    install_egress_guard()
    app = QApplication(sys.argv[:1])
    controller = Controller(home, overrides)
    window = MainWindow(controller)
    marks: dict[str, Any] = {}

    class PaintSpy(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:
            if event.type() == QEvent.Type.Paint and "first_paint" not in marks:
                marks["first_paint"] = time.time()
            return False

    def maybe_quit() -> None:
        if "interactive" in marks and "index_open" in marks:
            QTimer.singleShot(0, app.quit)

    def inputs_enabled() -> None:
        marks.setdefault("interactive", time.time())
        marks["ask_enabled"] = bool(window.ask_panel and window.ask_panel.ask_button.isEnabled())
        maybe_quit()

    def opened(_kb: Any) -> None:
        marks["index_open"] = time.time()
        maybe_quit()

    spy = PaintSpy()
    window.installEventFilter(spy)
    signal = getattr(window, "inputs_enabled", None)
    if signal is not None:
        signal.connect(inputs_enabled)
    else:  # revisions before it took input only once the index was open
        controller.kb_opened.connect(lambda _kb: inputs_enabled())
    controller.kb_opened.connect(opened)
    controller.kb_failed.connect(lambda exc: (marks.setdefault("error", str(exc)), app.quit()))
    window.show()
    QTimer.singleShot(0, controller.start)
    QTimer.singleShot(120_000, app.quit)
    app.exec()
    window.shutdown()
    print(json.dumps(marks))


def run_child(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any] | None, str, float]:
    """Run this script as a child; (its last JSON line, stderr tail, wall-clock start)."""
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, cwd=ROOT,
        check=False,
    )
    try:
        return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr[-2000:], t0
    except (IndexError, ValueError):
        return None, out.stderr[-2000:], t0


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def measure_launch(
    overrides: dict[str, Any], env: dict[str, str], runs: int, home: Path | None = None
) -> dict[str, Any]:
    """`runs` launches (each on a fresh home unless `home` is given); per-run and medians."""
    per_run: list[dict[str, Any]] = []
    for _ in range(runs):
        where = home or Path(tempfile.mkdtemp(prefix="cairn-bench-launch-"))
        marks, err, t0 = run_child(
            ["--launch-child", str(where), "--overrides", json.dumps(overrides)], env
        )
        if home is None:  # the window's warm-up assembles the chat model there: ~1 GB
            shutil.rmtree(where, ignore_errors=True)
        if marks is None:
            per_run.append({"error": err})
            continue
        run = {k: round(v - t0, 3) for k, v in marks.items() if isinstance(v, float)}
        run["ask_enabled"] = marks.get("ask_enabled")
        if "error" in marks:
            run["error"] = marks["error"]
        per_run.append(run)
    ok = [r for r in per_run if "error" not in r]
    return {
        "launch_to_first_paint_s": median([r["first_paint"] for r in ok if "first_paint" in r]),
        "launch_to_interactive_s": median([r["interactive"] for r in ok if "interactive" in r]),
        "launch_to_index_open_s": median([r["index_open"] for r in ok if "index_open" in r]),
        "runs": per_run,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


# --------------------------------------------------------------------------- start-up (child)
def startup_child(home: Path, overrides: dict[str, Any]) -> None:
    """Child process: the start-up phase only (window shown → index open), gaps as JSON."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import Controller
    from desktop_app.main_window import MainWindow
    from models.offline import install_egress_guard, set_offline_env

    set_offline_env()
    install_egress_guard()
    app = QApplication(sys.argv[:1])
    controller = Controller(home, overrides)
    window = MainWindow(controller)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    monitor = QTimer()
    monitor.setInterval(5)
    monitor.timeout.connect(tick)
    opened: list[bool] = []

    def check() -> None:
        # The same check as the in-process run's driver: the index counts as open when the
        # controller has it, seen by a 50 ms poll. The monitor stops first: quit() closes the
        # window, and its shutdown (which waits for the chat model's warm-up) is no stall.
        if controller.kb is not None:
            monitor.stop()
            opened.append(True)
            app.quit()

    driver = QTimer()
    driver.setInterval(50)
    driver.timeout.connect(check)
    controller.kb_failed.connect(lambda _exc: (monitor.stop(), app.quit()))
    window.show()
    last[0] = time.perf_counter()
    monitor.start()
    driver.start()
    QTimer.singleShot(0, controller.start)
    QTimer.singleShot(120_000, app.quit)
    app.exec()
    monitor.stop()
    driver.stop()
    window.shutdown()
    print(json.dumps({**summarize(gaps), "opened": bool(opened)}))


def measure_startup_runs(
    overrides: dict[str, Any], env: dict[str, str], runs: int
) -> dict[str, Any]:
    per_run = []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="cairn-bench-startup-")) / "home"
        result, err, _t0 = run_child(
            ["--startup-child", str(home), "--overrides", json.dumps(overrides)], env
        )
        shutil.rmtree(home.parent, ignore_errors=True)
        per_run.append(result if result is not None else {"error": err})
    ok = [r for r in per_run if "max_stall_ms" in r]
    return {
        "runs": per_run,
        "worst_max_stall_ms": max((r["max_stall_ms"] for r in ok), default=None),
        "median_max_stall_ms": median([r["max_stall_ms"] for r in ok]),
        "median_p99_ms": median([r["p99_ms"] for r in ok]),
        "over_50ms_total": sum(r["over_50ms"] for r in ok),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


# --------------------------------------------------------------------------- stalls (in process)
def stall_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the stall run (and its returning-user launches) use."""
    from desktop_app.main import FAKE_MODELS

    overrides: dict[str, Any] = {}
    if not args.real_embedder:
        overrides.update(embedder_backend="fake", min_relevance=FAKE_MODELS["min_relevance"])
    if args.real_generator:
        overrides.update(chat_model=args.chat_model, n_ctx=2048)
    else:
        overrides["generator_backend"] = "fake"
    return overrides


def measure_stalls(
    args: argparse.Namespace, overrides: dict[str, Any]
) -> tuple[dict[str, Any], Path]:
    """All phases in this process; returns the figures and the home it leaves behind."""
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
        for n in (12 % args.files, 57 % args.files, 123 % args.files):  # from notes' own words
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
    return result, tmp / "home"


# --------------------------------------------------------------------------- two revisions
def _without(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """`argv` less the comparison's own options (and their values)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not any(arg.startswith(o + "=") for o in options):
            out.append(arg)
    return out


def _commit(checkout: Path) -> dict[str, Any]:
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", "-C", str(checkout), *cmd], capture_output=True,
                              text=True, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "subject": git("log", "-1", "--format=%s"),
            "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def run_revision(checkout: Path, argv: list[str], script: Path | None = None) -> Any:
    """`script` (default: `checkout`'s bench_gui.py) with `argv`, `checkout` first on the path;
    its JSON figures."""
    env = {**os.environ, "PYTHONPATH": str(checkout),
           "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    script = script or checkout / "bench" / "bench_gui.py"
    done = subprocess.run([sys.executable, str(script), *argv],
                          capture_output=True, text=True, env=env, cwd=checkout, check=False)
    start = min((i for i in (done.stdout.find("{"), done.stdout.find("[")) if i >= 0), default=-1)
    try:
        return json.loads(done.stdout[start:]) if start >= 0 else {"error": done.stderr[-2000:]}
    except ValueError:
        return {"error": done.stderr[-2000:] or done.stdout[-2000:]}


def compare(baseline: Path, rounds: int, argv: list[str]) -> dict[str, Any]:
    """Both revisions' figures, alternating `rounds` times; one row per revision."""
    from machine_info import cpu_info  # bench/ is the script's folder, first on the path

    checkouts = {"base": baseline.resolve(), "this": ROOT}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
    render_cost: dict[str, Any] = {}
    for _ in range(rounds):
        for name, checkout in checkouts.items():
            runs[name].append(run_revision(checkout, argv))
    for name, checkout in checkouts.items():
        render_cost[name] = run_revision(checkout, [], ROOT / "bench" / "gui_render_cost.py")
    rows = []
    for name, checkout in checkouts.items():
        stalls = [r.get("overall_excluding_startup", {}).get("max_stall_ms") for r in runs[name]]
        found = [s for s in stalls if s is not None]
        rows.append({
            "revision": name, "checkout": str(checkout), **_commit(checkout),
            "max_stall_ms": max(found) if found else None,
            "max_stall_ms_per_round": stalls,
            "generating_max_stall_ms": [
                r.get("stalls", {}).get("generating", {}).get("max_stall_ms") for r in runs[name]],
            "answers_found": [r.get("answers_found") for r in runs[name]],
            "streamed_render_cost": render_cost[name],
            "runs": runs[name],
        })
    return {"options": argv, "rounds": rounds, "cpu": cpu_info(), "rows": rows,
            "target_max_stall_ms": 50}


def child_env(bytecode: str) -> dict[str, str]:
    """Environment for the child processes (and, for `cached`, this process's own imports)."""
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    if bytecode == "cached":
        cache = Path(tempfile.gettempdir()) / "cairn-bench-pycache"
        env["PYTHONPYCACHEPREFIX"] = str(cache)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        sys.pycache_prefix = str(cache)
        sys.dont_write_bytecode = False
    return env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=300)
    p.add_argument("--real-embedder", action="store_true")
    p.add_argument("--real-generator", action="store_true")
    p.add_argument("--chat-model", default="qwen2.5-coder-0.5b-instruct-q4_k_m")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--launch-runs", type=int, default=3, help="launches per kind (medians)")
    p.add_argument("--startup-runs", type=int, default=3,
                   help="extra start-up stall runs, each in a fresh process")
    p.add_argument("--bytecode", choices=("cached", "env"), default="cached")
    p.add_argument("--skip-launch", action="store_true")
    p.add_argument("--startup-only", action="store_true",
                   help="only the start-up figures (launches and start-up runs)")
    p.add_argument("--baseline", type=Path,
                   help="another checkout: run its bench and this one's, same options, and "
                        "print both rows")
    p.add_argument("--rounds", type=int, default=1, help="with --baseline: alternating runs")
    p.add_argument("--out", type=Path, help="with --baseline: also write the JSON here")
    p.add_argument("--launch-child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--startup-child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.baseline:
        argv = _without(sys.argv[1:], ("--baseline", "--rounds", "--out"))
        result = compare(args.baseline, args.rounds, argv)
        text = json.dumps(result, indent=2)
        if args.out:
            args.out.write_text(text + "\n", encoding="utf-8")
        print(text)
        return
    if args.launch_child:
        launch_child(args.launch_child, json.loads(args.overrides))
        return
    if args.startup_child:
        startup_child(args.startup_child, json.loads(args.overrides))
        return
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    env = child_env(args.bytecode)
    overrides = stall_overrides(args)
    out: dict[str, Any] = {
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "bytecode": args.bytecode,
    }
    if args.bytecode == "cached":  # compile everything a launch imports once, not counted
        warm = tempfile.mkdtemp(prefix="cairn-bench-warm-")
        run_child(["--launch-child", warm, "--overrides", "{}"], env)
        shutil.rmtree(warm, ignore_errors=True)
    fake = {"embedder_backend": "fake", "generator_backend": "fake"}
    if not args.skip_launch:
        out["launch_fake_models"] = measure_launch(fake, env, args.launch_runs)
        out["launch_real_models"] = measure_launch({}, env, args.launch_runs)
    if args.startup_runs:
        out["startup_runs"] = {
            "embedder": "real" if args.real_embedder else "fake",
            **measure_startup_runs(overrides, env, args.startup_runs),
        }
    if not args.startup_only:
        stalls, home = measure_stalls(args, overrides)
        out.update(stalls)
        if not args.skip_launch:
            out["launch_returning_user"] = {
                "embedder": stalls["embedder"],
                **measure_launch(overrides, env, args.launch_runs, home=home),
            }
        shutil.rmtree(home.parent, ignore_errors=True)  # the corpus and the home
    out["targets"] = {"max_stall_ms": 50, "p99_ms": 16, "launch_s": 2}
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
