"""Text embedders: the fastembed-backed real one and a deterministic fake for unit tests.

Both satisfy `Embedder`, the seam the indexer uses for chunking (token counts) and for vectors.
Embedding is the indexing bottleneck (see PERFORMANCE.md), so the real embedder spends its
effort on not wasting compute: fastembed pads every batch to its longest text, and chunks of
mixed length padded together cost up to twice the work. `FastEmbedEmbedder` therefore sorts the
texts by token count, cuts batches of similar length, and restores the caller's order.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from models.errors import ModelLoadError

Vector = npt.NDArray[np.float32]

# Batches never mix texts whose token counts differ by more than this factor (plus a few
# tokens of slack), so little of each batch is padding. Measured in bench/bench_embedder.py.
_LENGTH_SPREAD = 1.25
_LENGTH_SLACK = 8
# Padded tokens per batch (4 texts of 256 tokens). bench/bench_embedder.py, 1 thread, CPU time:
# 512: 32.9, 1024: 32.2, 2048: 29.6, 8192: ~25 chunks/s; longer batches only cost memory
# (a 300-chunk call peaked at ~1 GB with 32 x 256 tokens, 6.7 GB with fastembed's default).
DEFAULT_MAX_BATCH_TOKENS = 1024

_REGISTER_LOCK = threading.Lock()
_REGISTERED: dict[str, tuple[str, int]] = {}  # fastembed name -> (model dir, dim)


@runtime_checkable
class Embedder(Protocol):
    """What the indexer needs from an embedding model.

    `max_tokens` counts text tokens only (no special tokens), like `count_tokens`: a chunk with
    `count_tokens(chunk) <= max_tokens` is seen whole by the model.
    """

    model_id: str
    dim: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> Vector:
        """float32 array (len(texts), dim), rows L2-normalised, in the order given."""
        ...

    def embed_query(self, text: str) -> Vector:
        """One L2-normalised float32 vector (dim,)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, without special tokens and without truncation."""
        ...

    def truncate_to_tokens(self, text: str, n: int) -> str:
        """The longest prefix of `text` with at most `n` tokens (for chunking)."""
        ...


def plan_batches(
    lengths: Sequence[int], batch_size: int, max_batch_tokens: int = 0
) -> list[list[int]]:
    """Group indices into batches of similar length: sorted by length, at most `batch_size`.

    A batch closes early when the next text is much longer than its shortest one, because the
    whole batch is padded to its longest member, and (if `max_batch_tokens`) when the padded
    batch would exceed that many tokens: onnxruntime's memory grows with batch x length^2, and
    on a CPU larger batches of long texts are no faster (bench/bench_embedder.py).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (
            len(current) >= batch_size
            or lengths[i] > lengths[current[0]] * _LENGTH_SPREAD + _LENGTH_SLACK
            or (max_batch_tokens and (len(current) + 1) * lengths[i] > max_batch_tokens)
        ):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _set_offline_env() -> None:
    """Opt out of every hub call and telemetry before fastembed/huggingface_hub are imported.

    `setdefault`, so a user's explicit setting wins; huggingface_hub reads these at import time.
    """
    for name, value in {
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "DO_NOT_TRACK": "1",
    }.items():
        os.environ.setdefault(name, value)


