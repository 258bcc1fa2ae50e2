"""The chat model inside the installer (a step of `build.py`).

The default build is the **offline installer**: it carries the default chat model, so the app
answers on first launch with no network. The build takes the model from where `uv sync` put it —
the model's part packages, joined and checked against the catalog's sha256
(`models.provisioning`) — and fails loudly when they are missing, rather than shipping an app
that cannot answer. `--with-model PATH.gguf` bundles another file instead; `--slim` bundles none.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from installers import log

REPO = Path(__file__).resolve().parent.parent


def packaging_models_dir() -> Path:
    """Where the build keeps models it assembled from part packages (reused by later builds)."""
    return Path(
        os.environ.get("CAIRN_PACKAGING_MODELS", Path.home() / ".cache" / "cairn-packaging-models")
    )


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def default_chat_model() -> tuple[str, Path]:
    """The default chat model's catalog id and its verified GGUF, joined from the installed part
    packages; SystemExit saying what to do when they are not installed or do not match."""
    sys.path.insert(0, str(REPO))
    from models.catalog import CATALOG, DEFAULT_CHAT_MODEL
    from models.errors import ModelUnavailableError
    from models.provisioning import resolve_chat_model

    spec = CATALOG[DEFAULT_CHAT_MODEL]
    log(f"default chat model: {spec.display_name} ({mb(spec.size_bytes)}), from its part packages")
    try:
        path = resolve_chat_model(DEFAULT_CHAT_MODEL, packaging_models_dir())
    except ModelUnavailableError as exc:
        raise SystemExit(
            f"[build] cannot bundle the default chat model: {exc}\n"
            f"[build] {exc.hint or ''}\n"
            "[build] The offline installer needs it: run `uv sync` (the part packages are "
            f"project dependencies: {', '.join(spec.packages[:2])}, …), or build "
            "`--with-model PATH.gguf`, or `--slim` for installers without a chat model."
        ) from exc
    return spec.id, path


def bundle_model(gguf: Path, dest_dir: Path) -> dict[str, Any]:
    """Copy a GGUF into the app's models folder, named and stamped the way the app expects.

    A file matching a catalog entry (by sha256) is stored under the catalog's file name with a
    `<file>.sha256` stamp (models.integrity format), so the app trusts it with one `stat()`.
    Its mtime is set to a whole second so tar/deb/zip keep it exactly and the stamp stays valid.
    """
    sys.path.insert(0, str(REPO))
    from models.catalog import CATALOG
    from models.integrity import write_stamp

    gguf = gguf.expanduser().resolve()
    with gguf.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise SystemExit(f"--with-model: {gguf} is not a GGUF file")
    log(f"hashing {gguf.name} ({mb(gguf.stat().st_size)}) …")
    digest = sha256_of(gguf)
    spec = next((s for s in CATALOG.values() if s.role == "chat" and s.sha256 == digest), None)
    name = spec.file_name if spec is not None else gguf.name
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / name
    log(
        f"bundling it as {target}" + (f" (catalog: {spec.id})" if spec else " (not in the catalog)")
    )
    shutil.copyfile(gguf, target)
    whole = int(gguf.stat().st_mtime)
    os.utime(target, ns=(whole * 1_000_000_000, whole * 1_000_000_000))
    write_stamp(target, digest)
    info = {
        "file": name,
        "bytes": target.stat().st_size,
        "sha256": digest,
        "catalog_id": spec.id if spec else None,
    }
    (dest_dir / "bundled-models.json").write_text(json.dumps([info], indent=2), encoding="utf-8")
    return info


def unbundle(dest_dir: Path) -> None:
    """Remove a bundled model folder (a slim build reusing a dist folder must not ship one)."""
    if dest_dir.exists():
        shutil.rmtree(dest_dir)
