"""The egress guard blocks and records non-loopback network access, and nothing else.

No test here sends a packet off the machine: the only non-loopback destinations used are
203.0.113.1 (TEST-NET-3) and example.com, and the guard refuses them *before* the syscall (the
socket is checked to be still unconnected). Paths that must let traffic through are exercised
against a loopback server, with the guard's notion of "local" patched where a test needs a
loopback connection to count as egress.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from models import offline
from models.offline import (
    NATIVE_OFF_ENV,
    OFFLINE_ENV,
    DnsEgressBlocked,
    EgressBlocked,
    allow_network,
    guard_status,
    install_egress_guard,
    reset_log,
    set_offline_env,
    uninstall_egress_guard,
)

if TYPE_CHECKING:  # imported for real by pytest_plugins below (importing it first would
    # stop pytest from rewriting its asserts, a warning that fails the run)
    from tests.offline_plugin import EgressLog

# The plugin is registered by the root conftest; naming it here too keeps this module runnable
# on its own (pytest registers a plugin once), and pytester drives the plugin tests below.
pytest_plugins = ["pytester", "tests.offline_plugin"]

TEST_NET = ("203.0.113.1", 9)  # TEST-NET-3, discard port: never routed, never sent


@pytest.fixture
def guard() -> Iterator[None]:
    """Guard installed for the test; whatever state the session had is restored after."""
    before = guard_status()
    install_egress_guard(strict=before.strict)
    reset_log()
    yield
    reset_log()
    if before.installed:
        install_egress_guard(strict=before.strict)
    else:
        uninstall_egress_guard()


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(self.request.recv(1024).upper())


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A TCP echo server on 127.0.0.1 with an OS-chosen port."""
    server = socketserver.TCPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _echo(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"ping")
        return conn.recv(1024)


def _first_caller(stack_summary: str) -> str:
    """File name of the innermost frame in a stack summary ("a/b.py:3 in f < ...")."""
    return stack_summary.split(" < ")[0].split(":")[0].rsplit("/", 1)[-1]


# --- blocking ---------------------------------------------------------------------------------


def test_connect_to_non_loopback_is_blocked_before_the_syscall(
    guard: None, egress_log: EgressLog
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(EgressBlocked) as excinfo:
            sock.connect(TEST_NET)
        # Raised by the guard itself, not an OS error from a real attempt ...
        assert excinfo.type is EgressBlocked
        assert excinfo.value.host == "203.0.113.1" and excinfo.value.port == 9
        # ... and the socket never connected.
        with pytest.raises(OSError):
            sock.getpeername()

    status = guard_status()
    assert status.blocked == 1 and status.allowed == 0
    (attempt,) = status.attempts
    assert (attempt.kind, attempt.host, attempt.port, attempt.allowed) == (
        "connect", "203.0.113.1", 9, False,
    )  # fmt: skip
    assert "test_offline.py" in attempt.stack_summary
    assert "test_connect_to_non_loopback" in attempt.stack_summary


def test_blocked_error_is_a_connection_error_with_a_clear_message(
    guard: None, egress_log: EgressLog
) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionError) as excinfo:
        sock.connect(TEST_NET)
    assert isinstance(excinfo.value, OSError)
    assert "203.0.113.1:9" in str(excinfo.value)
    assert "offline" in str(excinfo.value)


def test_connect_ex_and_udp_sendto_are_blocked(guard: None, egress_log: EgressLog) -> None:
    with socket.socket() as tcp, pytest.raises(EgressBlocked):
        tcp.connect_ex(TEST_NET)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(EgressBlocked):
            udp.sendto(b"x", TEST_NET)
        with pytest.raises(EgressBlocked):
            udp.sendto(b"x", 0, TEST_NET)
    assert [a.kind for a in guard_status().attempts] == ["connect", "send", "send"]


