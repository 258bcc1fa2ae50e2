"""Search as you type: debounced, on the pool, results open in the Sources pane."""

from __future__ import annotations

from pathlib import Path

from desktop_app.search_panel import DEBOUNCE_MS
from tests.desktop_app.conftest import wait_indexed


def test_search_as_you_type(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    calls: list[str] = []
    original = window.controller.search

    def counting_search(query, on_done, on_error=None):
        calls.append(query)
        return original(query, on_done, on_error)

    window.controller.search = counting_search  # type: ignore[method-assign]
    window.focus_search()
    panel = window.search_panel
    assert window.tabs.currentWidget() is panel
    assert panel.edit.hasFocus()
    qtbot.keyClicks(panel.edit, "green tea temperature")
    assert calls == []  # debounced: nothing while typing
    qtbot.waitUntil(lambda: bool(panel.results), timeout=10_000)
    assert len(calls) == 1 and calls[0] == "green tea temperature"
    top = panel.results[0]
    assert top.anchor.path.endswith("brewing-green-tea.html")
    assert "«" in top.snippet or top.snippet  # matches are marked by the core
    assert "result" in panel.info.text()
    # The results are listed in the Sources pane too; activating one opens it there.
    opened = []
    window.sources.source_opened.connect(lambda s, how: opened.append(how))
    panel.hit_activated.emit(panel.results, 1)
    qtbot.waitUntil(lambda: bool(opened))
    assert opened == ["passage"]  # HTML: the passage itself, "Open in default app" for the rest
    assert window.sources.current is top
    shown = window.sources.passage_viewer.toPlainText()
    assert top.text.split()[0] in shown and "Brewing Green Tea" in shown  # heading path


def test_clearing_the_box_clears_results(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    panel = window.search_panel
    panel.edit.setText("Polaris pole star")
    qtbot.waitUntil(lambda: bool(panel.results), timeout=10_000)
    panel.edit.clear()
    qtbot.wait(DEBOUNCE_MS + 100)
    assert panel.results == []


def test_no_matches(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    panel = window.search_panel
    panel.edit.setText("zzzqqqxxy")
    qtbot.waitUntil(lambda: panel.info.text() in ("No matches.",) or bool(panel.results),
                    timeout=10_000)
