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
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from models.errors import ModelLoadError
from models.offline import set_offline_env
from models.token_ids import (
    Ids,
    ModelInputFormat,
    TokenIdCache,
    model_window,
    special_tokens,
)

Vector = npt.NDArray[np.float32]

# Batches never mix texts whose token counts differ by more than this factor (plus a few
# tokens of slack), so little of each batch is padding. Measured in bench/bench_embedder.py.
_LENGTH_SPREAD = 1.25
_LENGTH_SLACK = 8
# Padded tokens per batch (4 texts of 256 tokens). bench/bench_embedder.py, 1 thread, CPU time:
# 512: 32.9, 1024: 32.2, 2048: 29.6, 8192: ~25 chunks/s; longer batches only cost memory
# (a 300-chunk call peaked at ~1 GB with 32 x 256 tokens, 6.7 GB with fastembed's default).
DEFAULT_MAX_BATCH_TOKENS = 1024


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


def _load_tokenizer(model_dir: Path) -> tuple[Any, ModelInputFormat | None]:
    """The model's tokenizer set up for counting (no truncation, no padding, no special tokens),
    and the input format the model needs (None if the tokenizer's template is unusual).

    Special tokens from special_tokens_map.json are registered first, as fastembed does, so a
    count is exactly what the model will see.
    """
    from tokenizers import AddedToken, Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    for token in special_tokens(model_dir):
        if isinstance(token, str):
            tokenizer.add_special_tokens([token])
        elif isinstance(token, dict):
            tokenizer.add_special_tokens([AddedToken(**token)])
    try:
        fmt: ModelInputFormat | None = ModelInputFormat.of(
            tokenizer, model_dir, model_window(model_dir)
        )
    except ValueError:
        fmt = None
    tokenizer.no_truncation()  # (already, unless the format could not be read)
    tokenizer.no_padding()
    return tokenizer, fmt


