"""The model layer as the GUI and the CLI see it, besides a `KnowledgeBase`.

DESIGN: the GUI and the CLI reach `models` only through the core (an import-linter contract
checks it). What they need without an open knowledge base — the offline guard, the model
catalog, which models are installed, assembling or downloading one — is re-exported here, so
`models` stays an implementation detail of `indexer`.

Importing this module is cheap (the guard and the catalog are standard-library only): the GUI
calls `set_offline_env()` from here before anything else is imported. Provisioning (hashing,
assembling, downloading) is imported on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.catalog import CATALOG, ModelSpec, get_spec, specs_for
from models.errors import ModelError
from models.offline import (
    GUARD_COVERS,
    GUARD_DOES_NOT_COVER,
    NATIVE_OFF_ENV,
    GuardStatus,
    guard_status,
    install_egress_guard,
    set_offline_env,
)

if TYPE_CHECKING:
    from models.hardware import Machine, ModelFit
    from models.provisioning import ModelStatus

__all__ = [
    "CATALOG",
    "GUARD_COVERS",
    "GUARD_DOES_NOT_COVER",
    "NATIVE_OFF_ENV",
    "GuardStatus",
    "ModelError",
    "ModelSpec",
    "check_endpoint",
    "download_model",
    "endpoint_address",
    "get_spec",
    "guard_status",
    "install_egress_guard",
    "machine_fits",
    "model_server_address",
    "model_status",
    "read_download_log",
    "resolve_chat_model",
    "set_offline_env",
    "specs_for",
]


def model_status(models_dir: Path, model_ids: Sequence[str] | None = None) -> list[ModelStatus]:
    """Per catalog model: ready on disk, assemblable from installed packages, or missing."""
    from models.provisioning import model_status as status

    return status(models_dir, model_ids)


def resolve_chat_model(
    model: str,
    models_dir: Path,
    assemble: bool = True,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """The GGUF file for `model`: a catalog id (assembled from its packages) or a .gguf path."""
    from models.provisioning import resolve_chat_model as resolve

    return resolve(model, models_dir, assemble, progress, cancel)


def download_model(
    spec: ModelSpec | str,
    dest_dir: Path,
    sha256: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download a catalog model from its publisher: the only thing that opens the network."""
    from models.provisioning import download_model as download

    return download(spec, dest_dir, sha256, progress, cancel)


def endpoint_address(url: str) -> tuple[str, int]:
    """(host, port) of a model server's URL; `ModelError` in the user's words if it is none."""
    from models.remote_generator import endpoint_address as address

    return address(url)


def model_server_address(settings: Any) -> str | None:
    """"host:port" of the team model server answers come from, None when they are written
    here: what the window and `cairn privacy` show before the first question."""
    if settings.generator_backend != "server" or not settings.chat_endpoint.strip():
        return None
    host, port = endpoint_address(settings.chat_endpoint)
    return f"{host}:{port}"


def check_endpoint(url: str, model: str, home: Path) -> str:
    """Ask the model server at `url` which model it serves (the user asked to connect to it):
    the egress guard lets exactly that host and port through. Returns the model's name."""
    from indexer.credentials import read_chat_api_key
    from models.hub import remote_reason
    from models.offline import allow_endpoint
    from models.remote_generator import RemoteGenerator

    generator = RemoteGenerator(url, model=model, api_key=read_chat_api_key(home))
    allow_endpoint(generator.host, generator.port, remote_reason(generator.address))
    try:
        generator.load()
    finally:
        generator.close()
    return generator.model_id.split(" @ ", 1)[0]


def read_download_log(models_dir: Path) -> list[dict[str, object]]:
    """Every download the user started, oldest first: when, from which host, what, outcome."""
    from models.download import read_download_log as read

    return read(models_dir)


def machine_fits() -> tuple[Machine, list[ModelFit], ModelFit]:
    """This machine, how each instruction-tuned chat model would run on it, the recommended one.

    Fits are in catalog order; nothing is loaded or downloaded.
    """
    from models.hardware import detect_machine, estimate, recommend

    machine = detect_machine()
    fits = [estimate(s, machine) for s in specs_for("chat") if s.instruct]
    return machine, fits, recommend(machine)


def machine_record() -> dict[str, Any]:
    """What a measurement ran on, for its JSON (`cairn eval run`): cores, the SIMD flags that
    set llama.cpp's and ONNX Runtime's speed (AVX2 vs AVX-512 machines differ several-fold in
    prefill), and the load then: a busy machine inflates latencies."""
    import os
    import platform

    from models.hardware import cpu_flags

    return {"processor": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "cpu_flags": sorted(f for f in cpu_flags() if f.startswith(("avx", "fma", "f16c"))),
            "load_avg": ([round(x, 2) for x in os.getloadavg()]
                         if hasattr(os, "getloadavg") else None)}
