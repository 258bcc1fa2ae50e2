"""What this machine can run: cores, memory, CPU features, GPU; and which chat model fits it.

The model settings show this so a user with the hardware can choose a better model than the
default, knowing its size and about how fast it will answer before downloading gigabytes. The
CPU features are the ones llama.cpp itself reports it was built for and will use (its
`llama_print_system_info`), not a guess from the CPU name; the GPU is what this llama.cpp build
can offload to. Nothing here touches the network or loads a model.

Speed estimates are scaled from measurements, not promised: Cairn's own answers with the 1.5B
on this project's 2-core AVX2 EPYC (dev-split eval runs, docs/quality.md) prefilled at 53–58
tokens/s and decoded at 16–19 tokens/s, as llama.cpp's own counters report. The estimates use
54 and a conservative 12. Decoding is memory-bandwidth bound and grows with cores until memory
saturates; prefill is compute bound and grows with cores and AVX-512; both scale inversely with
the model's size. They are rounded and labelled "about" wherever they are shown.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from models.catalog import ModelSpec, specs_for
from models.generator import physical_cores

GB = 1024**3
# Calibration (PERFORMANCE.md, this project's 2-core AVX2 machine).
_DECODE_BYTES_PER_S_PER_CORE = 6.7e9  # 1.117 GB × 12 tokens/s / 2 cores
_DECODE_MAX_CORES = 8  # beyond this, memory bandwidth, not cores, limits decoding on laptops
_PREFILL_TOKENS_S_1_5B_PER_CORE = 27.0  # ~54 tokens/s on 2 cores for the 1.5B (1.117 GB)
_AVX512_PREFILL = 1.5
_GPU_DECODE_TOKENS_S = 40.0  # conservative consumer-GPU figures for models that fit its memory
_GPU_PREFILL_TOKENS_S = 1000.0
# What a good answer needs: the first token of a ~600-token prompt (new tokens; the system
# prompt is cached) in ≤ 20 s, then ≥ 8 tokens/s — about what the default gives on 2 cores.
TYPICAL_PROMPT_TOKENS = 600
MAX_FIRST_TOKEN_S = 20.0
MIN_DECODE_TOKENS_S = 8.0


@dataclass(frozen=True)
class Machine:
    """The parts of this computer that decide which model it can run, and how fast."""

    cores: int  # physical cores llama.cpp will use
    logical_cpus: int
    ram_bytes: int | None
    cpu_features: tuple[str, ...]  # as llama.cpp reports them, e.g. ("AVX", "AVX2", "FMA")
    gpu_offload: bool  # this llama.cpp build can put layers on a GPU
    gpu_name: str | None = None
    gpu_memory_bytes: int | None = None
    # The processor's own flags (`cpu_flags()`): what it has, whatever llama.cpp was built for.
    cpu_flags: frozenset[str] = frozenset()

    @property
    def avx2(self) -> bool:
        return "AVX2" in self.cpu_features

    @property
    def avx512(self) -> bool:
        return any(f.startswith("AVX512") for f in self.cpu_features)

    @property
    def cpu_avx2(self) -> bool:
        """The processor has AVX2 (its flags; llama.cpp's report where the OS gives none)."""
        return "avx2" in self.cpu_flags if self.cpu_flags else self.avx2

    @property
    def cpu_avx512(self) -> bool:
        """The processor has AVX-512 (its flags; llama.cpp's report where the OS gives none)."""
        if self.cpu_flags:
            return any(f.startswith("avx512") for f in self.cpu_flags)
        return self.avx512

    def summary(self) -> str:
        """One line a person reads: "4 cores, 16 GB memory, AVX2 (no AVX-512), no GPU"."""
        ram = f"{self.ram_bytes / GB:.0f} GB memory" if self.ram_bytes else "memory unknown"
        simd = ("AVX-512" if self.avx512 else "AVX2 (no AVX-512)" if self.avx2
                else "no AVX2")
        if self.gpu_offload:
            gpu = self.gpu_name or "a GPU"
            if self.gpu_memory_bytes:
                gpu += f" ({self.gpu_memory_bytes / GB:.0f} GB)"
        else:
            gpu = "no GPU in use" if self.gpu_name else "no GPU"
        return f"{self.cores} cores, {ram}, {simd}, {gpu}"

    def as_dict(self) -> dict[str, object]:
        return {
            "cores": self.cores, "logical_cpus": self.logical_cpus,
            "ram_bytes": self.ram_bytes, "cpu_features": list(self.cpu_features),
            "avx2": self.avx2, "avx512": self.avx512, "gpu_offload": self.gpu_offload,
            "gpu_name": self.gpu_name, "gpu_memory_bytes": self.gpu_memory_bytes,
        }


def _ram_bytes() -> int | None:
    """Physical memory: sysconf on Linux/macOS, GlobalMemoryStatusEx on Windows."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        pass
    if sys.platform == "win32":
        class _Status(ctypes.Structure):
            _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                        ("ullTotalPhys", ctypes.c_ulonglong),
                        ("ullAvailPhys", ctypes.c_ulonglong),
                        ("ullTotalPageFile", ctypes.c_ulonglong),
                        ("ullAvailPageFile", ctypes.c_ulonglong),
                        ("ullTotalVirtual", ctypes.c_ulonglong),
                        ("ullAvailVirtual", ctypes.c_ulonglong),
                        ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

        status = _Status()
        status.dwLength = ctypes.sizeof(_Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.ullTotalPhys)
    return None


def parse_system_info(text: str) -> tuple[str, ...]:
    """CPU features switched on in llama.cpp's system-info line ("AVX2 = 1 | FMA = 1 | …")."""
    return tuple(name for name, on in re.findall(r"([A-Z][A-Z0-9_]*) = (\d)", text)
                 if on != "0" and name not in ("LLAMAFILE", "OPENMP", "REPACK"))


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The processor's feature flags ("avx2", "avx512f", "fma", …) as Linux lists them in
    /proc/cpuinfo (or in `cpuinfo`, its text); empty where there is no such file (macOS,
    Windows) or it cannot be read.

    What the CPU has, whichever llama.cpp build is installed (`_cpu_features` says what that
    build uses): a CPU with AVX2 under a build without it is worth telling the user about. One
    reader for the settings' hardware panel and the benchmarks' machine records. Cheap (one
    small file read, no import), so the GUI may call it anywhere.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    line = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    return frozenset(line.group(1).split()) if line else frozenset()


def _cpu_features() -> tuple[str, ...]:
    """llama.cpp's own report; /proc/cpuinfo flags when llama.cpp cannot be imported."""
    try:
        import llama_cpp

        return parse_system_info(llama_cpp.llama_print_system_info().decode(errors="replace"))
    except Exception:  # noqa: BLE001, S110 - a broken llama.cpp must not hide the machine
        pass
    flags = cpu_flags()
    names = {"avx": "AVX", "avx2": "AVX2", "fma": "FMA", "f16c": "F16C", "avx512f": "AVX512"}
    return tuple(v for k, v in names.items() if k in flags)


def _gpu_offload() -> bool:
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # noqa: BLE001
        return False


def _gpu_name_memory() -> tuple[str | None, int | None]:
    """NVIDIA via nvidia-smi (local, 3 s limit); Apple Silicon shares the system memory."""
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "Apple GPU (Metal)", _ram_bytes()
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None, None
    try:
        out = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=3, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    first = out.strip().splitlines()[0] if out.strip() else ""
    name, _, mib = first.rpartition(",")
    try:
        return name.strip() or None, int(float(mib)) * 1024 * 1024
    except ValueError:
        return first or None, None


def detect_machine() -> Machine:
    """This computer, as Cairn's model choice sees it (fast: no model is loaded)."""
    gpu_name, gpu_memory = _gpu_name_memory()
    return Machine(
        cores=physical_cores(),
        logical_cpus=os.cpu_count() or 1,
        ram_bytes=_ram_bytes(),
        cpu_features=_cpu_features(),
        gpu_offload=_gpu_offload(),
        gpu_name=gpu_name,
        gpu_memory_bytes=gpu_memory,
        cpu_flags=cpu_flags(),
    )


@dataclass(frozen=True)
class ModelFit:
    """How one chat model would run on a machine."""

    spec: ModelSpec
    fits: bool  # enough memory to load it
    on_gpu: bool
    decode_tokens_s: float
    prefill_tokens_s: float
    reason: str

    @property
    def first_token_s(self) -> float:
        """About how long a typical question waits for the first word."""
        return TYPICAL_PROMPT_TOKENS / self.prefill_tokens_s

    @property
    def comfortable(self) -> bool:
        return (self.fits and self.first_token_s <= MAX_FIRST_TOKEN_S
                and self.decode_tokens_s >= MIN_DECODE_TOKENS_S)

    def describe(self) -> str:
        where = "on the GPU" if self.on_gpu else "on the CPU"
        return (f"{self.spec.size_bytes / GB:.1f} GB; about {self.decode_tokens_s:.0f} tokens/s "
                f"{where}, first words after about {self.first_token_s:.0f} s")


def estimate(spec: ModelSpec, machine: Machine) -> ModelFit:
    """Memory fit and rough speed of `spec` on `machine` (see the module docstring)."""
    need = spec.size_bytes * 1.2 + 1.0 * GB  # weights + KV cache/runtime, plus Cairn itself
    on_gpu = bool(machine.gpu_offload and machine.gpu_memory_bytes
                  and spec.size_bytes * 1.2 <= machine.gpu_memory_bytes)
    fits = machine.ram_bytes is None or need <= 0.75 * machine.ram_bytes or on_gpu
    if on_gpu:
        decode, prefill = _GPU_DECODE_TOKENS_S, _GPU_PREFILL_TOKENS_S
    else:
        cores = max(1, machine.cores)
        decode = _DECODE_BYTES_PER_S_PER_CORE * min(cores, _DECODE_MAX_CORES) / spec.size_bytes
        prefill = (_PREFILL_TOKENS_S_1_5B_PER_CORE * cores * 1.117e9 / spec.size_bytes
                   * (_AVX512_PREFILL if machine.avx512 else 1.0))
        if not machine.avx2:
            decode, prefill = decode / 2, prefill / 3
    if not fits:
        reason = (f"needs about {need / GB:.0f} GB of memory; this machine has "
                  f"{(machine.ram_bytes or 0) / GB:.0f} GB")
    elif on_gpu:
        reason = "fits the GPU's memory"
    else:
        reason = "fits in memory" if decode >= MIN_DECODE_TOKENS_S else "fits, but slow here"
    return ModelFit(spec, fits, on_gpu, decode, prefill, reason)


def recommend(machine: Machine, specs: list[ModelSpec] | None = None) -> ModelFit:
    """The largest chat model that runs comfortably here; the smallest that fits otherwise.

    "Comfortably": first words of a typical question within `MAX_FIRST_TOKEN_S` and at least
    `MIN_DECODE_TOKENS_S` tokens/s. Only instruction-tuned catalog models are candidates (a
    base model answers badly however fast it runs), and none whose licence forbids commercial
    use: a team following the recommendation must not walk into a licence it cannot use (such
    models stay listed, with their licence, for people who choose them).
    """
    candidates = [s for s in (specs if specs is not None else specs_for("chat"))
                  if s.instruct and "non-commercial" not in s.license.lower()]
    fits = sorted((estimate(s, machine) for s in candidates), key=lambda f: f.spec.size_bytes)
    comfortable = [f for f in fits if f.comfortable]
    if comfortable:
        return comfortable[-1]
    loadable = [f for f in fits if f.fits]
    return loadable[0] if loadable else fits[0]
