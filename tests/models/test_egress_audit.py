"""The system-call audit (`models/egress_audit.py`): it must see what the Python guard cannot.

Two kinds of test: the parser on trace files in strace's exact format (every case, no network),
and a live trace of a child that goes around the guard through native code (ctypes -> libc),
run in a network namespace without interfaces so nothing can leave even while it tries.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.egress_audit import parse_trace_dir, trace_command


def _hex(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return "".join(f"\\x{b:02x}" for b in data)


def _dns_packet(name: str) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return b"\x1e\x7e\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"


def _frames(*objects: str) -> str:
    return "".join(f" > {o}(fn+0x10) [0x10]\n" for o in objects)


LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
ORT = "/venv/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0"


def _v4(name: str, fd: int, ip: str, port: int) -> str:
    return (f'{name}({fd}, {{sa_family=AF_INET, sin_port=htons({port}), '
            f'sin_addr=inet_addr("{_hex(ip)}")}}, 16) = 0\n')


def test_parser_reports_native_dns_with_name_and_library(tmp_path: Path) -> None:
    packet = _dns_packet("mobile.events.data.microsoft.com")
    (tmp_path / "trace.101").write_text(
        _v4("connect", 7, "10.255.255.53", 53) + _frames(LIBC, ORT)
        + f'sendmmsg(7, [{{msg_hdr={{msg_name=NULL, msg_namelen=0, msg_iov=[{{iov_base='
          f'"{_hex(packet)}", iov_len={len(packet)}}}], msg_iovlen=1}}, msg_len=50}}], 2, '
          f'MSG_NOSIGNAL) = 2\n' + _frames(LIBC, ORT)
    )
    report = parse_trace_dir(tmp_path)
    assert not report.clean
    [attempt] = report.attempts  # the connect and its packet are one query, not two
    assert (attempt.kind, attempt.address, attempt.port) == ("dns", "10.255.255.53", 53)
    assert attempt.query == "mobile.events.data.microsoft.com"
    assert attempt.library == "libonnxruntime.so.1.32.0" and attempt.thread == 101
    assert report.libraries() == ["libonnxruntime.so.1.32.0"]


def test_parser_keeps_loopback_and_local_sockets_out(tmp_path: Path) -> None:
    (tmp_path / "trace.5").write_text(
        _v4("connect", 3, "127.0.0.1", 8080) + _frames(LIBC)
        + f'connect(4, {{sa_family=AF_INET6, sin6_port=htons(8080), sin6_flowinfo=htonl(0), '
          f'inet_pton(AF_INET6, "{_hex("::1")}", &sin6_addr), sin6_scope_id=0}}, 28) = 0\n'
        + f'connect(5, {{sa_family=AF_UNIX, sun_path="{_hex("/run/user/0/bus")}"}}, 110) = 0\n'
        + 'sendto(6, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR}], 20, 0, '
          '{sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 20\n'
        # nscd absent: glibc's lookup found nobody to ask (its own query would follow)
        + f'connect(8, {{sa_family=AF_UNIX, sun_path="{_hex("/var/run/nscd/socket")}"}}, 110)'
          ' = -1 ENOENT (No such file or directory)\n' + _frames(LIBC + "(getaddrinfo")
    )
    report = parse_trace_dir(tmp_path)
    assert report.clean, [a.describe() for a in report.attempts]
    assert report.loopback_calls == 2 and report.local_socket_calls == 3


def test_parser_flags_outside_addresses_and_loopback_resolvers(tmp_path: Path) -> None:
    (tmp_path / "trace.9").write_text(
        _v4("connect", 3, "203.0.113.9", 443) + _frames(LIBC, "/x/liblance.so")
        + 'sendto(4, "\\x78", 1, 0, {sa_family=AF_INET, sin_port=htons(123), '
          f'sin_addr=inet_addr("{_hex("198.51.100.7")}")}}, 16) = 1\n'
        + _v4("connect", 5, "127.0.0.53", 53)  # systemd-resolved's stub: still a DNS query
        + f'connect(6, {{sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
          f'inet_pton(AF_INET6, "{_hex("2001:db8::1")}", &sin6_addr), sin6_scope_id=0}}, 28)'
          ' = -1 ENETUNREACH (Network is unreachable)\n'
    )
    attempts = parse_trace_dir(tmp_path).attempts
    got = [(a.kind, a.address, a.port) for a in attempts]
    assert got == [("connect", "203.0.113.9", 443), ("send", "198.51.100.7", 123),
                   ("dns", "127.0.0.53", 53), ("connect", "2001:db8::1", 443)]
    assert attempts[0].library == "liblance.so"
    assert attempts[3].result.startswith("-1 ENETUNREACH")


# --- live: a native call the Python guard never sees ------------------------------------------

_NATIVE_PROBE = """
import ctypes, socket
from models.offline import install_egress_guard, guard_status
install_egress_guard(strict=True)
try:
    socket.create_connection(("203.0.113.1", 9), timeout=1)  # Python: the guard stops it
except OSError:
    pass
libc = ctypes.CDLL(None)
res = ctypes.c_void_p()
rc = libc.getaddrinfo(b"cairn-audit-probe.example", b"443", None, ctypes.byref(res))
print("guard saw", guard_status().blocked, "native rc", rc)
"""


def _netns_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if not unshare or subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode:
        pytest.skip("needs `unshare -n` (root or user namespaces) to keep the probe off the net")
    return [unshare, "-n"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="strace is Linux only")
def test_trace_sees_a_native_lookup_the_guard_cannot(tmp_path: Path) -> None:
    if not shutil.which("strace"):
        pytest.fail("strace is not installed: .ci/run installs it; `apt-get install strace`")
    root = Path(__file__).resolve().parents[2]
    done = trace_command([*_netns_prefix(), sys.executable, "-c", _NATIVE_PROBE],
                         tmp_path / "trace", cwd=root, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "guard saw 1 native rc" in done.stdout  # the guard blocked Python's attempt only
    report = parse_trace_dir(tmp_path / "trace")
    assert not report.clean
    assert all(a.kind == "dns" for a in report.attempts), [a.describe() for a in report.attempts]
    # blamed on the native caller (ctypes' libffi), not on Python's socket module
    assert not any("_socket" in a.library for a in report.attempts)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="strace is Linux only")
def test_a_trace_that_times_out_leaves_no_process_behind(tmp_path: Path) -> None:
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    marker = tmp_path / "still-running"
    late = tmp_path / "late.py"  # a grandchild that writes `marker` after 3 s, if still alive
    late.write_text(f"import time\ntime.sleep(3)\nopen({str(marker)!r}, 'w').close()\n")
    parent = tmp_path / "parent.py"
    parent.write_text("import subprocess, sys, time\n"
                      f"subprocess.Popen([sys.executable, {str(late)!r}])\n"
                      "time.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired):
        trace_command([sys.executable, str(parent)], tmp_path / "trace", timeout=1.5)
    time.sleep(4)  # the grandchild would have written its file by now, had it survived
    assert not marker.exists()
