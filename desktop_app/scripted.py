"""Scripted runs of the real window: `--self-test` and the hidden `--screenshot-dir` tour.

A script is a generator that yields conditions (`Wait`); a QTimer polls the current condition
every 50 ms and resumes the script when it holds, so the event loop keeps running normally (no
`processEvents()` loops, no sleeps). Both scripts drive the same widgets a person would use.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QPixmap

from desktop_app.theme import Theme
from desktop_app.welcome import SAMPLE_FILES, SAMPLE_QUESTION, copy_samples

log = logging.getLogger(__name__)

SELF_TEST_QUESTION = SAMPLE_QUESTION
SELF_TEST_FILE = "brewing-green-tea.html"
# Tour questions, in order of preference (a small model does not always cite: try the next).
TEXT_QUESTIONS = (
    "Why should hikers not build new cairns?",
    "How far apart are the cairns on a well-marked route?",
    "How do trail crews build a cairn?",
)
PDF_QUESTIONS = (  # page 3 first: the screenshot shows the viewer jumping past page 1
    "What is a popular choice for a first telescope?",
    "Which binoculars are the best first instrument for observing the sky?",
    "How long does it take for the eye to adapt to darkness?",
)
REFERENCE_FOLDER = "Python reference"


def write_reference_docs(dest: Path, limit: int = 40) -> Path:
    """Real text for a bigger demo folder: CPython's own language-reference topics (stdlib)."""
    from pydoc_data.topics import topics

    dest.mkdir(parents=True, exist_ok=True)
    names = sorted(n for n, text in topics.items() if 1500 < len(text) < 12000)[:limit]
    for name in names:
        (dest / f"{name}.txt").write_text(topics[name], encoding="utf-8")
    return dest


@dataclass
class Wait:
    """Resume when `check()` is true (or after `seconds` if no check)."""

    what: str
    check: Callable[[], bool] | None = None
    seconds: float = 0.0
    timeout: float | None = None


Script = Generator[Wait, None, None]


class _Runner(QObject):
    """Runs `script()` against a MainWindow.

    Signals:
        finished(int): the exit code (0 = passed).
    """

    finished = Signal(int)

    def __init__(self, window: Any, timeout_s: float = 900.0) -> None:
        super().__init__(window)
        self.window = window
        self.c = window.controller
        self.timeout_s = timeout_s
        self.summary: dict[str, Any] | None = None
        self.state: dict[str, Any] = {"turns": [], "opened": [], "progress": []}
        self._gen: Script | None = None
        self._wait: Wait | None = None
        self._since = 0.0
        self._t0 = time.perf_counter()
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._on_tick)
        self.c.progress_updated.connect(lambda e: self.state["progress"].append(e))
        self.c.kb_failed.connect(lambda exc: self.state.setdefault("kb_error", exc))

    def poll_status(self) -> None:
        """Ask for a fresh status at most twice a second (it lists files and sizes the index)."""
        now = time.perf_counter()
        if now - self.state.get("polled", 0.0) > 0.5:
            self.state["polled"] = now
            self.c.refresh_status()

    def elapsed(self) -> float:
        return round(time.perf_counter() - self._t0, 2)

    def start(self) -> None:
        self._gen = self.script()
        self._advance()

    def script(self) -> Script:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    def _advance(self) -> None:
        assert self._gen is not None
        try:
            self._wait = next(self._gen)
        except StopIteration:
            self._timer.stop()
            self._finish(0)
            return
        except Exception as exc:  # noqa: BLE001 - a failed check ends the run with its reason
            self._timer.stop()
            self._fail(str(exc) or type(exc).__name__, traceback.format_exc())
            return
        self._since = time.perf_counter()
        self._timer.start()

    @Slot()
    def _on_tick(self) -> None:
        w = self._wait
        if w is None:
            return
        waited = time.perf_counter() - self._since
        if "kb_error" in self.state:
            self._timer.stop()
            self._fail(f"the index could not be opened: {self.state['kb_error']}")
            return
        done = waited >= w.seconds if w.check is None else w.check()
        if done:
            self._timer.stop()
            self._advance()
        elif waited > (w.timeout or self.timeout_s):
            self._timer.stop()
            self._fail(f"timed out after {waited:.0f} s waiting for: {w.what}")

    def _fail(self, reason: str, details: str = "") -> None:
        log.error("scripted run failed: %s\n%s", reason, details)
        self.summary = {"ok": False, "reason": reason, **self.report()}
        self.finished.emit(1)

    def _finish(self, code: int) -> None:
        self.summary = {"ok": code == 0, **self.report()}
        self.finished.emit(code)

    def report(self) -> dict[str, Any]:
        return {"elapsed_s": self.elapsed()}

    # ---------------------------------------------------------------- shared steps
    def wait_open(self) -> Script:
        yield Wait("the index to open", lambda: self.c.kb is not None)

    def index_folder(self, folder: Path, expected: int) -> Script:
        self.window.add_folder(folder)

        def indexed() -> bool:
            st = self.c.last_status
            if st is None:
                return False
            by = st.files_by_stage
            total = sum(by.values())
            if total >= expected and not by.get("queued") and not by.get("parsed") and st.idle:
                return True
            self.poll_status()
            return False

        yield Wait(f"{expected} files to be indexed", indexed)

    def ask(self, question: str) -> Script:
        panel = self.window.ask_panel
        before = len(panel.conversation.turns)
        self.window.show_tab(0)
        if not panel.ask(question):
            raise RuntimeError("the Ask panel did not accept the question")
        yield Wait(f"the answer to {question!r}", lambda: len(panel.conversation.turns) > before
                   and not panel.generating)

    def ask_until_cited(self, questions: tuple[str, ...], suffix: str) -> Script:
        """Ask each question until an answer cites a file ending in `suffix`."""
        panel = self.window.ask_panel
        for question in questions:
            yield from self.ask(question)
            turn = panel.conversation.turns[-1]
            if any(s.anchor.path.endswith(suffix) for s in turn.sources) and turn.found:
                return
            log.warning("no %s citation for %r: %r", suffix, question, turn.answer[:200])
        raise RuntimeError(f"no answer cited a {suffix} file")

    def open_citation(self, file_name: str | None = None, suffix: str = "") -> Script:
        panel = self.window.ask_panel
        index = len(panel.conversation.turns) - 1
        turn = panel.conversation.turns[index]
        if turn.error:
            raise RuntimeError(f"answering failed: {turn.error}")
        if not turn.sources:
            raise RuntimeError(f"the answer has no sources: {turn.answer!r}")
        pick = next((s for s in turn.sources if (file_name is None or
                     os.path.basename(s.anchor.path) == file_name)
                     and s.anchor.path.endswith(suffix)), None)
        if pick is None:
            labels = [s.label for s in turn.sources]
            raise RuntimeError(f"no citation points at {file_name}: {labels}")
        opened: list[tuple[Any, str]] = []
        self.window.sources.source_opened.connect(lambda s, how: opened.append((s, how)))
        panel.activate_citation(index, pick.number)
        yield Wait("the cited source to open", lambda: any(s is pick for s, _ in opened))
        self.state["opened"].append((pick, next(h for s, h in opened if s is pick)))


