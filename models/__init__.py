"""Qt-free model runtimes and the model catalog (embedder, generator, fakes, provisioning).

`models` imports neither `indexer` nor Qt. The names below are resolved lazily (PEP 562) so that
`import models.offline` (the egress guard, which must be installed before heavy dependencies
load) does not pull in numpy or anything else through this package's `__init__`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "ModelHub": "models.hub",
    "ModelState": "models.hub",
    "ModelSpec": "models.catalog",
    "CATALOG": "models.catalog",
    "DEFAULT_CHAT_MODEL": "models.catalog",
    "DEFAULT_EMBEDDER": "models.catalog",
    "get_spec": "models.catalog",
    "Embedder": "models.embedder",
    "FakeEmbedder": "models.embedder",
    "Generator": "models.generator",
    "FakeGenerator": "models.generator",
    "GenerationStats": "models.generator",
    "ModelError": "models.errors",
    "ModelUnavailableError": "models.errors",
    "ModelLoadError": "models.errors",
    "ModelCancelled": "models.errors",
}

__all__ = [  # noqa: RUF022 (grouped as in _EXPORTS)
    "ModelHub",
    "ModelState",
    "ModelSpec",
    "CATALOG",
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBEDDER",
    "get_spec",
    "Embedder",
    "FakeEmbedder",
    "Generator",
    "FakeGenerator",
    "GenerationStats",
    "ModelError",
    "ModelUnavailableError",
    "ModelLoadError",
    "ModelCancelled",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
