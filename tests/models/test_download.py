"""User-started downloads, against an HTTP server on 127.0.0.1 started by the test.

The server supports Range requests and can be told to drop the connection part-way (an
interrupted first attempt) or to ignore Range (a server without resume support).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import models.offline
from models.catalog import QWEN_0_5B, ModelSource
from models.download import LOG_NAME, download_model, read_download_log
from models.errors import ModelCancelled, ModelError, ModelUnavailableError
from models.integrity import stamp_path

PAYLOAD = os.urandom(3 * 1024 * 1024 + 12_345)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclasses.dataclass
class ServerControl:
    url: str
    ranges: list[str | None] = dataclasses.field(default_factory=list)
    drop_after: int | None = None  # send only this many body bytes once, then hang up
    honour_range: bool = True


@pytest.fixture
def server() -> Iterator[ServerControl]:
    control = ServerControl(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            control.ranges.append(rng)
            match = re.fullmatch(r"bytes=(\d+)-", rng or "")
            start = int(match.group(1)) if match and control.honour_range else 0
            if start >= len(PAYLOAD) and match and control.honour_range:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.end_headers()
                return
            body = PAYLOAD[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header(
                    "Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
                )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if control.drop_after is not None:
                cut, control.drop_after = control.drop_after, None
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    control.url = f"http://127.0.0.1:{httpd.server_address[1]}/files/model.gguf"
    try:
        yield control
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def network_reasons(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every `allow_network(reason)` block the download opens."""
    reasons: list[str] = []
    real = models.offline.allow_network

    @contextlib.contextmanager
    def recording(reason: str) -> Iterator[None]:
        reasons.append(reason)
        with real(reason=reason):
            yield

    monkeypatch.setattr(models.offline, "allow_network", recording)
    return reasons


def test_download_verifies_and_renames_atomically(
    server: ServerControl, tmp_path: Path, network_reasons: list[str]
) -> None:
    progress: list[tuple[int, int]] = []
    out = download_model(server.url, tmp_path, SHA, progress=lambda d, t: progress.append((d, t)))
    assert out == tmp_path / "model.gguf"
    assert out.read_bytes() == PAYLOAD
    assert not (tmp_path / "model.gguf.partial").exists()
    assert stamp_path(out).exists()
    assert progress[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert server.ranges == [None]
    assert len(network_reasons) == 1 and "model.gguf" in network_reasons[0]
    # a second call finds the stamped file and does not touch the network
    assert download_model(server.url, tmp_path, SHA) == out
    assert server.ranges == [None]


def test_interrupted_download_resumes_with_range(server: ServerControl, tmp_path: Path) -> None:
    server.drop_after = 1_000_000
    with pytest.raises(ModelUnavailableError, match="stopped early|interrupted") as info:
        download_model(server.url, tmp_path, SHA)
    assert "resume" in (info.value.hint or "")
    partial = tmp_path / "model.gguf.partial"
    assert partial.stat().st_size == 1_000_000
    assert not (tmp_path / "model.gguf").exists()

    out = download_model(server.url, tmp_path, SHA)
    assert server.ranges == [None, "bytes=1000000-"]
    assert out.read_bytes() == PAYLOAD
    assert not partial.exists()


def test_cancel_keeps_partial_for_a_later_resume(server: ServerControl, tmp_path: Path) -> None:
    cancel = threading.Event()
    with pytest.raises(ModelCancelled):
        download_model(server.url, tmp_path, SHA, progress=lambda d, t: cancel.set(), cancel=cancel)
    kept = (tmp_path / "model.gguf.partial").stat().st_size
    assert 0 < kept < len(PAYLOAD)
    out = download_model(server.url, tmp_path, SHA)
    assert server.ranges == [None, f"bytes={kept}-"]
    assert out.read_bytes() == PAYLOAD


def test_server_without_range_support_restarts_cleanly(
    server: ServerControl, tmp_path: Path
) -> None:
    (tmp_path / "model.gguf.partial").write_bytes(PAYLOAD[:500_000])
    server.honour_range = False
    out = download_model(server.url, tmp_path, SHA)
    assert server.ranges == ["bytes=500000-"]
    assert out.read_bytes() == PAYLOAD


def test_complete_partial_is_finished_after_416(server: ServerControl, tmp_path: Path) -> None:
    (tmp_path / "model.gguf.partial").write_bytes(PAYLOAD)
    out = download_model(server.url, tmp_path, SHA)
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"]
    assert out.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_download(server: ServerControl, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="checksum"):
        download_model(server.url, tmp_path, "0" * 64)
    assert [p.name for p in tmp_path.iterdir()] == [LOG_NAME], "no model file is left behind"
    (entry,) = read_download_log(tmp_path)
    assert entry["outcome"].startswith("failed: The downloaded") and entry["bytes"] == len(PAYLOAD)


def test_every_download_is_logged_with_its_host(server: ServerControl, tmp_path: Path) -> None:
    """`cairn privacy` shows this log: each network use the user started, and where to."""
    download_model(server.url, tmp_path, SHA)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ModelCancelled):
        download_model(server.url, tmp_path, SHA, cancel=cancel, file_name="other.bin")
    first, second = read_download_log(tmp_path)
    host = server.url.split("/")[2]
    assert (first["host"], first["outcome"], first["bytes"]) == (host, "ok, sha256 checked",
                                                                 len(PAYLOAD))
    assert (second["file"], second["outcome"]) == ("other.bin", "cancelled")


def test_catalog_spec_download_uses_its_url_name_and_hash(
    server: ServerControl, tmp_path: Path
) -> None:
    spec = dataclasses.replace(
        QWEN_0_5B,
        file_name="small.gguf",
        size_bytes=len(PAYLOAD),
        sha256=SHA,
        source=ModelSource(url=server.url),
    )
    out = download_model(spec, tmp_path)
    assert out == tmp_path / "small.gguf" and out.read_bytes() == PAYLOAD
    wrong = dataclasses.replace(spec, file_name="wrong.gguf", size_bytes=len(PAYLOAD) + 1)
    with pytest.raises(ModelUnavailableError, match="checksum"):
        download_model(wrong, tmp_path)
    assert not (tmp_path / "wrong.gguf").exists()


def test_only_http_urls_are_accepted(tmp_path: Path) -> None:
    source = tmp_path / "x.gguf"
    source.write_bytes(b"GGUF")
    with pytest.raises(ModelError, match="http"):
        download_model(source.as_uri(), tmp_path / "out", None)


def test_unreachable_server_is_an_unavailable_error(tmp_path: Path) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]  # closed again before the download starts
    with pytest.raises(ModelUnavailableError, match="Could not reach"):
        download_model(f"http://127.0.0.1:{port}/m.gguf", tmp_path, SHA, timeout=5)
