"""Where a shared index lives: a folder (local disk or a mounted network share) or an object-store
URI (`s3://bucket/prefix`), with the storage options LanceDB needs to reach it.

Why a module of its own: three places need the same reading of the `shared_index` setting — the
store (which URI to hand LanceDB, with which options), the user-facing lines (`cairn status`:
"searches read from s3://… at host:port") and the egress guard, which must know the one host a
shared index may reach (`shared_index_endpoint`). Nothing here opens a connection.

Secrets: `options` may hold an access key and secret (LanceDB also reads `AWS_*` from the
environment, which is the better place for them); `describe()` never shows option values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from indexer.errors import UserInputError

REMOTE_SCHEMES = ("s3", "s3+ddb", "gs", "az", "abfs")
# Keys LanceDB (object_store) accepts for a custom S3 endpoint, case-insensitive.
_ENDPOINT_KEYS = ("aws_endpoint", "aws_endpoint_url", "endpoint", "endpoint_url")
_ENDPOINT_ENV = ("AWS_ENDPOINT", "AWS_ENDPOINT_URL")
_REGION_KEYS = ("aws_region", "region", "aws_default_region")
_REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")


def is_uri(location: str | Path) -> bool:
    """True for an object-store URI (`s3://…`), False for a folder path."""
    return isinstance(location, str) and urlsplit(location).scheme.lower() in REMOTE_SCHEMES


class SharedIndexSettings(Protocol):
    """The settings a shared index is configured by (`indexer.config.Settings` has them)."""

    shared_index: str
    shared_index_options: dict[str, str]
    shared_index_refresh_s: float


@dataclass(frozen=True, slots=True)
class SharedLocation:
    """A parsed `shared_index` setting. Build with `parse()`.

    `target` is a `Path` for a folder (a Cairn home, or its `index` folder: `index_target()`
    tells), a URI string for object storage.
    """

    target: Path | str
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str, options: Mapping[str, str] | None = None) -> SharedLocation:
        """Read a setting value: an `s3://bucket/prefix` URI, or a folder — a Cairn home that
        another Cairn indexes (its `index` subfolder is used) or that index folder itself."""
        value = value.strip()
        if not value:
            raise UserInputError("The shared index location is empty.")
        opts = {str(k): str(v) for k, v in (options or {}).items()}
        scheme = urlsplit(value).scheme.lower()
        if scheme in REMOTE_SCHEMES:
            if not urlsplit(value).netloc:
                raise UserInputError(f"{value!r} names no bucket.",
                                     hint="Write it as s3://bucket/path/to/index.")
            return cls(value.rstrip("/"), opts)
        if scheme == "file":
            value = urlsplit(value).path
        elif len(scheme) > 1:  # one letter is a Windows drive
            raise UserInputError(f"Cairn cannot read a shared index at {value!r}.",
                                 hint="Use a folder or an s3:// URI.")
        return cls(Path(value).expanduser(), opts)

    def index_target(self) -> Path | str:
        """What to open: for a folder that is a Cairn home, its `index` folder. Touches the
        file system (a dead network mount may block here), so call it on a worker thread."""
        folder = self.target
        if isinstance(folder, Path) and (folder / "index" / "meta.lance").is_dir():
            return folder / "index"
        return folder

    @property
    def remote(self) -> bool:
        return isinstance(self.target, str)

    @property
    def storage_options(self) -> dict[str, str] | None:
        """What LanceDB's `storage_options` receive (None for a folder: nothing to configure)."""
        return dict(self.options) if self.remote and self.options else None

    def endpoint(self) -> tuple[str, int] | None:
        """The host and port reads go to, or None for a folder (the operating system reaches a
        network share; Cairn opens no socket for it)."""
        if not isinstance(self.target, str):
            return None
        parts = urlsplit(self.target)
        scheme = parts.scheme.lower()
        explicit = _lookup(self.options, _ENDPOINT_KEYS, _ENDPOINT_ENV)
        if explicit:
            url = urlsplit(explicit if "://" in explicit else f"https://{explicit}")
            port = url.port or (80 if url.scheme == "http" else 443)
            return (url.hostname or "", port)
        if scheme.startswith("s3"):
            region = _lookup(self.options, _REGION_KEYS, _REGION_ENV) or "us-east-1"
            return (f"s3.{region}.amazonaws.com", 443)
        if scheme == "gs":
            return ("storage.googleapis.com", 443)
        account = _lookup(self.options, ("azure_storage_account_name", "account_name"),
                          ("AZURE_STORAGE_ACCOUNT_NAME",))
        return (f"{account or parts.netloc}.blob.core.windows.net", 443)

    def describe(self) -> str:
        """One line for people: where searches read from (never an option's value)."""
        where = self.target if isinstance(self.target, str) else str(self.target)
        endpoint = self.endpoint()
        at = f" at {endpoint[0]}:{endpoint[1]}" if endpoint else ""
        return f"{where}{at} — searches read from there (read-only)"


def _lookup(options: Mapping[str, str], keys: tuple[str, ...], env: tuple[str, ...]) -> str:
    lowered = {k.lower(): v for k, v in options.items()}
    for key in keys:
        if lowered.get(key):
            return lowered[key]
    for name in env:
        if os.environ.get(name):
            return os.environ[name]
    return ""


def shared_location(settings: SharedIndexSettings) -> SharedLocation | None:
    """The parsed `shared_index` setting, or None when no shared index is configured."""
    if not settings.shared_index.strip():
        return None
    return SharedLocation.parse(settings.shared_index, settings.shared_index_options)


def shared_index_endpoint(settings: SharedIndexSettings) -> tuple[str, int] | None:
    """The one (host, port) a configured shared index makes Cairn reach, for the egress guard's
    allow-list and the privacy statement; None without a shared index or for a folder."""
    location = shared_location(settings)
    return location.endpoint() if location else None
