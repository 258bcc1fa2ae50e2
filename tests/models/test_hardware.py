"""Which chat model suits a machine (`models/hardware.py`), and the catalog's download entries.

Pinned, because users choose gigabyte downloads by it:
- CPU features are read from llama.cpp's own report (what it will use), not guessed;
- a small CPU-only machine is recommended the default 1.5B, not a 7B that would take minutes
  per answer; more cores recommend larger models; a GPU that holds a model recommends it;
- a model that does not fit in memory is never recommended while another one fits;
- base (not instruction-tuned) models are never recommended;
- every download-only catalog entry names an exact https file at a pinned revision, with a
  64-hex sha256 and a size, so a download can be verified (`models/download.py`).
"""

from __future__ import annotations

import re

from models.catalog import CATALOG, GEMMA_270M, QWEN_1_5B, specs_for
from models.hardware import (
    GB,
    Machine,
    cpu_flags,
    detect_machine,
    estimate,
    parse_system_info,
    recommend,
)

LLAMA_INFO = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
              "AVX512 = 0 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")


def machine(cores: int = 2, ram_gb: float = 16, features: tuple[str, ...] = ("AVX", "AVX2"),
            gpu_gb: float | None = None) -> Machine:
    return Machine(cores=cores, logical_cpus=cores * 2, ram_bytes=int(ram_gb * GB),
                   cpu_features=features, gpu_offload=gpu_gb is not None,
                   gpu_name="Test GPU" if gpu_gb else None,
                   gpu_memory_bytes=int(gpu_gb * GB) if gpu_gb else None)


def test_cpu_features_come_from_llama_cpps_report() -> None:
    assert parse_system_info(LLAMA_INFO) == ("SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA")
    m = machine(features=parse_system_info(LLAMA_INFO))
    assert m.avx2 and not m.avx512
    assert m.summary() == "2 cores, 16 GB memory, AVX2 (no AVX-512), no GPU"


def test_this_machine_is_detected_without_loading_a_model() -> None:
    m = detect_machine()
    assert m.cores >= 1 and m.logical_cpus >= m.cores
    assert m.ram_bytes is None or m.ram_bytes > 256 * 1024 * 1024
    assert str(m.cores) in m.summary()


def test_a_two_core_laptop_keeps_the_default() -> None:
    best = recommend(machine(cores=2, ram_gb=8))
    assert best.spec.id == QWEN_1_5B.id and best.comfortable
    seven = estimate(CATALOG["qwen2.5-7b-instruct-q4_k_m"], machine(cores=2, ram_gb=8))
    assert not seven.comfortable and seven.first_token_s > 30


def test_more_cores_recommend_a_larger_model() -> None:
    four, eight = recommend(machine(cores=4, ram_gb=16)), recommend(machine(cores=8, ram_gb=32))
    assert QWEN_1_5B.size_bytes < four.spec.size_bytes < eight.spec.size_bytes
    assert four.comfortable and eight.comfortable and eight.spec.source.url


def test_a_gpu_that_holds_the_model_recommends_the_largest() -> None:
    best = recommend(machine(cores=4, ram_gb=16, gpu_gb=12))
    largest = max((s for s in specs_for("chat") if s.instruct), key=lambda s: s.size_bytes)
    assert best.on_gpu and best.spec.id == largest.id


def test_never_a_model_that_does_not_fit_in_memory() -> None:
    small = machine(cores=16, ram_gb=4)
    best = recommend(small)
    assert best.fits and best.spec.size_bytes * 1.2 + GB <= 0.75 * 4 * GB
    assert not estimate(CATALOG["llama-3.1-8b-instruct-q4_k_m"], small).fits


def test_base_models_and_non_commercial_licences_are_never_recommended() -> None:
    assert not GEMMA_270M.instruct
    for m in (machine(cores=1, ram_gb=1), machine(cores=2, ram_gb=2), machine(cores=4),
              machine(cores=6, ram_gb=32), machine(cores=4, gpu_gb=3)):
        best = recommend(m).spec
        assert best.instruct and "non-commercial" not in best.license.lower(), (m, best.id)
    assert "non-commercial" in CATALOG["qwen2.5-3b-instruct-q4_k_m"].license.lower()


def test_download_entries_name_a_pinned_file_and_its_hash() -> None:
    downloads = [s for s in specs_for("chat") if not s.source.parts]
    assert len(downloads) >= 3
    for spec in downloads:
        url = spec.source.url or ""
        assert re.fullmatch(r"https://huggingface\.co/[\w.-]+/[\w.-]+/resolve/[0-9a-f]{40}/"
                            + re.escape(spec.file_name), url), url
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256) and spec.size_bytes > GB
        assert spec.license and spec.instruct


def test_cpu_flags_are_the_processors_own() -> None:
    """The processor's flags, read from /proc/cpuinfo text (the hardware panel and the
    benchmarks share this reader); a machine without that file has none, and then the
    AVX answers fall back to llama.cpp's report."""
    text = "processor\t: 0\nflags\t\t: fpu sse avx avx2 avx512f fma\n\nprocessor\t: 1\n"
    assert cpu_flags(text) == frozenset({"fpu", "sse", "avx", "avx2", "avx512f", "fma"})
    assert cpu_flags("processor\t: 0\n") == frozenset()
    m = Machine(cores=2, logical_cpus=2, ram_bytes=None, cpu_features=("AVX",),
                gpu_offload=False, cpu_flags=cpu_flags(text))
    assert m.cpu_avx2 and m.cpu_avx512 and not m.avx2  # the CPU has it; this build does not
    assert machine(features=("AVX", "AVX2")).cpu_avx2  # no flags: llama.cpp's report
    assert not machine(features=("AVX", "AVX2")).cpu_avx512
