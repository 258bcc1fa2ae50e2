"""Folders: per-file status, failed files with reason and retry, pause/resume, remove, drop."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QDropEvent

from desktop_app.welcome import SAMPLE_DIR
from tests.desktop_app.conftest import wait_indexed


def test_failed_file_shows_reason_and_retry(qtbot, window_factory, sample_docs: Path,
                                            monkeypatch):
    broken = sample_docs / "broken.pdf"
    broken.write_bytes(b"this is not a PDF at all")
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 5)
    panel = window.folders_panel
    qtbot.waitUntil(lambda: any(r.path == str(broken) for r in panel.records))
    record = next(r for r in panel.records if r.path == str(broken))
    assert str(record.stage) == "failed" and record.reason
    panel.filter.setCurrentIndex(1)  # failed or skipped only
    assert [r.path for r in panel.model.records] == [str(broken)]
    assert panel.model.data(panel.model.index(0, 3)) == record.reason
    qtbot.waitUntil(lambda: "1 failed" in panel.tree.topLevelItem(0).text(2))
    assert panel.select_file(str(broken))
    assert panel.retry_button.isEnabled()

    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    panel.show_button.click()
    assert opened and opened[-1].toLocalFile() == str(sample_docs)

    shutil.copy2(SAMPLE_DIR / "observing-the-night-sky.pdf", broken)  # the user fixes the file
    panel.retry_button.click()
    qtbot.waitUntil(
        lambda: any(r.path == str(broken) and str(r.stage) == "embedded" for r in panel.records),
        timeout=30_000,
    )


def test_pause_resume_and_remove(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    window.add_folder(sample_docs)
    wait_indexed(qtbot, window, 4)
    panel = window.folders_panel
    panel.pause_button.click()
    qtbot.waitUntil(lambda: window.controller.paused)
    assert panel.pause_button.text() == "Resume indexing"
    assert "paused" in window.status.index_label.text()
    panel.pause_button.click()
    qtbot.waitUntil(lambda: not window.controller.paused)
    qtbot.waitUntil(lambda: "up to date" in window.status.index_label.text(), timeout=30_000)
    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    assert panel.remove_selected(confirm=False)
    qtbot.waitUntil(lambda: panel.folders == [] and panel.records == [], timeout=30_000)
    assert window.controller.kb.folders() == []


def test_drop_a_folder_adds_it(qtbot, window_factory, sample_docs: Path):
    window = window_factory()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sample_docs))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.folders_panel.folders == [str(sample_docs)], timeout=30_000)
    wait_indexed(qtbot, window, 4)


def test_progress_and_status_bar(qtbot, window_factory, tmp_path: Path):
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(60):
        (docs / f"note-{i:03d}.txt").write_text(f"Note {i}: the tide tables for harbour {i}.\n" * 20)
    window = window_factory()
    seen = []
    window.controller.progress_updated.connect(seen.append)
    window.add_folder(docs)
    wait_indexed(qtbot, window, 60)
    assert seen, "progress reached the GUI"
    assert all(b.at >= a.at for a, b in itertools.pairwise(seen))
    st = window.status.index_label.text()
    assert "60 files" in st and "chunks" in st
    assert window.status.offline_label.text() == "● Offline"
    qtbot.waitUntil(lambda: window.folders_panel.stats.get(str(docs), {}).get("done") == 60)
    bar = window.folders_panel._bars[str(docs)]
    assert bar.value() == bar.maximum() == 60