def test_dns_lookups_are_blocked_as_gaierror(guard: None, egress_log: EgressLog) -> None:
    with pytest.raises(DnsEgressBlocked) as excinfo:
        socket.getaddrinfo("example.com", 80)
    assert isinstance(excinfo.value, socket.gaierror)
    assert isinstance(excinfo.value, EgressBlocked)
    with pytest.raises(EgressBlocked):
        socket.gethostbyname("example.com")
    with pytest.raises(EgressBlocked):
        socket.gethostbyaddr("203.0.113.1")  # reverse DNS is a query too
    attempts = guard_status().attempts
    assert [(a.kind, a.host) for a in attempts] == [
        ("dns", "example.com"), ("dns", "example.com"), ("dns", "203.0.113.1"),
    ]  # fmt: skip
    assert attempts[0].port == 80


def test_resolving_an_ip_literal_is_not_a_query(guard: None) -> None:
    infos = socket.getaddrinfo("203.0.113.1", 9, type=socket.SOCK_STREAM)
    assert infos[0][4] == TEST_NET
    assert guard_status().blocked == 0


def test_urlopen_fails_clearly_and_names_the_caller(guard: None, egress_log: EgressLog) -> None:
    with pytest.raises(urllib.error.URLError) as excinfo:
        urllib.request.urlopen("http://example.com", timeout=5)
    assert isinstance(excinfo.value.reason, EgressBlocked)
    assert "example.com:80" in str(excinfo.value)
    (attempt,) = guard_status().attempts
    assert attempt.host == "example.com" and attempt.port == 80
    # urllib / http.client / socket frames are skipped: the first frame is this test.
    assert _first_caller(attempt.stack_summary) == "test_offline.py"


def test_requests_get_is_recorded_with_the_caller(guard: None, egress_log: EgressLog) -> None:
    requests = pytest.importorskip("requests")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("http://example.com/telemetry", timeout=5)
    attempts = egress_log.blocked
    assert attempts and all(a.host == "example.com" for a in attempts)
    assert _first_caller(attempts[0].stack_summary) == "test_offline.py"


def test_asyncio_connections_are_blocked(guard: None, egress_log: EgressLog) -> None:
    async def fetch() -> None:
        await asyncio.open_connection("example.com", 80)

    with pytest.raises(OSError):
        asyncio.run(fetch())
    assert [a.host for a in egress_log.blocked] == ["example.com"]


def test_concurrent_attempts_are_all_counted(guard: None, egress_log: EgressLog) -> None:
    errors: list[BaseException] = []

    def attempt() -> None:
        with socket.socket() as sock:
            try:
                sock.connect(TEST_NET)
            except EgressBlocked as exc:
                errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 16
    assert guard_status().blocked == 16
    assert len({a.seq for a in guard_status().attempts}) == 16


# --- what stays allowed -----------------------------------------------------------------------


def test_loopback_traffic_is_untouched(guard: None, echo_server: tuple[str, int]) -> None:
    host, port = echo_server
    assert _echo((host, port)) == b"PING"
    assert _echo(("localhost", port)) == b"PING"  # resolving 'localhost' is not a DNS query
    status = guard_status()
    assert status.blocked == 0 and status.allowed == 0 and status.attempts == ()


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX on this platform")
def test_unix_sockets_are_untouched(guard: None) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        path = str(Path(folder) / "s")
        with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
            server.bind(path)
            server.listen(1)
            client.connect(path)
            conn, _ = server.accept()
            conn.close()
    assert guard_status().attempts == ()


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
        ("::ffff:127.0.0.1", True), ("localhost", True), ("LOCALHOST.", True), (b"localhost", True),
        ("0.0.0.0", True), ("", True), (None, True),
        ("10.0.0.1", False), ("192.168.1.1", False), ("203.0.113.1", False), ("::ffff:8.8.8.8", False),
        ("fe80::1%eth0", False), ("example.com", False), ("localhost.example.com", False),
        ("127.1", False),  # inet_aton shorthand: treated as a name, hence blocked
    ],
)  # fmt: skip
def test_what_counts_as_local(host: object, local: bool) -> None:
    assert offline._is_local(host) is local


