"""The Models tab's model panel: this computer, the recommended model, and user-started downloads.

Downloads go to an HTTP server on 127.0.0.1 started by the test (Range support, and a gate that
holds the body after the first megabyte so a cancel lands mid-download). The machine detection
is injected: the real machine plus a fit whose spec points at that server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from desktop_app.model_panel import ModelPanel, human_size
from desktop_app.settings_dialog import SettingsDialog
from indexer.config import load_settings
from indexer.runtime import get_spec, machine_fits, read_download_log

PAYLOAD = os.urandom(4 * 1024 * 1024 + 12_345)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
TEST_ID = "test-download-model"
FILE = "test-download-model.gguf"
TIMEOUT_MS = 30_000


@dataclasses.dataclass
class Server:
    url: str = ""
    ranges: list[str | None] = dataclasses.field(default_factory=list)
    gate: threading.Event | None = None  # when set: hold the body after 1 MB until released


@pytest.fixture
def server() -> Iterator[Server]:
    control = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            control.ranges.append(rng)
            match = re.fullmatch(r"bytes=(\d+)-", rng or "")
            start = int(match.group(1)) if match else 0
            body = PAYLOAD[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range",
                                 f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            gate, cut = control.gate, 1024 * 1024
            try:
                if gate is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    gate.wait(timeout=20)
                    body = body[cut:]
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client cancelled and hung up

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    control.url = f"http://127.0.0.1:{httpd.server_address[1]}/files/{FILE}"
    try:
        yield control
    finally:
        if control.gate is not None:
            control.gate.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def real_fits() -> Any:
    return machine_fits()


@pytest.fixture
def detect(server: Server, real_fits: Any) -> Any:
    """The real machine and fits, plus a small model served by the local server."""
    machine, fits, best = real_fits
    base = get_spec("qwen2.5-3b-instruct-q4_k_m")
    spec = dataclasses.replace(
        base, id=TEST_ID, display_name="Test download model", file_name=FILE,
        size_bytes=len(PAYLOAD), sha256=SHA,
        source=dataclasses.replace(base.source, url=server.url, parts=()),
    )
    extra = dataclasses.replace(fits[0], spec=spec)
    return lambda: (machine, [*fits, extra], best)


@pytest.fixture
def dialog(qtbot: Any, cairn_home: Path, detect: Any) -> Iterator[SettingsDialog]:
    confirmations: list[str] = []

    def confirm(text: str) -> bool:
        confirmations.append(text)
        return True

    settings = load_settings(cairn_home)
    dlg = SettingsDialog(settings, detect=detect, confirm=confirm)
    dlg.confirmations = confirmations  # type: ignore[attr-defined]
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: bool(dlg.model_panel.rows), timeout=TIMEOUT_MS)
    yield dlg
    dlg.model_panel.shutdown()


def _idle(panel: ModelPanel) -> bool:
    return panel.downloading is None


def test_panel_shows_the_machine_and_marks_the_recommended_model(
    dialog: SettingsDialog, real_fits: Any
) -> None:
    machine, fits, best = real_fits
    panel = dialog.model_panel
    text = panel.machine_label.text()
    assert machine.summary() in text
    for feature in machine.cpu_features:
        assert feature in text
    assert panel.recommended == best.spec.id
    assert "Recommended for this computer" in panel.rows[best.spec.id].info.text()
    others = [r for m, r in panel.rows.items() if m != best.spec.id]
    assert all("Recommended" not in r.info.text() for r in others)
    # every instruction-tuned chat model is listed, with its expected speed and licence
    for fit in fits:
        info = panel.rows[fit.spec.id].info.text()
        assert fit.describe() in info and fit.spec.license in info
    default = load_settings(dialog._original.home).chat_model
    assert "in use" in panel.rows[default].info.text()
    # a download-only model is offered for download, never fetched on its own
    assert panel.rows[TEST_ID].download_button.isVisibleTo(panel)
    assert "not downloaded" in panel.rows[TEST_ID].info.text()
    assert not (dialog._original.paths.models_dir / FILE).exists()


def test_download_completes_becomes_ready_and_is_logged(
    qtbot: Any, dialog: SettingsDialog, server: Server
) -> None:
    panel = dialog.model_panel
    row = panel.rows[TEST_ID]
    seen: list[int] = []
    row.progress.valueChanged.connect(seen.append)
    row.download_button.click()
    host = server.url.split("/")[2]
    (question,) = dialog.confirmations  # type: ignore[attr-defined]
    assert host in question and human_size(len(PAYLOAD)) in question
    assert "only time Cairn uses the network" in question and "logged" in question
    qtbot.waitUntil(lambda: _idle(panel), timeout=TIMEOUT_MS)
    assert row.message.text().startswith("Downloaded and checked"), row.message.text()
    assert seen and max(seen) == len(PAYLOAD) // (1024 * 1024)
    assert "of 4 MB" in row.progress.format()
    final = dialog._original.paths.models_dir / FILE
    assert final.read_bytes() == PAYLOAD
    assert panel.status[TEST_ID] == "ready" and "Status: ready" in row.info.text()
    assert not row.download_button.isVisibleTo(panel)
    # "Use this model" fills the dialog's field: OK applies it like any other change
    assert row.use_button.isVisibleTo(panel)
    row.use_button.click()
    assert dialog.changes()["chat_model"] == str(final)
    assert "applies when you press OK" in row.info.text()
    # the privacy view lists the download: file, host, size, outcome
    (entry,) = read_download_log(dialog._original.paths.models_dir)
    assert entry["outcome"] == "ok, sha256 checked"
    privacy = dialog.privacy.text()
    assert FILE in privacy and host in privacy and "ok, sha256 checked" in privacy
    assert human_size(len(PAYLOAD)) in privacy


def test_cancel_keeps_the_partial_and_the_next_download_resumes(
    qtbot: Any, dialog: SettingsDialog, server: Server
) -> None:
    panel = dialog.model_panel
    row = panel.rows[TEST_ID]
    assert "Model downloads you started" in dialog.privacy.text()
    assert "none." in dialog.privacy.text()
    server.gate = threading.Event()
    row.download_button.click()
    qtbot.waitUntil(lambda: row.progress.value() >= 1, timeout=TIMEOUT_MS)
    assert row.cancel_button.isVisibleTo(panel)
    row.cancel_button.click()
    server.gate.set()  # the client reads one more buffer, sees the cancel and stops
    qtbot.waitUntil(lambda: _idle(panel), timeout=TIMEOUT_MS)
    partial = dialog._original.paths.models_dir / f"{FILE}.partial"
    kept = partial.stat().st_size
    assert 0 < kept < len(PAYLOAD)
    assert "Cancelled" in row.message.text() and "resume" in row.message.text()
    assert not row.cancel_button.isVisibleTo(panel)
    assert row.download_button.text() == "Resume download…"
    assert "cancelled" in dialog.privacy.text()

    server.gate = None
    row.download_button.click()
    assert "continues from there" in dialog.confirmations[-1]  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: _idle(panel), timeout=TIMEOUT_MS)
    assert server.ranges == [None, f"bytes={kept}-"]
    assert (dialog._original.paths.models_dir / FILE).read_bytes() == PAYLOAD
    assert not partial.exists()
    assert panel.status[TEST_ID] == "ready"
    outcomes = [e["outcome"] for e in read_download_log(dialog._original.paths.models_dir)]
    assert outcomes == ["cancelled", "ok, sha256 checked"]


def test_a_failed_download_is_shown_in_words(
    qtbot: Any, dialog: SettingsDialog, server: Server
) -> None:
    panel = dialog.model_panel
    row = panel.rows[TEST_ID]
    bad = dataclasses.replace(row.fit, spec=dataclasses.replace(row.fit.spec, sha256="0" * 64))
    row.fit = bad
    row.download_button.click()
    qtbot.waitUntil(lambda: _idle(panel), timeout=TIMEOUT_MS)
    assert "The download failed" in row.message.text() and "checksum" in row.message.text()
    assert panel.status[TEST_ID] == "missing" and row.download_button.isVisibleTo(panel)
    assert "failed:" in dialog.privacy.text()


def test_declining_the_confirmation_downloads_nothing(
    qtbot: Any, cairn_home: Path, detect: Any, server: Server
) -> None:
    panel = ModelPanel(cairn_home / "models", "x", detect=detect, confirm=lambda _t: False)
    qtbot.addWidget(panel)
    panel.start_detection()
    qtbot.waitUntil(lambda: bool(panel.rows), timeout=TIMEOUT_MS)
    assert not panel.download(TEST_ID)
    assert server.ranges == [] and panel.downloading is None