class SelfTest(_Runner):
    """Index the bundled samples in a temp folder, ask one question, check the citation."""

    def script(self) -> Script:
        yield from self.wait_open()
        t_open = self.elapsed()
        docs = copy_samples(Path(self.c.settings.home) / "self-test-docs")
        yield from self.index_folder(docs, len(SAMPLE_FILES))
        t_index = self.elapsed()
        yield from self.ask(SELF_TEST_QUESTION)
        t_answer = self.elapsed()
        turn = self.window.ask_panel.conversation.turns[-1]
        self.state["answer"] = turn
        if not turn.found:
            raise RuntimeError(f"Cairn did not find the answer: {turn.answer!r}")
        yield from self.open_citation(SELF_TEST_FILE)
        source, how = self.state["opened"][-1]
        if how == "missing":
            raise RuntimeError(f"the cited file is not in the index: {source.anchor.path}")
        self.state["timings"] = {"open_s": t_open, "index_s": round(t_index - t_open, 2),
                                 "answer_s": round(t_answer - t_index, 2)}

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"elapsed_s": self.elapsed()}
        settings = self.c.settings
        if settings is not None:
            out["home"] = str(settings.home)
            out["models"] = {"embedder": f"{settings.embedder_backend}:{settings.embedder_model}",
                             "chat": f"{settings.generator_backend}:{settings.chat_model}"}
        st = self.c.last_status
        if st is not None:
            out["files_by_stage"] = dict(st.files_by_stage)
            out["chunks"] = st.chunks
        turn = self.state.get("answer")
        if turn is not None:
            out["question"] = turn.question
            out["answer"] = turn.answer
            out["found"] = turn.found
            out["citations"] = [s.label for s in turn.sources]
        if self.state["opened"]:
            source, how = self.state["opened"][-1]
            out["opened"] = {"label": source.label, "viewer": how}
        if "timings" in self.state:
            out["timings"] = self.state["timings"]
        return out


