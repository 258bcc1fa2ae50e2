"""Replaces pyinstaller-hooks-contrib's pyarrow hook: the same collection minus Arrow Flight and
the C/Cython sources. The stock hook takes every pyarrow submodule and shared library; Flight
(libarrow_flight + libarrow_python_flight, ~35 MB) is an RPC framework nothing in Cairn or LanceDB
imports, and the headers/.pyx/.pxd files (~6 MB) are only for compiling against pyarrow.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bundle_plan as plan
from PyInstaller.utils.hooks import (
    collect_data_files,
    collect_dynamic_libs,
    collect_submodules,
)

# (pkgutil also reports pyarrow's bundled `libarrow_python_flight.so` as a "module", hence the
# name test rather than only the exclusion list.)
hiddenimports = collect_submodules(
    "pyarrow",
    filter=lambda name: "tests" not in name and "flight" not in name and not plan.is_excluded(name),
)
# collect_data_files also returns the versioned libraries (libarrow_flight.so.2600 is not a name
# PyInstaller recognises as a binary), so Flight is filtered here as well.
datas = [
    entry
    for entry in collect_data_files("pyarrow")
    if not entry[0].endswith((".h", ".hpp", ".pxd", ".pyx", ".pxi", ".cc", ".cpp", ".txt"))
    and "flight" not in os.path.basename(entry[0])
    and "/include/" not in entry[0].replace("\\", "/")
    and "/tests/" not in entry[0].replace("\\", "/")
]
binaries = [
    entry for entry in collect_dynamic_libs("pyarrow") if "flight" not in os.path.basename(entry[0])
]
