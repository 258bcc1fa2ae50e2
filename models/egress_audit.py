"""Egress audit at the operating-system level: what a process *really* sent, native code included.

The egress guard (`models/offline.py`) patches Python's socket module, so it cannot see a C/C++
or Rust library that calls `connect()` itself — which is exactly how ONNX Runtime's native 1DS
telemetry looked up `mobile.events.data.microsoft.com` while the guard reported zero attempts.
This module asks the kernel instead: it runs a command under `strace`, records every
`connect`/`sendto`/`sendmsg`/`sendmmsg` of every thread with the call stack that made it, and
reports each attempt to leave the machine together with the library responsible.

What counts as leaving the machine:
- a connection or datagram to an address outside loopback (127.0.0.0/8, ::1);
- any DNS query, loopback resolvers included (a lookup of a public name is the first step of a
  connection even when it fails), recognised by destination port 53 or by a name-service socket
  (nscd, systemd-resolved) reached from `getaddrinfo`/`gethostbyname`;
Unix sockets (D-Bus, X11) and netlink (interface listing) stay on the machine and are ignored.

Why strace: it ships with every Linux distribution, needs no kernel module, and `-k` names the
shared object on each call's stack, so a report can say "libonnxruntime.so" rather than "some
thread". `--seccomp-bpf` keeps the traced process at full speed (only the four traced calls stop
it). Linux only; on macOS and Windows the README explains the equivalent checks.

Stdlib only: `models` must not import `indexer` or Qt, and the CLI imports this early.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

__all__ = [
    "TRACED_SYSCALLS",
    "AuditReport",
    "NetworkAttempt",
    "StraceMissing",
    "parse_trace_dir",
    "strace_executable",
    "trace_command",
]

#: The system calls that can put bytes on a network: connect (TCP, and UDP "connected" sends),
#: and the three send calls that carry a destination address or a batch of datagrams.
TRACED_SYSCALLS = ("connect", "sendto", "sendmsg", "sendmmsg")

#: Name-service sockets that resolve host names on behalf of glibc.
_NAME_SERVICE_SOCKETS = ("/var/run/nscd/socket", "/run/nscd/socket", "/run/systemd/resolve/")
#: Stack frames of a host-name lookup (glibc and musl spell them alike).
_LOOKUP_FRAMES = re.compile(r"\b(getaddrinfo|gethostbyname\w*|getnameinfo|res_\w*query)\b")
#: Shared objects that only pass a call through; the report names the first frame after them.
_PLUMBING = re.compile(
    r"/(libc|libpthread|ld-linux[\w-]*|libresolv|libnss_\w+|libstdc\+\+|libgcc_s|libm)[.-]"
)

AttemptKind = Literal["dns", "connect", "send"]


class StraceMissing(RuntimeError):
    """`strace` is not installed, so no system-call audit can run on this machine."""


@dataclass(frozen=True, slots=True)
class NetworkAttempt:
    """One system call that tried to reach outside the machine (or to resolve a name)."""

    kind: AttemptKind
    syscall: str
    address: str
    port: int | None
    query: str | None  # the DNS name asked for, when the packet was seen
    library: str  # shared object that made the call, e.g. "libonnxruntime.so.1.32.0"
    function: str  # its symbol on the stack, when strace could name one
    result: str  # what the kernel answered ("0", "-1 ENETUNREACH (…)")
    thread: int  # thread id (one trace file per thread)

    def describe(self) -> str:
        where = f"{self.address}:{self.port}" if self.port is not None else self.address
        what = f"DNS query for {self.query}" if self.query else f"{self.kind} {where}"
        if self.query:
            what += f" (to {where})"
        # The library, not the symbol: strace names the nearest exported symbol, which in a
        # stripped library is often a neighbour of the real caller (kept in `function`).
        return f"{what} by {self.library}"


@dataclass(slots=True)
class AuditReport:
    """What a traced run did on the network. `clean` is the promise: nothing left the machine."""

    attempts: list[NetworkAttempt] = field(default_factory=list)
    # Calls to an endpoint the user configured (a team model server): expected, listed apart.
    allowed: list[NetworkAttempt] = field(default_factory=list)
    loopback_calls: int = 0
    local_socket_calls: int = 0
    threads_traced: int = 0

    @property
    def clean(self) -> bool:
        return not self.attempts

    @property
    def dns_queries(self) -> list[NetworkAttempt]:
        return [a for a in self.attempts if a.kind == "dns"]

    def grouped(self) -> list[tuple[NetworkAttempt, int]]:
        """Attempts alike in kind, destination, name and library, with how often each came."""
        counts: dict[tuple[object, ...], tuple[NetworkAttempt, int]] = {}
        for a in self.attempts:
            key = (a.kind, a.address, a.port, a.query, a.library)
            first, n = counts.get(key, (a, 0))
            counts[key] = (first, n + 1)
        return list(counts.values())

    def libraries(self) -> list[str]:
        return sorted({a.library for a in self.attempts})

    def to_dict(self) -> dict[str, object]:
        return {
            "clean": self.clean,
            "outside_attempts": len(self.attempts),
            "dns_queries": len(self.dns_queries),
            "libraries": self.libraries(),
            "loopback_calls": self.loopback_calls,
            "local_socket_calls": self.local_socket_calls,
            "threads_traced": self.threads_traced,
            "attempts": [asdict(a) for a in self.attempts],
            "allowed_endpoint_calls": len(self.allowed),
            "allowed": sorted({f"{a.query or a.address}:{a.port}" for a in self.allowed}),
        }

    def set_apart(self, endpoints: Iterable[tuple[str, int]]) -> None:
        """Move the calls to configured `(host, port)` endpoints out of `attempts`.

        A connect or send counts when its address and port are an endpoint's (a host name is
        resolved here, outside the trace, to the addresses the traced process would reach); a
        DNS query when it asks for an endpoint's name. Everything else stays an attempt.
        """
        import socket

        names: set[str] = set()
        addresses: set[tuple[str, int]] = set()
        for host, port in endpoints:
            name = host.strip().rstrip(".").lower()
            names.add(name)
            addresses.add((name, int(port)))
            try:
                for info in socket.getaddrinfo(name, port, proto=socket.IPPROTO_TCP):
                    addresses.add((str(info[4][0]), int(port)))
            except OSError:
                pass
        keep: list[NetworkAttempt] = []
        for a in self.attempts:
            if a.kind == "dns":
                hit = a.query is not None and a.query.rstrip(".").lower() in names
            else:
                hit = a.port is not None and (a.address.lower(), a.port) in addresses
            (self.allowed if hit else keep).append(a)
        self.attempts = keep


def strace_executable() -> str:
    """The path of `strace`, or `StraceMissing` with how to get it."""
    found = shutil.which("strace")
    if not found:
        raise StraceMissing(
            "strace is not installed; install it (e.g. `sudo apt-get install strace`) to audit "
            "Cairn at the system-call level."
        )
    return found


def trace_command(
    argv: Sequence[str],
    trace_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` under strace, one trace file per thread in `trace_dir` (parse them afterwards).

    Every thread and child process is followed (`-f`), each into its own file (`-ff`), so lines
    of different threads never interleave. `-xx` prints addresses and payloads as hex, which
    `parse_trace_dir` decodes (DNS names included); `-k` adds each call's stack.
    """
    trace_dir.mkdir(parents=True, exist_ok=True)
    command = [
        strace_executable(), "-f", "-ff", "-qq", "--seccomp-bpf", "-k", "-xx", "-s", "512",
        "-e", "trace=" + ",".join(TRACED_SYSCALLS), "-e", "signal=none",
        "-o", str(trace_dir / "trace"), "--", *argv,
    ]  # fmt: skip
    # Its own process group: on a timeout strace would only detach, and the traced process
    # (with every thread it started) would run on untraced, so the whole group is killed.
    with subprocess.Popen(
        command, env=dict(env) if env is not None else None, cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            out, errs = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(command, proc.returncode, out, errs)


# ----------------------------------------------------------------------------- parsing

_HEX = re.compile(r"\\x([0-9a-fA-F]{2})")
_CALL = re.compile(r"^(?P<name>connect|sendto|sendmsg|sendmmsg)\((?P<args>.*)\)\s+=\s+(?P<ret>.*)$")
_FAMILY = re.compile(r"sa_family=(AF_\w+)")
_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
_V4 = re.compile(r'sin_addr=inet_addr\("([^"]*)"\)')
_V6 = re.compile(r'inet_pton\(AF_INET6,\s*"([^"]*)"')
_UNIX = re.compile(r'sun_path=(?:@)?"([^"]*)"')
_PAYLOAD = re.compile(r'"((?:\\x[0-9a-fA-F]{2})+)"')
_FRAME = re.compile(r"^\s*>\s+(?P<obj>\S+?)(?:\((?P<sym>[^)+]*)(?:\+0x[0-9a-f]+)?\))?\s+\[")


def _unhex(text: str) -> str:
    return _HEX.sub(lambda m: chr(int(m.group(1), 16)), text)


def _dns_name(payload: bytes) -> str | None:
    """The question name of a DNS query packet (header of 12 bytes, then length-prefixed labels)."""
    labels: list[str] = []
    i = 12
    while i < len(payload):
        n = payload[i]
        if n == 0:
            return ".".join(labels) or None
        if n > 63 or i + 1 + n > len(payload):
            return None
        labels.append(payload[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return None


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def _blame(frames: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """The first shared object on the stack that is not libc-level plumbing, and its symbol."""
    for obj, sym in frames:
        if not _PLUMBING.search(obj):
            return Path(obj).name, sym
    if frames:
        return Path(frames[0][0]).name, frames[0][1]
    return "unknown", ""


@dataclass(slots=True)
class _Call:
    name: str
    args: str
    result: str
    frames: list[tuple[str, str]]


def _read_calls(lines: Iterable[str]) -> Iterable[_Call]:
    current: _Call | None = None
    for raw in lines:
        line = raw.rstrip("\n")
        frame = _FRAME.match(line)
        if frame and current is not None:
            current.frames.append((frame.group("obj"), frame.group("sym") or ""))
            continue
        match = _CALL.match(line)
        if match:
            if current is not None:
                yield current
            current = _Call(match.group("name"), match.group("args"), match.group("ret"), [])
    if current is not None:
        yield current


def _classify(call: _Call, thread: int, report: AuditReport, dns_fds: dict[str, int]) -> None:
    args = call.args
    family = _FAMILY.search(args)
    fd = args.split(",", 1)[0].strip()
    payloads = [_unhex(p).encode("latin-1") for p in _PAYLOAD.findall(args)]
    lookup = any(_LOOKUP_FRAMES.search(sym) for _, sym in call.frames)
    library, function = _blame(call.frames)

    def add(kind: AttemptKind, address: str, port: int | None) -> None:
        query = next((q for q in map(_dns_name, payloads) if q), None) if kind == "dns" else None
        report.attempts.append(NetworkAttempt(
            kind, call.name, address, port, query, library, function, call.result, thread,
        ))  # fmt: skip

    if family is None:  # a send on a connected socket: name the query its connect() announced
        index = dns_fds.get(fd)
        query = next((q for q in map(_dns_name, payloads) if q), None)
        if index is not None and query and report.attempts[index].query is None:
            report.attempts[index] = replace(report.attempts[index], query=query)
        return
    fam = family.group(1)
    if fam == "AF_UNIX":
        path = _unhex(m.group(1)) if (m := _UNIX.search(args)) else ""
        # A name service that answered gets the query and resolves it for us (unseen here);
        # one that is absent (ENOENT) got nothing, and glibc's own query follows below.
        reached = call.result.split(" ", 1)[0] == "0"
        if lookup and reached and any(path.startswith(s) for s in _NAME_SERVICE_SOCKETS):
            add("dns", path, None)
        else:
            report.local_socket_calls += 1
        return
    if fam not in ("AF_INET", "AF_INET6"):
        report.local_socket_calls += 1  # netlink, packet sockets for local use, …
        return
    port = int(p.group(1)) if (p := _PORT.search(args)) else None
    addr_match = _V4.search(args) or _V6.search(args)
    address = _unhex(addr_match.group(1)) if addr_match else "?"
    if port == 53:
        if call.name == "connect":
            dns_fds[fd] = len(report.attempts)
        add("dns", address, port)
    elif _is_loopback(address):
        report.loopback_calls += 1
    else:
        add("connect" if call.name == "connect" else "send", address, port)


def parse_trace_dir(
    trace_dir: Path, allowed: Iterable[tuple[str, int]] = ()
) -> AuditReport:
    """Read the per-thread files `trace_command` wrote and list every attempt to leave the machine.

    `allowed`: endpoints the user configured (host, port); calls to them are listed apart
    (`AuditReport.allowed`), so "clean" still means nothing else was reached.

    A resolver query shows up as a `connect` to port 53 followed by `sendmmsg` on that socket:
    it is reported once, with the name decoded from the packet the send carried.
    """
    report = AuditReport()
    for path in sorted(trace_dir.glob("trace.*")):
        try:
            thread = int(path.suffix.lstrip("."))
        except ValueError:
            continue
        report.threads_traced += 1
        dns_fds: dict[str, int] = {}  # fd -> index of the attempt its connect() recorded
        with path.open(encoding="utf-8", errors="replace") as lines:
            for call in _read_calls(lines):
                _classify(call, thread, report, dns_fds)
    report.set_apart(allowed)
    return report