def _load_counting_tokenizer(model_dir: Path) -> Any:
    """A `tokenizers.Tokenizer` for counting: no truncation, no padding, no special tokens.

    Kept apart from fastembed's copy, which pads and truncates for the model.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _model_window(model_dir: Path) -> int:
    """Tokens the model accepts per text, special tokens included (tokenizer_config first)."""
    try:
        config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        window = int(config.get("model_max_length", 0))
    except (OSError, ValueError, TypeError):
        window = 0
    return window if 0 < window <= 100_000 else 512


def _model_dim(model_dir: Path) -> int:
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        return int(config["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"Cannot tell the embedding size of the model in {model_dir}.",
            hint="Add its config.json (with hidden_size) to the folder.",
        ) from exc


def _register(name: str, model_dir: Path, dim: int) -> None:
    """Register a local ONNX model with fastembed once per process (a second add raises)."""
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    with _REGISTER_LOCK:
        if name in _REGISTERED:
            if _REGISTERED[name][1] != dim:
                raise ModelLoadError(f"fastembed model {name} is registered with another size.")
            return
        known = {m["model"].lower() for m in TextEmbedding.list_supported_models()}
        if name.lower() not in known:
            TextEmbedding.add_custom_model(
                model=name,
                pooling=PoolingType.MEAN,
                normalization=True,
                sources=ModelSource(hf=name),
                dim=dim,
                model_file="model.onnx",
            )
        _REGISTERED[name] = (str(model_dir), dim)


class FastEmbedEmbedder:
    """A local ONNX sentence-embedding model run through fastembed, offline.

    Loads lazily on first use. One instance is shared by the whole process; calls that run the
    model are serialised by a lock (one ONNX session already uses all the threads it is given).
    Token counting does not take that lock: the Rust tokenizer is thread-safe, and the chunker
    must not wait for a long embedding batch to finish.
    """

    def __init__(
        self,
        model_dir: Path,
        model_id: str,
        threads: int = 0,
        batch_size: int = 32,
        *,
        dim: int | None = None,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.model_id = model_id
        self.threads = threads
        self.batch_size = max(1, batch_size)
        self.max_batch_tokens = max_batch_tokens
        self.dim = dim if dim is not None else _model_dim(self.model_dir)
        self._window = _model_window(self.model_dir)
        self.max_tokens = self._window - 2  # [CLS] and [SEP]
        self._tokenizer = _load_counting_tokenizer(self.model_dir)
        self._lock = threading.Lock()
        self._model: Any = None
        digest = hashlib.sha1(str(self.model_dir.resolve()).encode()).hexdigest()[:10]
        self._fastembed_name = f"local/{model_id}-{digest}"

    # -- loading --------------------------------------------------------------------------

    def _ensure_loaded(self) -> Any:
        if self._model is not None:
            return self._model
        _set_offline_env()
        try:
            import onnxruntime
            from fastembed import TextEmbedding
        except ImportError as exc:
            raise ModelLoadError(
                "The fastembed backend is not installed.",
                hint="Install Cairn with its default dependencies (`uv sync`), "
                "or use embedder_backend='fake' for tests.",
            ) from exc
        disable = getattr(onnxruntime, "disable_telemetry_events", None)
        if disable is not None:
            disable()  # no-op outside official Windows builds, see models/offline.py
        _register(self._fastembed_name, self.model_dir, self.dim)
        try:
            model = TextEmbedding(
                model_name=self._fastembed_name,
                specific_model_path=str(self.model_dir),
                cache_dir=str(self.model_dir),  # must exist; fastembed creates it otherwise
                threads=self.threads or None,
                # Our own first-use laziness already defers this; loading here makes a broken
                # file fail in load(), with a clear error, not halfway through a batch.
                lazy_load=False,
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(
                f"Could not load the embedding model in {self.model_dir}: {exc}",
                hint="The folder may be damaged; delete it and Cairn rebuilds it.",
            ) from exc
        self._model = model
        return model

    def load(self) -> None:
        """Load now instead of on first use (the hub calls this to report state early)."""
        with self._lock:
            self._ensure_loaded()

    def close(self) -> None:
        """Drop the ONNX session (frees ~100 MB); a later call loads it again."""
        with self._lock:
            self._model = None

    # -- tokens ---------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def truncate_to_tokens(self, text: str, n: int) -> str:
        if n <= 0:
            return ""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        if len(encoding.ids) <= n:
            return text
        return text[: encoding.offsets[n - 1][1]]

    # -- vectors --------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> Vector:
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        limit = self._window
        lengths = [
            min(len(e.ids), limit) for e in self._tokenizer.encode_batch(texts)
        ]  # with special tokens, as the model sees them
        with self._lock:
            model = self._ensure_loaded()
            for batch in plan_batches(lengths, self.batch_size, self.max_batch_tokens):
                vectors = model.embed([texts[i] for i in batch], batch_size=len(batch))
                out[batch] = np.asarray(list(vectors), dtype=np.float32)
        return out

    def embed_query(self, text: str) -> Vector:
        return self.embed([text])[0]


_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    """Deterministic hashed bag-of-words vectors, for fast unit tests of ranking logic.

    Each lower-cased word adds ±1 to a bucket chosen by blake2b, so texts that share words get
    a higher cosine than texts that do not, and the same text always gets the same vector.
    Not a language model: synonyms are unrelated.
    """

    def __init__(self, dim: int = 384, model_id: str = "fake-hashed-bow", max_tokens: int = 254):
        self.dim = dim
        self.model_id = f"{model_id}-{dim}"
        self.max_tokens = max_tokens
        self.calls = 0  # number of embed() calls, for tests of "never re-embed"
        self.texts_embedded = 0

    def _vector(self, text: str) -> Vector:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            h = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            vec[int.from_bytes(h[:4], "little") % self.dim] += 1.0 if h[4] & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:  # no words: a fixed unit vector, so cosine stays defined
            vec[0] = 1.0
            return vec
        return vec / norm

    def embed(self, texts: Sequence[str]) -> Vector:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._vector(text)
        return out

    def embed_query(self, text: str) -> Vector:
        return self._vector(text)

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text))

    def truncate_to_tokens(self, text: str, n: int) -> str:
        if n <= 0:
            return ""
        for i, match in enumerate(_TOKEN.finditer(text), start=1):
            if i == n:
                return text[: match.end()]
        return text
