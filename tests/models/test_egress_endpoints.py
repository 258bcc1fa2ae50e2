"""The egress guard's configured endpoints: exactly that host and port, and nothing else.

A team model server is the one destination a user may configure. These tests use this
machine's own non-loopback address (when it has one) as "another host": to the guard it is one,
yet a connection to it never leaves the machine. Nothing here sends a packet elsewhere: a
blocked connect raises before the kernel sees it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from models.offline import (
    EgressBlocked,
    allow_endpoint,
    allowed_endpoints,
    forget_endpoint,
    guard_status,
    install_egress_guard,
    reset_log,
    uninstall_egress_guard,
)
from tests.e2e.test_team_server import _non_loopback_ipv4

OWN = _non_loopback_ipv4()
pytestmark = pytest.mark.skipif(OWN is None, reason="this machine has no non-loopback address")


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    assert OWN is not None
    server = socket.socket()
    server.bind((OWN, 0))
    server.listen()
    yield OWN, int(server.getsockname()[1])
    server.close()


def test_only_the_configured_host_and_port_pass(
    listener: tuple[str, int], egress_log: object
) -> None:
    host, port = listener
    with pytest.raises(EgressBlocked):  # not configured yet
        socket.create_connection((host, port), timeout=2)
    allow_endpoint(host, port, "answers from the test server")
    try:
        assert (host, port, "answers from the test server") in allowed_endpoints()
        with socket.create_connection((host, port), timeout=2):
            pass
        with pytest.raises(EgressBlocked):  # the same host, another port
            socket.create_connection((host, port + 1 if port < 65535 else port - 1), timeout=2)
        with pytest.raises(EgressBlocked):  # another host, the same port (TEST-NET-1)
            socket.create_connection(("192.0.2.123", port), timeout=2)
        with pytest.raises(EgressBlocked):  # a name lookup for anything else
            socket.getaddrinfo("telemetry.example.com", 443)
        status = guard_status()
        assert any(a.allowed and a.reason == "answers from the test server" and a.port == port
                   for a in status.attempts)
        assert any(f"{host}:{port}" in e for e in status.endpoints)
    finally:
        forget_endpoint(host, port)
    with pytest.raises(EgressBlocked):  # forgotten: blocked again
        socket.create_connection((host, port), timeout=2)


def test_a_configured_name_allows_what_it_resolves_to(
    listener: tuple[str, int], monkeypatch: pytest.MonkeyPatch, egress_log: object
) -> None:
    """A host name: its lookup passes, then connections to its addresses on that port only.

    The resolver under the guard is replaced by one that knows "gpu-box.test" (this machine's
    own address), so no DNS query leaves the machine; the guard wraps it as it wraps the real
    one.
    """
    host, port = listener
    was_strict = guard_status().strict
    real = socket.getaddrinfo

    def resolver(name: object, *args: object, **kwargs: object) -> object:
        if name == "gpu-box.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, args[0] if args else 0))]
        return real(name, *args, **kwargs)  # type: ignore[arg-type]

    uninstall_egress_guard()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    install_egress_guard(strict=was_strict)
    allow_endpoint("gpu-box.test", port, "answers from gpu-box.test")
    try:
        infos = socket.getaddrinfo("gpu-box.test", port, socket.AF_INET, socket.SOCK_STREAM)
        assert infos[0][4][0] == host
        with socket.create_connection((host, port), timeout=2):
            pass
        with pytest.raises(EgressBlocked):  # its address, another port
            socket.create_connection((host, port + 1 if port < 65535 else port - 1), timeout=2)
        with pytest.raises(EgressBlocked):
            socket.getaddrinfo("gpu-box2.test", port)
        forget_endpoint("gpu-box.test", port)
        with pytest.raises(EgressBlocked):  # forgotten, with the addresses it resolved to
            socket.create_connection((host, port), timeout=2)
    finally:
        forget_endpoint("gpu-box.test", port)
        uninstall_egress_guard()
        monkeypatch.undo()
        reset_log()
        install_egress_guard(strict=was_strict)
