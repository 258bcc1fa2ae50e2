"""Fixtures for the model-layer tests.

Real models are prepared once per session into a temporary models folder (the 0.5B chat model is
joined from its installed part packages, ~0.5 GB; the embedder folder is a hard link plus the
vendored tokenizer). `no_egress` blocks and records every non-loopback connection attempt made
through Python's socket layer during a test, independently of the session-wide guard.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.catalog import DEFAULT_EMBEDDER, QWEN_0_5B
from models.provisioning import resolve_chat_model, resolve_embedder_dir


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        return host in ("localhost", "::1") or host.startswith("127.")
    return True  # AF_UNIX paths and the like never leave the machine


@pytest.fixture
def no_egress(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail any non-loopback connect/DNS lookup; yields the list of attempts (asserted empty)."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            attempts.append(address)
            raise ConnectionRefusedError(f"test blocked egress to {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            attempts.append(address)
            raise ConnectionRefusedError(f"test blocked egress to {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost") and not _is_loopback((host,)):
            attempts.append(("dns", host))
            raise socket.gaierror(f"test blocked DNS lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"network access attempted: {attempts}"


@pytest.fixture(scope="session")
def real_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide models folder for the real-model tests."""
    return tmp_path_factory.mktemp("real-models")


@pytest.fixture(scope="session")
def qwen_small_path(real_models_dir: Path) -> Path:
    """The 0.5B chat model, joined from its installed packages once per session."""
    return resolve_chat_model(QWEN_0_5B.id, real_models_dir)


@pytest.fixture(scope="session")
def minilm_dir(real_models_dir: Path) -> Path:
    """The default embedder's folder (ONNX hard link + vendored tokenizer)."""
    return resolve_embedder_dir(DEFAULT_EMBEDDER, real_models_dir)