# --- allow_network --------------------------------------------------------------------------


@pytest.fixture
def loopback_counts_as_egress(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make 127.0.0.1 look remote, so allow_network can be tested without real egress."""
    monkeypatch.setattr(offline, "_is_local", lambda host: False)


def test_allow_network_lets_a_connection_through_and_records_the_reason(
    guard: None,
    echo_server: tuple[str, int],
    loopback_counts_as_egress: None,
    egress_log: EgressLog,
) -> None:
    with pytest.raises(EgressBlocked):
        _echo(echo_server)
    reset_log()

    with allow_network("user downloads qwen-1.5b"):
        assert _echo(echo_server) == b"PING"
    status = guard_status()
    assert status.blocked == 0 and status.allowed >= 1
    connects = [a for a in status.attempts if a.kind == "connect"]
    assert connects and all(a.allowed for a in connects)
    assert {a.reason for a in status.attempts} == {"user downloads qwen-1.5b"}
    assert connects[0].port == echo_server[1]

    with pytest.raises(EgressBlocked):  # the permission ends with the block
        _echo(echo_server)


def test_allow_network_applies_to_other_threads(
    guard: None,
    echo_server: tuple[str, int],
    loopback_counts_as_egress: None,
    egress_log: EgressLog,
) -> None:
    results: list[bytes] = []
    with allow_network("download on a worker thread"):
        worker = threading.Thread(target=lambda: results.append(_echo(echo_server)))
        worker.start()
        worker.join()
    assert results == [b"PING"]
    assert all(a.reason == "download on a worker thread" for a in guard_status().attempts)
    assert all(a.thread != threading.current_thread().name for a in guard_status().attempts)


def test_allow_network_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"), allow_network("  "):
        pass  # pragma: no cover


# --- installation and status ----------------------------------------------------------------


def test_install_is_idempotent(guard: None) -> None:
    patched = socket.socket.connect, socket.getaddrinfo, socket.create_connection
    install_egress_guard(strict=guard_status().strict)
    install_egress_guard(strict=guard_status().strict)
    assert (socket.socket.connect, socket.getaddrinfo, socket.create_connection) == patched
    # One layer only: what the wrapper wraps is the unguarded original.
    inner = socket.socket.connect.__wrapped__  # type: ignore[attr-defined]
    assert not getattr(inner, "__cairn_egress_guard__", False)
    assert guard_status().installed


def test_uninstall_restores_the_originals(guard: None) -> None:
    status = guard_status()
    uninstall_egress_guard()
    try:
        assert not getattr(socket.socket.connect, "__cairn_egress_guard__", False)
        assert not getattr(socket.getaddrinfo, "__cairn_egress_guard__", False)
        assert not guard_status().installed
    finally:
        install_egress_guard(strict=status.strict)
    assert getattr(socket.socket.connect, "__cairn_egress_guard__", False)


@pytest.mark.parametrize("strict", [False, True])
def test_strict_counts_violations(guard: None, egress_log: EgressLog, strict: bool) -> None:
    install_egress_guard(strict=strict)
    with socket.socket() as sock:
        try:
            sock.connect(TEST_NET)
        except EgressBlocked:
            pass  # a library swallowing the error must not hide the attempt
    status = guard_status()
    assert status.strict is strict and status.blocked == 1
    assert status.violations == (1 if strict else 0)


def test_status_keeps_the_last_fifty_and_reset_clears(guard: None, egress_log: EgressLog) -> None:
    for _ in range(60):
        with socket.socket() as sock, pytest.raises(EgressBlocked):
            sock.connect(TEST_NET)
    status = guard_status()
    assert status.blocked == 60 and len(status.attempts) == 50
    assert status.attempts[-1].seq - status.attempts[0].seq == 49
    reset_log()
    status = guard_status()
    assert (status.blocked, status.allowed, status.violations, status.attempts) == (0, 0, 0, ())


def test_set_offline_env_keeps_user_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a user who explicitly wants the hub
    effective = set_offline_env()
    assert effective["HF_HUB_OFFLINE"] == "0" and os.environ["HF_HUB_OFFLINE"] == "0"
    assert effective["SCARF_NO_ANALYTICS"] == os.environ["SCARF_NO_ANALYTICS"] == "true"
    assert effective["DO_NOT_TRACK"] == "true" and os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"
    assert set(effective) == set(OFFLINE_ENV) | set(NATIVE_OFF_ENV)


def test_native_telemetry_is_forced_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value inherited from a shell cannot turn ONNX Runtime's native telemetry back on: the
    guard cannot see those threads, so the switch is not the user's default to override."""
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")
    effective = set_offline_env()
    assert effective["ORT_DISABLE_TELEMETRY"] == os.environ["ORT_DISABLE_TELEMETRY"] == "1"


# --- real dependencies ------------------------------------------------------------------------

_IMPORT_UNSTRUCTURED = """
import json, sys
from models.offline import guard_status, install_egress_guard, set_offline_env
if sys.argv[1] == "opt-out":
    set_offline_env()
install_egress_guard(strict=True)
import unstructured
print(json.dumps([[a.host, a.stack_summary] for a in guard_status().attempts]))
"""


@pytest.mark.skipif(
    importlib.util.find_spec("unstructured") is None, reason="unstructured not installed"
)
@pytest.mark.parametrize("mode", ["opt-out", "no-opt-out"])
def test_unstructured_import_ping_is_opted_out_or_caught(mode: str) -> None:
    """unstructured pings its analytics endpoint on import unless told not to.

    Runs in a fresh interpreter (this one imported unstructured with the opt-outs already set).
    Without the opt-outs the guard, installed first, stops the ping at its DNS lookup.
    """
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_UNSTRUCTURED, mode],
        env=env, cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    attempts = json.loads(done.stdout.strip().splitlines()[-1])
    if mode == "opt-out":
        assert attempts == []
    else:
        assert [host for host, _ in attempts] == ["packages.unstructured.io"]
        assert "unstructured/utils.py" in attempts[0][1]


