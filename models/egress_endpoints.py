"""The egress guard's one exception the user configures: a team server's host and port.

`models.offline` blocks every non-loopback destination. A team model server (issue 20) is a
destination the user chose, so the guard lets exactly it through: a lookup of its name, then
connections to the addresses that name resolved to, on its port only — not the host's other
ports, not other hosts on that port. Each use is still recorded, with the reason the user
reads in `cairn privacy` ("answers from gpu-box.lan:8000: …").

Kept apart from `models.offline` (which consults it on every checked call) because it is a
policy with state of its own; standard library only, like the guard.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any, Literal

__all__ = [
    "allow_endpoint",
    "allowed_endpoints",
    "endpoint_reason",
    "forget_endpoint",
    "remember_resolved",
]

_lock = threading.Lock()
#: (host, port) -> reason, for each endpoint the user configured.
_endpoints: dict[tuple[str, int], str] = {}
#: (address, port) -> the endpoint whose name resolved to that address.
_resolved: dict[tuple[str, int], tuple[str, int]] = {}


def _normal_host(host: str) -> str:
    """Lower-case, no trailing dot, IPv4-mapped IPv6 as IPv4: how hosts are compared."""
    text = host.strip().rstrip(".").lower().strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def allow_endpoint(host: str, port: int, reason: str) -> None:
    """Allow, from now on, name lookups of `host` and connections to `host:port` only.

    For a server the user configured: unlike `allow_network`, nothing else is let through while
    it is in force, and each use is still recorded with `reason`.
    """
    if not reason.strip():
        raise ValueError("allow_endpoint needs a reason a person can read in the egress log")
    with _lock:
        _endpoints[(_normal_host(host), int(port))] = reason


def forget_endpoint(host: str, port: int) -> None:
    """Withdraw `allow_endpoint`, with the addresses its name resolved to."""
    key = (_normal_host(host), int(port))
    with _lock:
        _endpoints.pop(key, None)
        for address in [a for a, source in _resolved.items() if source == key]:
            del _resolved[address]


def allowed_endpoints() -> list[tuple[str, int, str]]:
    """(host, port, reason) of every endpoint allowed by `allow_endpoint`."""
    with _lock:
        return [(h, p, r) for (h, p), r in _endpoints.items()]


def endpoint_reason(
    kind: Literal["connect", "send", "dns"], host: str, port: int | None
) -> str | None:
    """The reason of the configured endpoint this operation goes to, else None.

    A name lookup passes for an endpoint's host name (whatever port the resolver is given); a
    connection or datagram only to an endpoint's exact host and port, or to an address its name
    resolved to, with that port.
    """
    name = _normal_host(host)
    with _lock:
        if not _endpoints:
            return None
        if kind == "dns":
            return next((r for (h, _), r in _endpoints.items() if h == name), None)
        if port is None:
            return None
        return _endpoints.get(_resolved.get((name, port), (name, port)))


def remember_resolved(host: str, result: Any) -> None:
    """After a configured endpoint's name resolved: allow its addresses, on its port only.

    `result` is what getaddrinfo (a list of 5-tuples), gethostbyname (a string) or
    gethostbyname_ex (a 3-tuple) returned.
    """
    name = _normal_host(host)
    with _lock:
        keys = [key for key in _endpoints if key[0] == name]
        if not keys:
            return
        addresses: list[str] = []
        if isinstance(result, str):
            addresses.append(result)
        elif isinstance(result, list):
            addresses.extend(
                str(item[4][0]) for item in result
                if isinstance(item, tuple) and len(item) == 5 and item[4]
            )
        elif isinstance(result, tuple) and len(result) == 3:
            addresses.extend(str(a) for a in result[2])
        for address in addresses:
            for key in keys:
                _resolved[(_normal_host(address), key[1])] = key
