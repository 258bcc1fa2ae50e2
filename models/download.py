"""The one user-started network path: downloading a model file over HTTP(S).

Cairn is offline by default (see `models.offline`); a download is the single, explicit exception
and opens the network only for its own duration. The download is resumable (an existing
`.partial` is continued with a Range request), cancellable between buffers, checked against the
expected sha256 and renamed into place atomically, so an interrupted or corrupted transfer never
leaves a file that looks complete. Only the standard library is used: one less dependency that
could phone home on its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.client import HTTPException, HTTPMessage, HTTPResponse
from pathlib import Path
from typing import BinaryIO

from models.catalog import ModelSpec
from models.errors import ModelCancelled, ModelError, ModelUnavailableError
from models.integrity import BUFFER_BYTES, stamp_matches, write_stamp

Progress = Callable[[int, int], None]

_READ_BYTES = 1024 * 1024
_USER_AGENT = "Cairn/0.1 (model download)"
LOG_NAME = "downloads.jsonl"  # in the models folder: every network use the user started


def log_download(models_dir: Path, url: str, file_name: str, outcome: str, done: int) -> None:
    """Append one line to the download log that `cairn privacy` and the GUI show.

    The guard's own counters die with the process; this log is how a user sees, later, every
    time Cairn used the network and where to: the host, the file, the bytes, the outcome.
    """
    entry = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": urllib.parse.urlsplit(url).netloc,
             "url": url, "file": file_name, "bytes": done, "outcome": outcome}
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        with (models_dir / LOG_NAME).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
    except OSError:  # a read-only models folder must not turn a good download into a failure
        pass


def read_download_log(models_dir: Path) -> list[dict[str, object]]:
    """The download log's entries, oldest first (unreadable lines skipped)."""
    try:
        lines = (models_dir / LOG_NAME).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out: list[dict[str, object]] = []
    for line in lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                out.append(entry)
    return out


@contextlib.contextmanager
def _network_allowed(reason: str) -> Iterator[None]:
    """Open the egress guard for this download only.

    `models.offline` owns the guard. It is imported lazily so importing this module never
    touches it; a no-op is used only if that module does not exist at all.
    """
    try:
        from models.offline import allow_network
    except ModuleNotFoundError as exc:
        if exc.name != "models.offline":
            raise
        yield
        return
    with allow_network(reason=reason):
        yield


def _expected_total(headers: HTTPMessage, offset: int, fallback: int) -> int:
    """Total file size implied by the response (body length + resume offset), else `fallback`."""
    length = headers.get("Content-Length")
    try:
        return offset + int(length) if length is not None else fallback
    except ValueError:
        return fallback


def _hash_existing(path: Path, digest: hashlib._Hash, upto: int) -> None:
    """Feed the first `upto` bytes of an existing partial file into `digest` (for a resume)."""
    buf = bytearray(BUFFER_BYTES)
    view = memoryview(buf)
    remaining = upto
    with path.open("rb", buffering=0) as fh:
        while remaining > 0 and (n := fh.readinto(buf)):
            n = min(n, remaining)
            digest.update(view[:n])
            remaining -= n


