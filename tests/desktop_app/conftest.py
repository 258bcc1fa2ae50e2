"""Fixtures for the GUI tests: a window factory that owns cleanup and checks for leaks.

Every test here fails on Qt warnings (pytest-qt's `qt_log_level_fail` marker is added to each
item below, the same as `qt_log_level_fail = WARNING` in the ini file would do). The factory
builds `Controller` + `MainWindow` over a KnowledgeBase with the deterministic fake models in the
test's own home, and on teardown closes every window it made, then asserts that no top-level
widget survived and that no worker thread (Qt or core) is still running.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app.app import Controller
from desktop_app.main import FAKE_MODELS
from desktop_app.main_window import MainWindow
from desktop_app.welcome import SAMPLE_DIR, SAMPLE_FILES

OPEN_TIMEOUT_MS = 60_000
INDEX_TIMEOUT_MS = 60_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            # The offscreen platform cannot pass size hints to a window manager; harmless.
            item.add_marker(
                pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
            )


@pytest.fixture
def sample_docs(tmp_path: Path) -> Path:
    """A private copy of the bundled sample documents."""
    dest = tmp_path / "docs"
    dest.mkdir()
    for name in SAMPLE_FILES:
        shutil.copy2(SAMPLE_DIR / name, dest / name)
    return dest


WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def window_factory(qtbot: Any, cairn_home: Path) -> Iterator[WindowFactory]:
    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    made: list[MainWindow] = []
    before_threads = {t.ident for t in threading.enumerate()}

    def make(
        home: Path | None = None,
        overrides: dict[str, Any] | None = None,
        wait_open: bool = True,
    ) -> MainWindow:
        controller = Controller(home or cairn_home, {**FAKE_MODELS, **(overrides or {})})
        window = MainWindow(controller)
        made.append(window)
        window.show()
        controller.start()
        if wait_open:
            qtbot.waitUntil(lambda: controller.kb is not None, timeout=OPEN_TIMEOUT_MS)
        return window

    yield make

    for window in made:
        if shiboken6.isValid(window):
            controller = window.controller
            window.close()
            assert window.controller.closing
            for executor in (controller.index_executor, controller.answer_executor):
                assert not executor.thread.isRunning(), f"{executor.name} still running"
            window.deleteLater()
    qtbot.wait(20)  # deliver queued signals of the finished threads
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    leaked = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    assert not leaked, f"top-level widgets left open: {leaked}"
    for window in made:
        assert not shiboken6.isValid(window), "a MainWindow was not deleted"
    alive = [
        t.name for t in threading.enumerate()
        if t.ident not in before_threads and t.is_alive() and t.name.startswith("cairn")
    ]
    assert not alive, f"core threads still running: {alive}"


def wait_indexed(qtbot: Any, window: MainWindow, expected: int,
                 timeout: int = INDEX_TIMEOUT_MS) -> None:
    """Wait until `expected` files are done (embedded, failed or skipped) and the index is idle."""
    c = window.controller
    polled = [0.0]

    def done() -> bool:
        st = c.last_status
        if st is None:
            return False
        by = st.files_by_stage
        finished = by.get("embedded", 0) + by.get("failed", 0) + by.get("skipped", 0)
        if finished >= expected and not by.get("queued") and not by.get("parsed") and st.idle:
            return True
        if time.monotonic() - polled[0] > 0.3:  # status() is not free: poll gently
            polled[0] = time.monotonic()
            c.refresh_status()
        return False

    qtbot.waitUntil(done, timeout=timeout)


def ask_and_wait(qtbot: Any, window: MainWindow, question: str, timeout: int = 60_000) -> Any:
    panel = window.ask_panel
    assert panel is not None
    before = len(panel.conversation.turns)
    assert panel.ask(question)
    qtbot.waitUntil(lambda: len(panel.conversation.turns) > before and not panel.generating,
                    timeout=timeout)
    return panel.conversation.turns[-1]
