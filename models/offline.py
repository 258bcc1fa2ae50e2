"""Egress guard: make "nothing leaves the machine" checkable instead of a hope.

Cairn runs only local models on local files, yet several dependencies phone home unless told not
to. This module does two things, both from the standard library only (it is imported before any
heavy dependency, and `models` must not import `indexer` or Qt):

1. `set_offline_env()` sets every opt-out variable we know of, with `setdefault` so a user's own
   value wins. It must run before the dependencies are imported, because several of them read
   the variables once at import time (huggingface_hub caches `HF_HUB_OFFLINE` in `constants`).
2. `install_egress_guard()` patches the Python socket layer so any connection, datagram or DNS
   lookup for a non-loopback destination raises `EgressBlocked` and is recorded. A user-started
   model download is the one legitimate exception: it runs inside `allow_network(reason)`, and
   each connection it makes is recorded with that reason.

What the dependencies in the venv do (grepped for telemetry/analytics/scarf/posthog/requests.get/
urlopen, and `strings` on their native libraries; versions as locked in uv.lock):

- unstructured 0.27: `import unstructured` calls `init_telemetry()` -> `scarf_analytics()`, a
  `requests.get("https://packages.unstructured.io/python-telemetry", ...)` (after running
  `nvidia-smi`), and each `partition_*` call sends runtime telemetry to the same endpoint on a
  background thread. Both are skipped when `DO_NOT_TRACK` or `SCARF_NO_ANALYTICS` is non-empty.
  `UNSTRUCTURED_DISABLE_NOTICE=1` silences an advertising banner / log *warning* (not egress,
  but it would trip log-fails-test checks). First use of its NLP helpers downloads the spaCy
  model `en_core_web_sm` from GitHub with `urllib.request.urlopen` (`nlp/tokenize.py`); there is
  no opt-out variable, the guard blocks it. `partition(url=...)` fetches URLs (never used by us).
- huggingface_hub: `send_telemetry` is off with `HF_HUB_DISABLE_TELEMETRY`/`DISABLE_TELEMETRY`/
  `DO_NOT_TRACK` or offline mode; `HF_HUB_OFFLINE`/`TRANSFORMERS_OFFLINE` stop hub calls;
  `HF_HUB_DISABLE_UPDATE_CHECK` stops its CLI's version check. Note `HF_HUB_OFFLINE` also stops
  a *wanted* download made through huggingface_hub, so catalog downloads should use a plain HTTP
  client inside `allow_network`. hf_xet (native, Rust) sends transfer telemetry, but only while
  huggingface_hub downloads through it.
- fastembed 0.9: downloads models from the HF hub or a GCS URL (`requests.get`) unless the
  model is local; it honours `HF_HUB_OFFLINE` (forces `local_files_only`) and
  `specific_model_path` skips downloading altogether. No telemetry of its own.
- onnxruntime 1.32: since 1.29 the official Linux and macOS wheels carry a native 1DS telemetry
  client (`core/platform/posix/telemetry.cc`, endpoint
  `https://mobile.events.data.microsoft.com/OneCollector/1.0`) that starts with the first
  session, writes a device id and an offline event queue (SQLite) under
  `~/.cache/Microsoft/DeveloperTools/.onnxruntime`, and uploads from its own C++ threads — the
  guard below never sees it. `onnxruntime.disable_telemetry_events()` only silences some events;
  the full opt-out is `ORT_DISABLE_TELEMETRY=1` in the environment *before* ONNX Runtime
  initialises (read once, latched for the process: no uploader, no events, no device id, no
  queue). Cairn forces it (`NATIVE_OFF_ENV`), since no user of Cairn wants it on; verified with
  `strace -f` on a long embedding job (`tests/e2e/test_os_egress.py`).
- lancedb 0.40: no telemetry in the Python package; the Rust core only carries no-op
  OpenTelemetry providers and cloud clients (AWS IMDS, S3, Azure) used for remote/object-store
  URIs, which Cairn never opens. No opt-out variable exists or is needed.
- llama-cpp-python, tokenizers, spaCy: nothing found beyond `from_pretrained` hub helpers.
- `ANONYMIZED_TELEMETRY` (chromadb and friends) is not used by any installed package; it is set
  anyway as cheap insurance against a future dependency.

Limits: the guard sees only traffic that goes through Python's `socket` module (requests,
urllib3, httpx, urllib, asyncio all do). Native code that opens its own sockets (Rust/C++
libraries) bypasses it: those are switched off at their source (`NATIVE_OFF_ENV`) and checked by
the kernel, not by this module — `models/egress_audit.py` runs Cairn under `strace` and
`cairn privacy --audit` reports what it saw (docs/reliability.md has the per-library table).
Install the guard early: a module that did `from socket import getaddrinfo` before installation
keeps the original.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from models.egress_endpoints import (
    allow_endpoint,
    allowed_endpoints,
    endpoint_reason,
    forget_endpoint,
    remember_resolved,
)

__all__ = [
    "GUARD_COVERS",
    "GUARD_DOES_NOT_COVER",
    "NATIVE_OFF_ENV",
    "OFFLINE_ENV",
    "DnsEgressBlocked",
    "EgressAttempt",
    "EgressBlocked",
    "GuardStatus",
    "allow_endpoint",
    "allow_network",
    "allowed_endpoints",
    "forget_endpoint",
    "guard_status",
    "install_egress_guard",
    "reset_log",
    "set_offline_env",
    "uninstall_egress_guard",
]

logger = logging.getLogger(__name__)

#: Opt-out variables of dependencies that phone home (see the module docstring for sources).
OFFLINE_ENV: dict[str, str] = {
    "SCARF_NO_ANALYTICS": "true",  # unstructured (Scarf analytics ping)
    "DO_NOT_TRACK": "true",  # unstructured, huggingface_hub (donottrack.sh convention)
    "UNSTRUCTURED_DISABLE_NOTICE": "1",  # unstructured's advertising banner / log warning
    "HF_HUB_OFFLINE": "1",  # huggingface_hub, fastembed: no hub calls, cached files only
    "TRANSFORMERS_OFFLINE": "1",  # older spelling, also read by huggingface_hub
    "HF_HUB_DISABLE_TELEMETRY": "1",  # huggingface_hub send_telemetry
    "DISABLE_TELEMETRY": "1",  # generic spelling huggingface_hub also honours
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",  # huggingface_hub CLI version check
    "HF_DATASETS_OFFLINE": "1",  # datasets (not installed; future-proofing)
    "ANONYMIZED_TELEMETRY": "False",  # chromadb-style telemetry (not installed; future-proofing)
}

#: Native (C/C++) telemetry switches. Forced, not defaulted: these clients run on threads the
#: guard cannot see, so a stray value inherited from a shell must not turn one back on.
NATIVE_OFF_ENV: dict[str, str] = {
    "ORT_DISABLE_TELEMETRY": "1",  # ONNX Runtime >= 1.29 on Linux/macOS: 1DS client, device id
}

#: What the egress guard covers and what it does not, in the words the CLI and GUI show.
GUARD_COVERS = (
    "Python sockets: every connection, datagram and name lookup made through Python "
    "(requests, urllib, httpx, asyncio, …) by Cairn or a library it uses"
)
GUARD_DOES_NOT_COVER = (
    "native code (C, C++, Rust libraries) that opens sockets itself; known native telemetry is "
    "switched off at its source (ONNX Runtime: ORT_DISABLE_TELEMETRY=1), and "
    "`cairn privacy --audit` checks the real process with a system-call trace (Linux)"
)

AttemptKind = Literal["connect", "send", "dns"]  # as models.egress_endpoints spells it

#: How many recent attempts are kept in memory; counters stay exact beyond it.
_LOG_CAPACITY = 200
#: How many recent attempts `guard_status()` returns.
_STATUS_ATTEMPTS = 50
#: Files whose frames are plumbing, not the caller a person wants to see in a report.
_INTERNAL_PARTS = (
    "socket.py", "ssl.py", "selectors.py", "threading.py", "http/client.py", "urllib/request.py",
    "asyncio/", "concurrent/futures/", "urllib3/", "requests/", "httpx/", "httpcore/",
    "anyio/", "contextlib.py", "models/offline.py", "_pytest/", "pluggy/",
)  # fmt: skip


def set_offline_env() -> dict[str, str]:
    """Set every known telemetry / hub opt-out (a user's own value wins, except for native
    telemetry, which is always off).

    Returns the effective values, so a caller can log what is in force. Call it before importing
    unstructured, huggingface_hub, fastembed or onnxruntime: they read these once, at import or
    at initialisation, and a native library reads the C environment (`os.environ` writes it).
    """
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    os.environ.update(NATIVE_OFF_ENV)
    return {name: os.environ[name] for name in (*OFFLINE_ENV, *NATIVE_OFF_ENV)}


class EgressBlocked(ConnectionError):
    """A connection to a non-loopback destination was refused by Cairn's egress guard.

    A `ConnectionError` (hence `OSError`) on purpose: HTTP clients and retry loops already treat
    those as "offline" and fail fast or fall back to cached files instead of crashing.
    """

    def __init__(self, attempt: EgressAttempt) -> None:
        super().__init__(
            f"Cairn blocked network access to {attempt.host}:{attempt.port} ({attempt.kind}, "
            f"from {attempt.stack_summary}). Cairn works offline; only a user-started model "
            "download may use the network."
        )
        self.attempt = attempt
        self.host = attempt.host
        self.port = attempt.port


class DnsEgressBlocked(EgressBlocked, socket.gaierror):
    """A blocked DNS lookup; also a `socket.gaierror` so resolvers' callers map it as usual."""


