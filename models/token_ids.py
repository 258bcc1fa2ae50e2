"""Token ids for the ONNX embedder: the model's input format, and ids the chunker already counted.

Why this exists: indexing is embedding-bound, and the chunker has to run the embedder's own
tokenizer to size every chunk. Tokenizing each chunk again to embed it (twice, through fastembed)
cost ~0.3 s of CPU per 1,000 chunks on 2 cores that onnxruntime could have used. So
`count_tokens` leaves the ids of what it counted in a `TokenIdCache`, and `embed` takes them back;
`ModelInputFormat` turns those bare ids into what the model sees — the special tokens the
tokenizer's post-processor adds, truncation to the window, padding — exactly as fastembed's
tokenizer settings would (same vectors, so existing indexes stay valid).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]

#: Texts whose ids are kept, and their total characters. The writer usually runs ahead of the
#: embedder; entries past these bounds are dropped oldest first and simply tokenized again.
CACHE_MAX_ENTRIES = 8192
CACHE_MAX_CHARS = 6_000_000

_PROBES = ("probe", "Two probes, 42 and more: to find the special tokens!")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a model folder; {} when the file is absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _context(value: object) -> int | None:
    """A usable token limit, or None (transformers writes 1e30 for "unknown")."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= 100_000 else None


def model_window(model_dir: Path) -> int:
    """Tokens the model accepts per text, special tokens included: the stricter of
    `model_max_length` and `max_length` in tokenizer_config.json (as fastembed), else 512."""
    config = read_json(model_dir / "tokenizer_config.json")
    limits = [c for c in (_context(config.get(k)) for k in ("model_max_length", "max_length")) if c]
    return min(limits) if limits else 512


def special_tokens(model_dir: Path) -> list[str | dict[str, Any]]:
    """Tokens named in special_tokens_map.json (fastembed registers them with the tokenizer)."""
    out: list[str | dict[str, Any]] = []
    for value in read_json(model_dir / "special_tokens_map.json").values():
        out.extend(value if isinstance(value, list) else [value])
    return out


@dataclass(frozen=True, slots=True)
class ModelInputFormat:
    """How bare token ids become model inputs: special tokens around them, truncation, padding.

    The special tokens are read off the tokenizer's own post-processor (a probe text encoded
    with and without them), so BERT's `[CLS] … [SEP]` and RoBERTa's `<s> … </s>` both work.
    """

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    window: int
    pad_id: int
    pad_left: bool = False
    truncate_left: bool = False

    @classmethod
    def of(cls, tokenizer: Any, model_dir: Path, window: int) -> ModelInputFormat:
        """Read the format from a tokenizer as loaded, then switch its padding and truncation
        off: from here on it encodes bare, whole texts (for counting and for `wrap`)."""
        config = read_json(model_dir / "tokenizer_config.json")
        padding = tokenizer.padding or {}
        truncation = tokenizer.truncation or {}
        tokenizer.no_padding()
        tokenizer.no_truncation()
        prefix, suffix = _template(tokenizer)
        pad_token = padding.get("pad_token") or config.get("pad_token")
        pad_id = padding.get("pad_id", read_json(model_dir / "config.json").get("pad_token_id"))
        if pad_id is None and isinstance(pad_token, str):
            pad_id = tokenizer.token_to_id(pad_token)
        pad_side = config.get("padding_side") or padding.get("direction", "right")
        cut_side = config.get("truncation_side") or truncation.get("direction", "right")
        return cls(
            prefix=prefix,
            suffix=suffix,
            window=max(window, len(prefix) + len(suffix) + 1),
            # Padded positions are masked out of attention and pooling: any id works there.
            pad_id=int(pad_id) if pad_id is not None else 0,
            pad_left=str(pad_side).lower() == "left",
            truncate_left=str(cut_side).lower() == "left",
        )

    def wrap(self, ids: Sequence[int] | Ids) -> Ids:
        """The ids the model sees for one text: truncated to the window, special tokens added."""
        room = self.window - len(self.prefix) - len(self.suffix)
        core = np.asarray(ids, dtype=np.int64)
        if len(core) > room:
            core = core[len(core) - room :] if self.truncate_left else core[:room]
        return np.concatenate(
            [np.asarray(self.prefix, np.int64), core, np.asarray(self.suffix, np.int64)]
        )

    def feeds(self, rows: Sequence[Ids], input_names: Iterable[str]) -> dict[str, Ids]:
        """One padded batch: input_ids, attention_mask (and token_type_ids if the model has it)."""
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            n = len(row)
            cols = slice(width - n, width) if self.pad_left else slice(0, n)
            ids[i, cols] = row
            mask[i, cols] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in set(input_names):
            feeds["token_type_ids"] = np.zeros_like(ids)
        return feeds


def _template(tokenizer: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ids the post-processor puts before and after a single sequence.

    Raises ValueError when the tokenizer does more than surround the text (then bare ids
    cannot be turned into model inputs and the caller must not use this format).
    """
    found: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    for probe in _PROBES:
        bare = list(tokenizer.encode(probe, add_special_tokens=False).ids)
        full = list(tokenizer.encode(probe, add_special_tokens=True).ids)
        starts = [k for k in range(len(full) - len(bare) + 1) if full[k : k + len(bare)] == bare]
        if not bare or len(starts) != 1:
            raise ValueError("the tokenizer's special tokens do not just surround the text")
        k = starts[0]
        found.add((tuple(full[:k]), tuple(full[k + len(bare) :])))
    if len(found) != 1:
        raise ValueError("the tokenizer adds different special tokens to different texts")
    return found.pop()


class TokenIdCache:
    """Ids of recently counted texts, taken back (once) when the same text is embedded.

    Thread-safe: the writer thread counts while the embedder thread embeds. Bounded by
    `max_entries` and `max_chars` (oldest dropped first); a miss only costs a tokenization.
    """

    def __init__(
        self, max_entries: int = CACHE_MAX_ENTRIES, max_chars: int = CACHE_MAX_CHARS
    ) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._items: OrderedDict[str, Ids] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, text: str, ids: Sequence[int]) -> None:
        if len(text) > self.max_chars // 4:
            return  # a huge text (a whole document counted at once) would flush everything
        value = np.asarray(ids, dtype=np.int64)
        with self._lock:
            old = self._items.pop(text, None)
            if old is not None:
                self._chars -= len(text)
            self._items[text] = value
            self._chars += len(text)
            while len(self._items) > self.max_entries or self._chars > self.max_chars:
                dropped, _ = self._items.popitem(last=False)
                self._chars -= len(dropped)

    def take(self, text: str) -> Ids | None:
        """The ids counted for `text` (and forget them), or None."""
        with self._lock:
            ids = self._items.pop(text, None)
            if ids is None:
                self.misses += 1
                return None
            self._chars -= len(text)
            self.hits += 1
            return ids

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._chars = 0

    def stats(self) -> Mapping[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "entries": len(self._items)}
