"""The machine a benchmark ran on, for its JSON: CPU model, cores, the SIMD flags that decide
ONNX Runtime's and llama.cpp's speed (AVX2, AVX-512), Python, and the load while it ran."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # some benchmarks add only bench/

from models.hardware import cpu_flags  # the core's one /proc/cpuinfo flag reader


def cpu_info() -> dict[str, Any]:
    model, flags = platform.processor(), cpu_flags()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(),
            "avx2": "avx2" in flags, "avx512": sorted(f for f in flags if f.startswith("avx512")),
            "python": platform.python_version(),
            "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