@dataclass(frozen=True, slots=True)
class EgressAttempt:
    """One non-loopback network operation seen by the guard.

    `seq` increases for the life of the process (it survives `reset_log`), so a watcher can ask
    "what happened since I last looked". `stack_summary` names the nearest callers outside the
    socket/HTTP plumbing, e.g. ``unstructured/utils.py:218 in scarf_analytics``.
    """

    seq: int
    kind: AttemptKind
    host: str
    port: int | None
    allowed: bool
    reason: str | None
    when: datetime
    thread: str
    stack_summary: str


@dataclass(frozen=True, slots=True)
class GuardStatus:
    """A snapshot of the guard. Counts are since the last `reset_log()`.

    `violations` counts blocked attempts made while the guard was strict: a test harness fails on
    them even when a library swallowed the `EgressBlocked` it got.
    """

    installed: bool
    strict: bool
    blocked: int
    allowed: int
    attempts: tuple[EgressAttempt, ...]
    violations: int = 0
    endpoints: tuple[str, ...] = ()  # "host:port — reason" of each endpoint the user configured


class _GuardState:
    """Process-wide guard state; every field is guarded by `lock`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.installed = False
        self.strict = False
        self.originals: dict[tuple[Any, str], Any] = {}
        self.log: deque[EgressAttempt] = deque(maxlen=_LOG_CAPACITY)
        self.seq = 0
        self.blocked = 0
        self.allowed = 0
        self.violations = 0
        self.allow_reasons: dict[int, str] = {}  # active allow_network blocks, in entry order
        self.allow_token = 0
        self.warned: set[tuple[str, int | None]] = set()


_state = _GuardState()
_local = threading.local()


# --- destinations -------------------------------------------------------------------------


def _host_text(host: object) -> str | None:
    if host is None:
        return None
    if isinstance(host, bytes | bytearray):
        return bytes(host).decode("ascii", "replace")
    return str(host)


def _parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = host.strip().strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_local(host: object) -> bool:
    """True for destinations that cannot leave the machine.

    Loopback (127.0.0.0/8, ::1, ``localhost``) plus the unspecified address (``0.0.0.0``, ``::``,
    ``''``, or None for getaddrinfo), which the kernel routes to this host; everything else,
    including names that *might* resolve to loopback, counts as egress.
    """
    text = _host_text(host)
    if text is None:
        return True
    name = text.strip().rstrip(".").lower()
    if name in ("", "localhost"):
        return True
    ip = _parse_ip(name)
    return ip is not None and (ip.is_loopback or ip.is_unspecified)


def _is_ip_literal(host: object) -> bool:
    text = _host_text(host)
    return text is not None and _parse_ip(text) is not None


def _split_address(family: int, address: object) -> tuple[bool, str, int | None]:
    """(local?, host, port) for a socket address of any family."""
    if family == getattr(socket, "AF_UNIX", object()) or family == getattr(
        socket, "AF_NETLINK", object()
    ):
        return True, str(address), None
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
        host = _host_text(address[0]) or ""
        port = address[1] if len(address) > 1 and isinstance(address[1], int) else None
        return _is_local(host), host, port
    return False, repr(address), None  # other families (packet, vsock, bluetooth): egress


# --- recording ----------------------------------------------------------------------------


def _short_path(filename: str) -> str:
    path = filename.replace("\\", "/")
    if "site-packages/" in path:
        return path.rsplit("site-packages/", 1)[1]
    try:
        return Path(filename).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return "/".join(path.rsplit("/", 2)[-2:])


def _stack_summary(depth: int = 3) -> str:
    """The nearest `depth` caller frames outside socket/HTTP plumbing, innermost first."""
    frame = sys._getframe(1)
    parts: list[str] = []
    while frame is not None and len(parts) < depth:
        filename = frame.f_code.co_filename.replace("\\", "/")
        if not any(marker in filename for marker in _INTERNAL_PARTS):
            parts.append(f"{_short_path(filename)}:{frame.f_lineno} in {frame.f_code.co_name}")
        frame = frame.f_back  # type: ignore[assignment]
    return " < ".join(parts) or f"<thread {threading.current_thread().name}>"


def _current_reason() -> str | None:
    """The reason of this thread's innermost allow block, else of the latest active one."""
    stack: list[str] = getattr(_local, "reasons", [])
    if stack:
        return stack[-1]
    with _state.lock:
        return next(reversed(_state.allow_reasons.values()), None)