# --- the pytest plugin ------------------------------------------------------------------------


def _run_inner(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=source)
    return pytester.runpytest_inprocess(
        "-p", "tests.offline_plugin", "-q", "-p", "no:cacheprovider"
    )


def test_plugin_fails_the_session_on_a_swallowed_attempt(
    pytester: pytest.Pytester, egress_log: EgressLog
) -> None:
    result = _run_inner(
        pytester,
        """
import socket

def test_quiet_telemetry():
    with socket.socket() as sock:
        try:
            sock.connect(("203.0.113.1", 9))
        except OSError:
            pass  # like a library's best-effort ping

def test_innocent():
    pass
""",
    )
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*network egress attempts (blocked)*",
        "test_inner.py::test_quiet_telemetry: 1 blocked attempt(s)",
        "    connect 203.0.113.1:9 from test_inner.py:* in test_quiet_telemetry*",
    ])  # fmt: skip
    assert "test_innocent: " not in result.stdout.str()


def test_plugin_accepts_attempts_declared_with_egress_log(
    pytester: pytest.Pytester, egress_log: EgressLog
) -> None:
    result = _run_inner(
        pytester,
        """
import socket
import pytest

def test_deliberate(egress_log):
    with pytest.raises(ConnectionError):
        socket.getaddrinfo("example.com", 443)
    assert [a.host for a in egress_log.blocked] == ["example.com"]

def test_guard_is_on(egress_guard):
    assert egress_guard.installed and egress_guard.strict
""",
    )
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    assert "egress attempts" not in result.stdout.str()