def _model_dim(model_dir: Path) -> int:
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        return int(config["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"Cannot tell the embedding size of the model in {model_dir}.",
            hint="Add its config.json (with hidden_size) to the folder.",
        ) from exc


_REGISTER_LOCK = threading.Lock()
_REGISTERED: dict[str, int] = {}


def _fastembed_session(model_dir: Path, model_id: str, dim: int, threads: int) -> Any:
    """The onnxruntime session fastembed loads for a local model folder, offline.

    fastembed owns loading (its custom-model registry, `specific_model_path`, its session
    options and thread settings); Cairn then feeds that session token ids it already has,
    instead of calling fastembed's `embed`, which would tokenize the texts again.
    """
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    digest = hashlib.sha1(str(model_dir.resolve()).encode()).hexdigest()[:10]
    name = f"local/{model_id}-{digest}"
    with _REGISTER_LOCK:  # registering the same name twice raises
        if _REGISTERED.get(name, dim) != dim:
            raise ModelLoadError(f"fastembed model {name} is registered with another size.")
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
        _REGISTERED[name] = dim
    model = TextEmbedding(
        model_name=name,
        specific_model_path=str(model_dir),
        cache_dir=str(model_dir),  # must exist; fastembed creates it otherwise
        threads=threads or None,
        providers=["CPUExecutionProvider"],
        lazy_load=False,  # a broken file fails in load(), not halfway through a batch
    )
    session = getattr(getattr(model, "model", None), "model", None)
    if session is None:
        raise ModelLoadError("This fastembed version does not expose its onnxruntime session.",
                             hint="Reinstall Cairn's locked dependencies (`uv sync`).")
    return session


class FastEmbedEmbedder:
    """A local ONNX sentence model loaded by fastembed, fed token ids directly, offline.

    Same model file, same tokenizer settings (`tokenizer.json` with fastembed's truncation,
    special tokens and pad token), mean pooling over the attention mask and L2 normalisation —
    so the vectors are fastembed's (to float rounding) and stored indexes stay valid. fastembed
    loads the model and its onnxruntime session; fastembed's own `embed` is not called: it takes texts only, so it tokenizes again what the chunker has
    just tokenized, pools in float64 with a masked sum, and left the embedder at ~0.95 of the
    raw model (bench/bench_indexing.py). Here each batch is one `session.run` on ids the chunker
    already counted (`count_tokens` remembers them, `embed` takes them back).

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
        self._tokenizer, fmt = _load_tokenizer(self.model_dir)
        if fmt is None:
            raise ModelLoadError(
                f"The tokenizer of the embedding model in {self.model_dir} is not supported.",
                hint="Use a sentence-embedding model whose tokenizer only adds tokens around "
                "the text (BERT, RoBERTa, MPNet, XLM-R style).",
            )
        self._format = fmt
        self._window = fmt.window
        self.max_tokens = fmt.window - len(fmt.prefix) - len(fmt.suffix)  # e.g. [CLS], [SEP]
        self.ids_cache = TokenIdCache()
        self._lock = threading.Lock()
        self._session: Any = None
        self._inputs: frozenset[str] = frozenset()
        self._output: str = ""

    # -- loading --------------------------------------------------------------------------

    def _ensure_loaded(self) -> Any:
        if self._session is not None:
            return self._session
        set_offline_env()  # ORT_DISABLE_TELEMETRY must be in place before ONNX Runtime starts
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelLoadError(
                "The fastembed backend is not installed.",
                hint="Install Cairn with its default dependencies (`uv sync`), "
                "or use embedder_backend='fake' for tests.",
            ) from exc
        disable = getattr(ort, "disable_telemetry_events", None)
        if disable is not None:
            disable()  # belt and braces: ORT_DISABLE_TELEMETRY above is the full opt-out
        try:
            session = _fastembed_session(self.model_dir, self.model_id, self.dim, self.threads)
        except ModelLoadError:
            raise
        except Exception as exc:  # onnxruntime and fastembed raise their own types
            raise ModelLoadError(
                f"Could not load the embedding model in {self.model_dir}: {exc}",
                hint="The folder may be damaged; delete it and Cairn rebuilds it.",
            ) from exc
        self._inputs = frozenset(i.name for i in session.get_inputs())
        self._output = session.get_outputs()[0].name  # the token states (last_hidden_state)
        self._session = session
        return session

    def load(self) -> None:
        """Load now instead of on first use (the hub calls this to report state early)."""
        with self._lock:
            self._ensure_loaded()

    def close(self) -> None:
        """Drop the ONNX session (frees ~100 MB); a later call loads it again."""
        with self._lock:
            self._session = None

    @property
    def intra_op_threads(self) -> int:
        """The session's intra-op thread count (0: onnxruntime's default, one per core)."""
        session = self._ensure_loaded()
        return int(session.get_session_options().intra_op_num_threads)

    # -- tokens ---------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Tokens of `text`; the ids are remembered for a later `embed` of the same text."""
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        self.ids_cache.put(text, ids)
        return len(ids)

    def truncate_to_tokens(self, text: str, n: int) -> str:
        if n <= 0:
            return ""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        if len(encoding.ids) <= n:
            return text
        return text[: encoding.offsets[n - 1][1]]

    def model_ids(self, texts: Sequence[str]) -> list[Ids]:
        """Each text's ids as the model sees them (special tokens, truncated to the window).

        Texts the chunker counted come from the cache; the rest are tokenized here.
        """
        core: list[Sequence[int] | Ids | None] = [self.ids_cache.take(t) for t in texts]
        missing = [i for i, ids in enumerate(core) if ids is None]
        if missing:
            encodings = self._tokenizer.encode_batch(
                [texts[i] for i in missing], add_special_tokens=False
            )
            for i, enc in zip(missing, encodings):
                core[i] = enc.ids
        return [self._format.wrap(ids) for ids in core if ids is not None]

    # -- vectors --------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> Vector:
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.model_ids(texts)
        lengths = [len(x) for x in ids]
        with self._lock:
            self._ensure_loaded()
            for batch in plan_batches(lengths, self.batch_size, self.max_batch_tokens):
                out[batch] = self._run([ids[i] for i in batch])
        return out

    def _run(self, rows: Sequence[Ids]) -> Vector:
        """One padded batch through the model: mean of the real tokens' states, L2-normalised."""
        feeds = self._format.feeds(rows, self._inputs)
        hidden = self._session.run([self._output], feeds)[0]
        mask = feeds["attention_mask"].astype(hidden.dtype)
        pooled = np.matmul(mask[:, None, :], hidden)[:, 0, :]  # batched: no (b, s, d) mask
        pooled /= np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32, copy=False)

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