def _check(kind: AttemptKind, host: str, port: int | None) -> None:
    """Record a non-loopback operation; raise `EgressBlocked` unless an allow block is active
    or it goes to an endpoint the user configured."""
    reason = endpoint_reason(kind, host, port) or _current_reason()
    allowed = reason is not None
    stack = _stack_summary()
    with _state.lock:
        _state.seq += 1
        attempt = EgressAttempt(
            seq=_state.seq, kind=kind, host=host, port=port, allowed=allowed, reason=reason,
            when=datetime.now(UTC), thread=threading.current_thread().name, stack_summary=stack,
        )  # fmt: skip
        _state.log.append(attempt)
        if allowed:
            _state.allowed += 1
            return
        _state.blocked += 1
        if _state.strict:
            _state.violations += 1
        first_time = (host, port) not in _state.warned
        _state.warned.add((host, port))
    # Warn once per destination: retry loops would otherwise flood the log.
    logger.log(
        logging.WARNING if first_time else logging.DEBUG,
        "egress blocked: %s %s:%s from %s", kind, host, port, stack,
    )  # fmt: skip
    raise (DnsEgressBlocked if kind == "dns" else EgressBlocked)(attempt)


# --- patched functions ----------------------------------------------------------------------


def _mark(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    wrapper.__cairn_egress_guard__ = True  # type: ignore[attr-defined]
    return wrapper


def _wrap_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def connect(self: socket.socket, address: Any) -> Any:
        local, host, port = _split_address(self.family, address)
        if not local:
            _check("connect", host, port)
        return original(self, address)

    return _mark(connect)


def _wrap_sendto(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def sendto(self: socket.socket, data: Any, *args: Any) -> Any:
        if args:  # sendto(data, address) or sendto(data, flags, address)
            local, host, port = _split_address(self.family, args[-1])
            if not local:
                _check("send", host, port)
        return original(self, data, *args)

    return _mark(sendto)


def _wrap_sendmsg(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def sendmsg(self: socket.socket, buffers: Any, *args: Any) -> Any:
        if len(args) >= 3 and args[2] is not None:  # (ancdata, flags, address)
            local, host, port = _split_address(self.family, args[2])
            if not local:
                _check("send", host, port)
        return original(self, buffers, *args)

    return _mark(sendmsg)


def _wrap_create_connection(original: Callable[..., Any]) -> Callable[..., Any]:
    # Checked here too so the record names the host (the inner getaddrinfo would also catch it).
    @functools.wraps(original)
    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        host, port = address[0], address[1]
        text = _host_text(host) or ""
        if not _is_local(host) and _current_reason() is None \
                and endpoint_reason("connect", text, port) is None:
            _check("connect", text, port)
        return original(address, *args, **kwargs)

    return _mark(create_connection)


def _wrap_resolver(original: Callable[..., Any]) -> Callable[..., Any]:
    """getaddrinfo / gethostbyname(_ex) / gethostbyaddr: the first argument is the host.

    An IP literal needs no DNS query, so it passes here; a connect to it is checked later.
    """

    @functools.wraps(original)
    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = original.__name__
        if not _is_local(host) and (name == "gethostbyaddr" or not _is_ip_literal(host)):
            port = args[0] if args and isinstance(args[0], int) else None
            _check("dns", _host_text(host) or "", port)
            result = original(host, *args, **kwargs)
            remember_resolved(_host_text(host) or "", result)
            return result
        return original(host, *args, **kwargs)

    return _mark(resolve)


def _wrap_getnameinfo(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def getnameinfo(sockaddr: Any, flags: int) -> Any:
        if not flags & socket.NI_NUMERICHOST and not _is_local(sockaddr[0]):
            _check("dns", _host_text(sockaddr[0]) or "", sockaddr[1])
        return original(sockaddr, flags)

    return _mark(getnameinfo)


_PATCHES: tuple[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]], ...] = (
    (socket.socket, "connect", _wrap_connect),
    (socket.socket, "connect_ex", _wrap_connect),
    (socket.socket, "sendto", _wrap_sendto),
    (socket.socket, "sendmsg", _wrap_sendmsg),
    (socket, "create_connection", _wrap_create_connection),
    (socket, "getaddrinfo", _wrap_resolver),
    (socket, "gethostbyname", _wrap_resolver),
    (socket, "gethostbyname_ex", _wrap_resolver),
    (socket, "gethostbyaddr", _wrap_resolver),
    (socket, "getnameinfo", _wrap_getnameinfo),
)


# --- public API ---------------------------------------------------------------------------


def install_egress_guard(strict: bool = False) -> GuardStatus:
    """Block and record non-loopback network access from this process; idempotent.

    Blocked operations always raise `EgressBlocked`. `strict=True` also counts each one as a
    violation (`GuardStatus.violations`), for test sessions that must fail on any attempt even
    if the caller swallowed the error. Calling again only updates `strict`; nothing is wrapped
    twice (wrappers are marked, which also protects against a second copy of this module).
    """
    with _state.lock:
        _state.strict = strict
        if not _state.installed:
            for owner, attr, wrap in _PATCHES:
                if not hasattr(owner, attr):
                    continue  # e.g. sendmsg on Windows
                current = getattr(owner, attr)
                if getattr(current, "__cairn_egress_guard__", False):
                    continue
                _state.originals[(owner, attr)] = current
                setattr(owner, attr, wrap(current))
            _state.installed = True
    return guard_status()


def uninstall_egress_guard() -> None:
    """Restore the original socket functions (for tests of the guard itself)."""
    with _state.lock:
        for (owner, attr), original in _state.originals.items():
            setattr(owner, attr, original)
        _state.originals.clear()
        _state.installed = False
        _state.strict = False


@contextmanager
def allow_network(reason: str) -> Iterator[None]:
    """Permit non-loopback access process-wide while the block is active; record each use.

    Process-wide on purpose: a download library may connect from its own worker threads. The
    recorded reason is the current thread's innermost block, else the latest active one. Use it
    only around a download the user started, with a reason a person can read in the log.
    """
    if not reason.strip():
        raise ValueError("allow_network needs a reason a person can read in the egress log")
    with _state.lock:
        _state.allow_token += 1
        token = _state.allow_token
        _state.allow_reasons[token] = reason
    stack: list[str] = _local.__dict__.setdefault("reasons", [])
    stack.append(reason)
    try:
        yield
    finally:
        stack.pop()
        with _state.lock:
            del _state.allow_reasons[token]


def guard_status() -> GuardStatus:
    """A thread-safe snapshot: counters since the last reset and the last 50 attempts."""
    with _state.lock:
        return GuardStatus(
            installed=_state.installed,
            strict=_state.strict,
            blocked=_state.blocked,
            allowed=_state.allowed,
            attempts=tuple(_state.log)[-_STATUS_ATTEMPTS:],
            violations=_state.violations,
            endpoints=tuple(f"{h}:{p} — {r}" for h, p, r in allowed_endpoints()),
        )


def reset_log() -> None:
    """Forget recorded attempts and zero the counters (tests that attempt egress on purpose)."""
    with _state.lock:
        _state.log.clear()
        _state.blocked = _state.allowed = _state.violations = 0
        _state.warned.clear()
