"""About Cairn: versions of Cairn, Python, Qt and the engines, and their licences."""

from __future__ import annotations

import html
import importlib.metadata
import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion

DISTRIBUTIONS = (
    ("Cairn", "cairn"),
    ("llama-cpp-python", "llama-cpp-python"),
    ("LanceDB", "lancedb"),
    ("fastembed", "fastembed"),
    ("ONNX Runtime", "onnxruntime"),
    ("watchdog", "watchdog"),
)
LICENSES = (
    ("Cairn", "Apache-2.0"),
    ("Qt 6 / PySide6", "LGPL-3.0 (dynamically linked)"),
    ("llama.cpp / llama-cpp-python", "MIT"),
    ("LanceDB", "Apache-2.0"),
    ("fastembed", "Apache-2.0"),
    ("ONNX Runtime", "MIT"),
)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    out = {name: _version(dist) for name, dist in DISTRIBUTIONS}
    out["Python"] = platform.python_version()
    out["Qt"] = qVersion()
    out["PySide6"] = pyside_version
    return out


def about_html() -> str:
    from indexer.runtime import CATALOG

    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in versions().items()
    )
    libs = "".join(f"<li>{html.escape(n)}: {html.escape(lic)}</li>" for n, lic in LICENSES)
    models = "".join(
        f"<li>{html.escape(s.display_name)}: {html.escape(s.license)}</li>"
        for s in CATALOG.values()
    )
    return (
        "<h2>Cairn</h2><p>A local-first knowledge assistant: it indexes your folders and answers "
        "questions with citations, using only models that run on this computer.</p>"
        f"<table cellspacing='6'>{rows}</table>"
        f"<p><b>Licences</b></p><ul>{libs}</ul><p><b>Models</b></p><ul>{models}</ul>"
    )