def _copy_body(
    response: HTTPResponse,
    out: BinaryIO,
    digest: hashlib._Hash,
    done: int,
    total: int,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> int:
    """Stream the response body to `out`; returns the byte count written so far (in total)."""
    while True:
        if cancel is not None and cancel.is_set():
            raise ModelCancelled("The download was cancelled; run it again to resume.")
        chunk = response.read(_READ_BYTES)
        if not chunk:
            return done
        out.write(chunk)
        digest.update(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)


def _open(url: str, offset: int, timeout: float) -> tuple[HTTPResponse, int]:
    """Open `url`, asking for the bytes from `offset` on; returns (response, start offset).

    The start offset is where the body begins: `offset` if the server honoured the Range
    request, 0 if it sent the whole file.
    """
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    response: HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
    if offset and response.status == 206:
        match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == offset:
            return response, offset
        response.close()
        raise ModelError(
            f"The server answered the resume request with an unexpected range "
            f"({response.headers.get('Content-Range')!r}).",
            hint="Delete the .partial file and download again.",
        )
    return response, 0


def download_model(
    spec_or_url: ModelSpec | str,
    dest_dir: Path,
    sha256: str | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    *,
    file_name: str | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download a catalog model (or any HTTP(S) URL) into `dest_dir`, verified and atomic.

    For a ModelSpec the URL, file name and sha256 come from the catalog. For a bare URL give
    `sha256` (strongly advised; without it the file is only checked for completeness) and
    optionally `file_name` (default: the URL's last path segment). An existing
    `<file>.partial` is resumed. On cancel or a dropped connection the partial file is kept for
    the next attempt; on a checksum mismatch it is deleted. Returns the final path.
    """
    if isinstance(spec_or_url, ModelSpec):
        spec = spec_or_url
        if not spec.source.url:
            raise ModelUnavailableError(
                f"{spec.display_name} has no download address.",
                hint="Install its packages instead (see `cairn models`).",
            )
        url, name, expected, known_size = (
            spec.source.url,
            spec.file_name,
            sha256 or spec.sha256,
            spec.size_bytes,
        )
    else:
        url, expected, known_size = spec_or_url, sha256, 0
        name = file_name or Path(urllib.parse.urlsplit(url).path).name
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ModelError(f"Only http(s) downloads are supported, not {url!r}.")
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ModelError(f"Cannot tell a file name from {url!r}.", hint="Pass file_name=.")

    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / name
    if expected and stamp_matches(final, expected):
        return final
    sizes = {"done": 0}

    def counted(done: int, total: int) -> None:
        sizes["done"] = done
        if progress is not None:
            progress(done, total)

    try:
        path = _fetch(url, final, expected, known_size, counted, cancel, timeout)
    except ModelCancelled:
        log_download(dest_dir, url, name, "cancelled", sizes["done"])
        raise
    except ModelError as exc:
        log_download(dest_dir, url, name, f"failed: {exc}", sizes["done"])
        raise
    log_download(dest_dir, url, name, "ok, sha256 checked" if expected else "ok", sizes["done"])
    return path


def _fetch(url: str, final: Path, expected: str | None, known_size: int,
           progress: Progress | None, cancel: threading.Event | None, timeout: float) -> Path:
    """The transfer itself: resume, stream, check, rename (see `download_model`)."""
    name = final.name
    partial = final.with_name(final.name + ".partial")
    offset = partial.stat().st_size if partial.exists() else 0

    digest = hashlib.sha256()
    response: HTTPResponse | None
    done = 0
    with _network_allowed(reason=f"user-started download of {name}"):
        try:
            response, start = _open(url, offset, timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and offset:  # nothing left to send: the partial may be complete
                response, start = None, offset
                _hash_existing(partial, digest, offset)
                done = offset
            else:
                raise ModelUnavailableError(
                    f"Downloading {name} failed: HTTP {exc.code} {exc.reason}.",
                    hint="Check the address, or try again later.",
                ) from exc
        except (urllib.error.URLError, OSError, HTTPException) as exc:
            raise ModelUnavailableError(
                f"Could not reach {urllib.parse.urlsplit(url).netloc}: {exc}.",
                hint="Check the internet connection; downloads resume where they stopped.",
            ) from exc
        if response is not None:
            with response:
                total = _expected_total(response.headers, start, known_size)
                if start:
                    _hash_existing(partial, digest, start)
                with partial.open("r+b" if start else "wb") as out:
                    out.seek(start)
                    out.truncate()
                    try:
                        done = _copy_body(response, out, digest, start, total, progress, cancel)
                    except (OSError, HTTPException) as exc:
                        raise ModelUnavailableError(
                            f"The download of {name} was interrupted: {exc}.",
                            hint="Run the download again; it resumes where it stopped.",
                        ) from exc
                    out.flush()
                    os.fsync(out.fileno())
                if total and done < total:
                    raise ModelUnavailableError(
                        f"The download of {name} stopped early ({done} of {total} bytes).",
                        hint="Run the download again; it resumes where it stopped.",
                    )

    actual = digest.hexdigest()
    if (expected and actual != expected) or (known_size and done != known_size):
        partial.unlink(missing_ok=True)
        raise ModelUnavailableError(
            f"The downloaded {name} does not match its checksum (got {actual[:12]}…, "
            f"expected {(expected or '?')[:12]}…); it was deleted.",
            hint="Try again; if it keeps failing the file on the server differs from the catalog.",
        )
    os.replace(partial, final)
    write_stamp(final, actual)
    return final
