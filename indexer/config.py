"""Typed settings with defaults and descriptions.

Precedence (lowest first): defaults < `settings.json` in the app home < environment (`CAIRN_…`)
< explicit keyword arguments (command-line flags). pydantic-settings gives the typed env parsing
and validation for free; we only add the JSON file source and an atomic save.

Nothing reads settings at import time: each entry point calls `load_settings()` once (the
composition root) and passes the object down.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from indexer.errors import UserInputError
from indexer.paths import AppPaths, default_home

DEFAULT_EXCLUDES: tuple[str, ...] = (
    # hidden files and folders, VCS and tool caches
    ".*",
    "**/.*",
    "**/.git/**",
    "**/node_modules/**",
    "**/__pycache__/**",
    "**/.venv/**",
    "**/venv/**",
    # build output
    "**/build/**",
    "**/dist/**",
    "**/target/**",
    "**/*.egg-info/**",
    # lock files and minified bundles: large, repetitive, never what people ask about
    "*.lock",
    "package-lock.json",
    "*.min.js",
    "*.min.css",
    "*.map",
    # editor temp files (saves write these first)
    "*~",
    "*.swp",
    "*.tmp",
    "~$*",
)

# Settings whose change invalidates stored chunks or vectors (the GUI warns and rebuilds).
REINDEX_KEYS: frozenset[str] = frozenset(
    {"chunk_tokens", "chunk_overlap_tokens", "embedder_model", "embedder_backend"}
)

# What a change needs (`KnowledgeBase.reconfigure` decides with these):
# settings a running knowledge base reads on every use: changed in place, no reopen needed;
LIVE_KEYS: frozenset[str] = frozenset(
    {
        "top_k",
        "context_passages",
        "min_relevance",
        "second_look",
        "passage_focus",
        "focus_keep",
        "answer_format",
        "worked_examples",
        "strict_numbers",
        "two_part_answers",
        "two_part_follow_up",
        "gate_codes",
        "max_answer_tokens",
        "temperature",
        "include_globs",
        "exclude_globs",
        "max_file_mb",
        "follow_symlinks",
        "collections",
    }
)
# of those, the ones that change which files are indexed: a rescan applies them;
RESCAN_KEYS: frozenset[str] = frozenset(
    {"include_globs", "exclude_globs", "max_file_mb", "follow_symlinks"}
)
# of the REINDEX_KEYS, the ones an index does not detect by itself (the embedder is recorded in
# the store, so a new one triggers the store's own rebuild on open): every file is split again.
CHUNK_KEYS: frozenset[str] = frozenset({"chunk_tokens", "chunk_overlap_tokens"})


def absolute_folders(folders: list[Path]) -> list[Path]:
    """Folders made absolute and resolved, duplicates dropped, order kept."""
    out: list[Path] = []
    for p in folders:
        ap = Path(p).expanduser().resolve()
        if ap not in out:
            out.append(ap)
    return out


class Settings(BaseSettings):
    """All user-tunable knobs. Field descriptions double as help text in the CLI and GUI."""

    model_config = SettingsConfigDict(
        env_prefix="CAIRN_", extra="ignore", validate_assignment=True
    )

    home: Path = Field(default_factory=default_home, description="Where Cairn keeps its index.")
    folders: list[Path] = Field(default_factory=list, description="Folders to index and watch.")
    include_globs: list[str] = Field(
        default_factory=list,
        description="If non-empty, only files matching one of these globs are indexed.",
    )
    exclude_globs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDES),
        description="Files or folders matching these globs are never indexed.",
    )
    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are skipped.")
    follow_symlinks: bool = Field(False, description="Follow symlinks out of watched folders.")

    chunk_tokens: int = Field(200, ge=32, le=256, description="Target chunk size in tokens.")
    chunk_overlap_tokens: int = Field(24, ge=0, le=128, description="Overlap between chunks.")

    embedder_backend: Literal["fastembed", "fake"] = "fastembed"
    embedder_model: str = Field(
        "all-minilm-l6-v2-int8", description="Catalog id or a folder with model.onnx + tokenizer."
    )
    embed_batch_size: int = Field(32, ge=1, le=512)
    embed_threads: int = Field(0, ge=0, description="ONNX threads; 0 = all cores.")

    generator_backend: Literal["llama_cpp", "server", "fake"] = Field(
        "llama_cpp",
        description="Where answers are written: 'llama_cpp' on this machine, 'server' by the "
        "OpenAI-compatible model server at chat_endpoint (your documents' passages are sent "
        "there), 'fake' for tests.",
    )
    chat_model: str = Field(
        "qwen2.5-coder-1.5b-instruct-q4_k_m", description="Catalog id or a path to a .gguf file."
    )
    chat_endpoint: str = Field(
        "",
        description="With generator_backend 'server': the team model server's base URL, e.g. "
        "http://gpu-box.lan:8000/v1 (llama.cpp server, vLLM, Ollama, …). The only host Cairn "
        "then connects to; its API key is kept apart (`cairn models endpoint --api-key-stdin`).",
    )
    chat_endpoint_model: str = Field(
        "", description="The model name to ask the server for; empty = the first it lists."
    )
    n_threads: int = Field(0, ge=0, description="LLM CPU threads; 0 = auto (physical cores).")
    n_gpu_layers: int = Field(-1, ge=-1, description="Layers on GPU; -1 = all if a GPU build.")
    n_ctx: int = Field(4096, ge=512, le=32768, description="LLM context window in tokens.")
    max_answer_tokens: int = Field(384, ge=16, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)

    top_k: int = Field(8, ge=1, le=50, description="Search results / passages considered.")
    context_passages: int = Field(5, ge=1, le=20, description="Passages given to the model.")
    fusion_k: int = Field(
        60, ge=1, le=1000,
        description="Reciprocal-rank-fusion constant of hybrid search: smaller trusts the top of "
        "each ranking more (compare with `cairn eval run --compare`; docs/quality.md).",
    )
    bm25_weight: float = Field(
        1.0, ge=0.0, le=10.0,
        description="Weight of the keyword (BM25) ranking in hybrid search; the semantic "
        "ranking weighs 1.",
    )
    min_relevance: float = Field(
        0.50, ge=0.0, le=1.0,
        description="Best passage cosine below this: answer 'couldn't find' without asking "
        "the model (calibrated on the pydoc dev set: answerable ≥ 0.56, most unanswerable < 0.46).",
    )
    second_look: bool = Field(
        True,
        description="When the model says 'couldn't find' but keyword and semantic search rank "
        "the same passage first, ask again with that passage alone (docs/quality.md).",
    )

    passage_focus: Literal["chunks", "sentences"] = Field(
        "chunks",
        description="What the model reads of each passage: the whole chunk, or only the "
        "sentences that bear on the question with their neighbours (shorter prompt, sooner "
        "first token; docs/quality.md).",
    )
    focus_keep: float = Field(
        0.45, ge=0.1, le=1.0,
        description="With passage_focus 'sentences': the share of the passages' tokens kept.",
    )
    answer_format: Literal["free", "quotes", "quotes_strict"] = Field(
        "free",
        description="'quotes': the model first copies the sentences it answers from (checked "
        "word for word; citations come from them; no checked quote = 'couldn't find'), then "
        "answers. 'quotes_strict': the same shape enforced by a llama.cpp grammar (slower "
        "decoding on CPUs). 'free': it answers and cites directly.",
    )

    worked_examples: bool = Field(
        False,
        description="Show the model three worked examples (a default value, arithmetic, a "
        "refusal) before each question; they stay in the model's cached prefix, so they cost "
        "no time after the first question (docs/quality.md).",
    )

    strict_numbers: bool = Field(
        False,
        description="Answer 'couldn't find' when the answer states a number that its passages "
        "and the question do not contain and one step of arithmetic on theirs does not give.",
    )

    two_part_answers: bool = Field(
        False,
        description="Answer a two-part question ('…, and how do I …?') one part at a time: "
        "one more model call over the same cached passages, and a note when the passages "
        "answer only one part (indexer/answer/two_part.py, docs/quality.md).",
    )
    two_part_follow_up: bool = Field(
        False,
        description="After the one-call answer to a two-part question, ask the model for the "
        "second part in the same conversation and append only its checked sentences that add "
        "something (one short model call, only for such questions; docs/quality.md).",
    )

    gate_codes: bool = Field(
        True,
        description="Let a question through the relevance gate when a code in it (GK-220, "
        "PT-4: a letter and a digit) appears verbatim in one of the best passages: table rows "
        "and labels match questions poorly by meaning but exactly by code.",
    )

    # A team's shared index (docs/shared_index.md): read-only here, searched beside this one.
    shared_index: str = Field(
        "",
        description="A Cairn index another Cairn writes, searched beside this machine's own "
        "(read-only): a folder (its Cairn home, or that home's `index` folder, e.g. on a "
        "network share) or an object-store URI such as s3://bucket/team-index. Empty: none.",
    )
    shared_index_options: dict[str, str] = Field(
        default_factory=dict,
        description="LanceDB storage options for an s3:// shared index: aws_endpoint, "
        "aws_region, allow_http, aws_access_key_id, aws_secret_access_key (keys are better "
        "left to the AWS_* environment variables, which LanceDB reads too).",
    )
    shared_index_refresh_s: float = Field(
        5.0, ge=0.0, le=3600.0,
        description="How often searches look for the shared index's new commits (each look is "
        "a listing of its versions: a request to the object store).",
    )

    # Collections (docs/collections.md): named sets of folders, a view over the one index.
    collections: dict[str, list[Path]] = Field(
        default_factory=dict,
        description="Named sets of folders (a watched folder or a folder inside one); search, "
        "ask, eval and status can be limited to one. A folder may be in several; its files "
        "are indexed once. Edit with `cairn collections`.",
    )

    allow_network: bool = Field(
        False, description="Never on by default. Only a user-started model download opens it."
    )

    @field_validator("folders", mode="after")
    @classmethod
    def _absolute_folders(cls, v: list[Path]) -> list[Path]:
        return absolute_folders(v)

    @field_validator("collections", mode="after")
    @classmethod
    def _absolute_collection_folders(cls, v: dict[str, list[Path]]) -> dict[str, list[Path]]:
        return {name: absolute_folders(folders) for name, folders in v.items()}

    @property
    def paths(self) -> AppPaths:
        return AppPaths(self.home)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _JsonFileSource(settings_cls))


class _JsonFileSource(PydanticBaseSettingsSource):
    """Reads `settings.json` from the home chosen by init kwargs / env / default."""

    def __init__(self, settings_cls: type[BaseSettings], home: Path | None = None) -> None:
        super().__init__(settings_cls)
        self._home = home

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        home = self._home or _CURRENT_HOME.get("home") or default_home()
        path = AppPaths(Path(home)).settings_file
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UserInputError(
                f"Cannot read settings file {path}: {exc}",
                hint="Fix or delete the file; Cairn will recreate it with defaults.",
            ) from exc
        if not isinstance(data, dict):
            raise UserInputError(f"Settings file {path} must hold a JSON object.")
        data.pop("home", None)  # the home is never taken from inside itself
        return data


# The JSON source must read the file of the home being loaded, which is only known at call time.
_CURRENT_HOME: dict[str, Path] = {}


def load_settings(home: Path | str | None = None, **overrides: Any) -> Settings:
    """Build Settings for one entry point. `overrides` are command-line flags (highest priority)."""
    resolved = Path(home).expanduser().resolve() if home else default_home()
    _CURRENT_HOME["home"] = resolved
    try:
        return Settings(home=resolved, **overrides)
    finally:
        _CURRENT_HOME.pop("home", None)


def save_settings(settings: Settings, keys: set[str] | None = None) -> Path:
    """Persist settings to `settings.json` atomically (write temp + rename), user-only perms.

    Only fields that differ from defaults (or are listed in `keys`) are written, so a later change
    of a default still reaches users who never touched that knob.
    """
    paths = settings.paths.ensure()
    defaults = Settings.model_construct()
    data: dict[str, Any] = {}
    existing: dict[str, Any] = {}
    if paths.settings_file.exists():
        try:
            existing = json.loads(paths.settings_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            existing = {}
    dumped = settings.model_dump(mode="json", exclude={"home"})
    default_dump = defaults.model_dump(mode="json", exclude={"home"})
    for name, value in dumped.items():
        if name in existing or (keys and name in keys) or value != default_dump.get(name):
            data[name] = value
    fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=paths.home)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, paths.settings_file)
    return paths.settings_file
