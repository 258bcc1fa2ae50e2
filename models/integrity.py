"""sha256 checks and the sidecar stamps that let Cairn verify a model file only once.

A stamp `<file>.sha256` (JSON: sha256, size, mtime_ns) is written right after a file was hashed
and found correct. Later checks compare size and mtime with the stamp instead of rereading the
file, so a 1.1 GB model costs a `stat()` per start, not seconds of hashing. Any change to the file
(size or mtime) voids the stamp.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from models.catalog import ModelSpec
from models.errors import ModelCancelled

# Big enough that per-call overhead vanishes, small enough to keep memory flat.
BUFFER_BYTES = 4 * 1024 * 1024


def stamp_path(path: Path) -> Path:
    """Where the stamp of `path` lives."""
    return path.with_name(path.name + ".sha256")


def hash_file(path: Path, cancel: threading.Event | None = None) -> str:
    """sha256 of a file, streamed in large buffers; ModelCancelled if `cancel` gets set."""
    digest = hashlib.sha256()
    buf = bytearray(BUFFER_BYTES)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            if cancel is not None and cancel.is_set():
                raise ModelCancelled(f"Checking {path.name} was cancelled.")
            digest.update(view[:n])
    return digest.hexdigest()


def write_stamp(path: Path, sha256: str) -> None:
    """Record that `path`, as it is now (size and mtime), has been verified to hash to `sha256`."""
    st = path.stat()
    record = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    stamp = stamp_path(path)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, stamp)


def stamp_matches(path: Path, sha256: str) -> bool:
    """True if a stamp vouches for `path` having `sha256` and the file has not changed since."""
    try:
        record = json.loads(stamp_path(path).read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == sha256
        and record.get("size") == st.st_size
        and record.get("mtime_ns") == st.st_mtime_ns
    )


def is_verified(path: Path, spec: ModelSpec, *, rehash_unstamped: bool = False) -> bool:
    """Whether `path` holds exactly `spec`'s bytes.

    Trusts a matching stamp. Without one, a file of the right size is hashed only when
    `rehash_unstamped` is set (and stamped on success), so status checks stay instant.
    """
    try:
        if path.stat().st_size != spec.size_bytes:
            return False
    except OSError:
        return False
    if stamp_matches(path, spec.sha256):
        return True
    if rehash_unstamped and hash_file(path) == spec.sha256:
        write_stamp(path, spec.sha256)
        return True
    return False