class ScreenshotTour(_Runner):
    """Visit the main states and save PNGs of each (`--screenshot-dir`): every state in the
    light and the dark theme, each at 1x and at 2x (`21-<state>-<theme>[@2x].png`).

    Why 2x by rendering at a device pixel ratio of 2 rather than a second run under
    QT_SCALE_FACTOR=2: the same window at the same moment, with text and icons drawn at twice
    the pixels (what a high-DPI screen shows), where the offscreen screen at scale 2 would leave
    a window of half the size.
    """

    def __init__(self, window: Any, out_dir: Path, timeout_s: float = 900.0) -> None:
        super().__init__(window, timeout_s)
        self.out_dir = Path(out_dir)
        self.saved: list[str] = []

    def grab(self, name: str, widget: Any = None, scale: float = 1.0) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"{name}.png"
        target = widget or self.window
        # Lay out what changed since the last event (a label's new text) before painting it.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        if scale == 1.0:
            pixmap = target.grab()
        else:
            pixmap = QPixmap(target.size() * scale)
            pixmap.setDevicePixelRatio(scale)
            pixmap.fill(Qt.GlobalColor.transparent)
            target.render(pixmap)
        pixmap.save(str(path))
        self.saved.append(str(path))
        log.warning("saved %s", path)

    def shoot(self, state: str, widget: Any = None) -> Script:
        """Save `state` in light and dark, at 1x and 2x; the window ends in light."""
        theme = Theme.instance()
        for mode in ("light", "dark"):
            if theme is not None and theme.mode != mode:
                theme.set_mode(mode)
                yield Wait("the theme to repaint", seconds=0.4)
            for scale, suffix in ((1.0, ""), (2.0, "@2x")):
                self.grab(f"21-{state}-{mode}{suffix}", widget, scale)
        if theme is not None:
            theme.set_mode("light")
            yield Wait("the theme to repaint", seconds=0.2)

    def script(self) -> Script:
        w = self.window
        theme = Theme.instance()
        if theme is not None:
            theme.set_mode("light")
        yield from self.wait_open()
        yield Wait("the welcome page", lambda: w.pages.currentWidget() is w.welcome)
        yield Wait("model status", lambda: "Checking" not in w.welcome.models_label.text())
        yield Wait("paint", seconds=0.3)
        yield from self.shoot("welcome")
        w.show_tab(2)  # the workspace before any folder: what each empty view says
        w.sources.clear()
        yield Wait("paint", seconds=0.3)
        yield from self.shoot("empty")
        w.focus_search()  # a search before any folder is read: what to do next
        w.search_panel.edit.setText("green tea")
        yield Wait("no search results", lambda: "Nothing matches" in
                   w.search_panel.view.toPlainText(), timeout=60)
        yield Wait("paint", seconds=0.3)
        yield from self.shoot("search-empty")
        w.search_panel.edit.clear()
        w.sources.clear()
        w.pages.setCurrentWidget(w.welcome)
        w.use_sample_documents()
        yield Wait("indexing to start", lambda: w.folders_panel.folders != [], timeout=60)
        w.add_folder(write_reference_docs(Path(self.c.settings.home) / REFERENCE_FOLDER, 80))
        w.show_tab(2)

        def mid_indexing() -> bool:
            # With the fake models the folders are read in about a second, less than the
            # interval of the file list's own refresh (files_changed, at most one per 1.5 s):
            # ask for the list as often as a read allows (reloads coalesce) to see files arrive.
            w.folders_panel.reload()
            p = self.c.last_progress
            return (p is not None and p.stage != "idle" and len(w.folders_panel.records) > 4
                    and (0 < p.files_done < p.files_total or p.chunks_pending > 0))

        yield Wait("indexing in progress", mid_indexing, timeout=60)
        yield Wait("paint", seconds=0.15)
        yield from self.shoot("indexing")
        yield Wait("indexing to finish", self._indexed)
        yield Wait("the first-run steps to offer a question",
                   lambda: w.first_run.stage == "ready", timeout=60)
        yield Wait("paint", seconds=0.3)
        yield from self.shoot("folders")
        w.first_run.ask_button.click()  # the first answer, as a new user gets it
        yield Wait("the first answer", lambda: w.first_run.stage == "answered")
        yield from self.ask_until_cited(TEXT_QUESTIONS, ".md")
        yield from self.open_citation(suffix=".md")
        yield Wait("paint", seconds=0.5)
        yield from self.shoot("answer")
        yield from self.ask_until_cited(PDF_QUESTIONS, ".pdf")
        yield from self.open_citation(suffix=".pdf")
        yield Wait("the PDF to render", seconds=1.0)
        yield from self.shoot("answer-pdf")
        w.focus_search()
        w.search_panel.edit.setText("green tea temperature")
        yield Wait("search results", lambda: bool(w.search_panel.results), timeout=60)
        hits = w.search_panel.results
        best = next((h for h in hits if "temperature" in h.label.lower()), hits[0])
        w.search_panel.hit_activated.emit(hits, best.number)
        yield Wait("paint", seconds=0.5)
        yield from self.shoot("search")
        dialog = w.open_settings()
        yield Wait("the model check", lambda: "Checking" not in dialog.models_status.text())
        yield Wait("the settings dialog", seconds=0.3)
        yield from self.shoot("settings", dialog)
        dialog.show_page("Privacy")
        yield Wait("paint", seconds=0.2)
        yield from self.shoot("settings-privacy", dialog)
        dialog.reject()

    def _indexed(self) -> bool:
        st = self.c.last_status
        if (
            st is not None
            and st.idle
            and len(st.folders) >= 2
            and sum(st.files_by_stage.values()) > len(SAMPLE_FILES)
            and not st.files_by_stage.get("queued")
            and not st.files_by_stage.get("parsed")
        ):
            return True
        self.poll_status()
        return False

    def report(self) -> dict[str, Any]:
        return {"elapsed_s": self.elapsed(), "screenshots": self.saved}
