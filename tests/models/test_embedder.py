"""Embedders: the deterministic fake always; the real ONNX model offline (real_models).

The real embedder runs fastembed's recipe directly in onnxruntime and embeds texts the chunker
counted from the ids it counted; both must leave the vectors exactly fastembed's.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from models.catalog import DEFAULT_EMBEDDER
from models.embedder import Embedder, FakeEmbedder, FastEmbedEmbedder, plan_batches
from models.token_ids import ModelInputFormat, TokenIdCache, model_window

# --------------------------------------------------------------------------------- helpers


def test_plan_batches_groups_similar_lengths_and_covers_all() -> None:
    lengths = [200, 10, 12, 190, 11, 205, 9, 60]
    batches = plan_batches(lengths, batch_size=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 3 for b in batches)
    for b in batches:  # no batch mixes a short and a long text
        ls = [lengths[i] for i in b]
        assert max(ls) <= min(ls) * 1.25 + 8
    assert plan_batches([], 4) == []
    # a token budget caps long batches but lets short texts batch widely
    capped = plan_batches([250] * 10 + [10] * 10, batch_size=32, max_batch_tokens=1000)
    assert max(len(b) for b in capped if all(i < 10 for i in b)) == 4
    assert max(len(b) for b in capped if all(i >= 10 for i in b)) == 10


# ------------------------------------------------------------------------------------ fake


def test_fake_embedder_is_deterministic_normalised_and_word_sensitive() -> None:
    fake = FakeEmbedder(dim=64)
    assert isinstance(fake, Embedder)
    texts = ["the cat sat on the mat", "a cat sat on a mat", "quantum chromodynamics lecture", ""]
    a, b = fake.embed(texts), FakeEmbedder(dim=64).embed(texts)
    assert a.shape == (4, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    assert a[0] @ a[1] > a[0] @ a[2]
    np.testing.assert_array_equal(fake.embed_query(texts[2]), a[2])
    assert fake.embed([]).shape == (0, 64)


def test_fake_embedder_tokens_and_truncation() -> None:
    fake = FakeEmbedder()
    assert fake.count_tokens("Hello, world!") == 4
    cut = fake.truncate_to_tokens("one two, three four", 3)
    assert cut == "one two,"
    assert fake.count_tokens(cut) == 3
    assert fake.truncate_to_tokens("short", 10) == "short"
    assert fake.truncate_to_tokens("anything", 0) == ""


# ------------------------------------------------------------------------------------ real


@pytest.fixture(scope="module")
def real(minilm_dir: Path) -> FastEmbedEmbedder:
    return FastEmbedEmbedder(minilm_dir, DEFAULT_EMBEDDER, threads=0, batch_size=4)


@pytest.mark.real_models
def test_real_embedder_loads_offline(minilm_dir: Path, no_egress: list[object]) -> None:
    embedder = FastEmbedEmbedder(minilm_dir, DEFAULT_EMBEDDER, threads=1)
    embedder.load()
    vectors = embedder.embed(["offline is the point"])
    assert vectors.shape == (1, 384)
    assert isinstance(embedder, Embedder)
    assert no_egress == []
    # fastembed's cache dir is the model folder itself: nothing appears elsewhere
    assert sorted(p.name for p in minilm_dir.iterdir()) == sorted(
        [
            "model.onnx",
            "model.onnx.sha256",
            "tokenizer.json",
            "tokenizer_config.json",
            "config.json",
            "special_tokens_map.json",
        ]
    )


@pytest.mark.real_models
def test_real_embedder_ranks_similar_sentences_closer(real: FastEmbedEmbedder) -> None:
    v = real.embed(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The girl is carrying a baby.",
            "A monkey is playing drums.",
        ]
    )
    assert v.shape == (4, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > 0.6  # sentence-transformers reports 0.755 for this pair
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
    assert v[0] @ v[1] > v[0] @ v[3] + 0.3


@pytest.mark.real_models
def test_length_sorting_preserves_the_callers_order(real: FastEmbedEmbedder) -> None:
    texts = [
        "Short one.",
        "A considerably longer sentence about how the indexer splits documents into chunks "
        "and embeds each of them exactly once, unless its text changed. " * 3,
        "Medium length text about vector search and keyword search.",
        "x",
        "Another long passage describing citations with page numbers, headings and line spans "
        "so a user can open the exact place that supports an answer. " * 4,
    ]
    together = real.embed(texts)
    for i, text in enumerate(texts):
        alone = real.embed_query(text)
        assert alone.shape == (384,)
        assert float(alone @ together[i]) > 0.999, i
    assert real.embed([]).shape == (0, 384)


@pytest.mark.real_models
def test_real_token_counting_and_truncation(real: FastEmbedEmbedder) -> None:
    assert real.max_tokens == 254  # 256-token window minus [CLS] and [SEP]
    assert real.count_tokens("hello") == 1
    text = "Naïve café owners in Zürich — über-fast tokenisation! " * 40
    n = real.count_tokens(text)
    assert n > 254
    cut = real.truncate_to_tokens(text, 100)
    assert text.startswith(cut)
    assert 95 <= real.count_tokens(cut) <= 100
    assert real.truncate_to_tokens("tiny", 100) == "tiny"


@pytest.mark.real_models
def test_concurrent_calls_are_serialised_and_correct(real: FastEmbedEmbedder) -> None:
    texts = [f"Document number {i} talks about topic {i % 3}." for i in range(12)]
    expected = real.embed(texts)
    results: list[np.ndarray] = []
    errors: list[Exception] = []

    def work() -> None:
        try:
            results.append(real.embed(texts))
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(results) == 3
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-5)


# ------------------------------------------------------------------ token ids (no model needed)


def test_token_id_cache_hands_ids_back_once_and_stays_bounded() -> None:
    cache = TokenIdCache(max_entries=3, max_chars=1000)
    cache.put("alpha", [1, 2])
    np.testing.assert_array_equal(cache.take("alpha"), [1, 2])
    assert cache.take("alpha") is None  # taken once: a later embed tokenizes again
    for i in range(5):
        cache.put(f"t{i}", [i])
    assert len(cache) == 3 and cache.take("t1") is None and cache.take("t4") is not None
    assert cache.stats() == {"hits": 2, "misses": 2, "entries": 2}

    by_chars = TokenIdCache(max_entries=100, max_chars=40)
    for letter in "abcde":
        by_chars.put(letter * 10, [1])  # the fifth passes 40 characters: oldest dropped
    assert by_chars.take("a" * 10) is None and by_chars.take("e" * 10) is not None
    by_chars.put("w" * 11, [1])  # over a quarter of the budget: never cached
    assert by_chars.take("w" * 11) is None
    by_chars.clear()
    assert len(by_chars) == 0


def _tiny_tokenizer_dir(tmp_path: Path, **config: object) -> Path:
    """A model folder with a word-level BERT-like tokenizer (no download, no ONNX)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "probe": 4, "two": 5, "probes": 6}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=16)  # as shipped: fixed
    tokenizer.enable_truncation(8)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": 6, "pad_token": "[PAD]", **config}), encoding="utf-8"
    )
    return tmp_path


def test_model_input_format_adds_special_tokens_truncates_and_pads(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    model_dir = _tiny_tokenizer_dir(tmp_path)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    fmt = ModelInputFormat.of(tokenizer, model_dir, model_window(model_dir))
    # the shipped fixed padding and truncation are off for counting
    assert len(tokenizer.encode("two " * 20, add_special_tokens=False).ids) == 20
    assert (fmt.prefix, fmt.suffix, fmt.window, fmt.pad_id) == ((2,), (3,), 6, 0)
    np.testing.assert_array_equal(fmt.wrap([4, 5]), [2, 4, 5, 3])
    np.testing.assert_array_equal(fmt.wrap([4, 5, 6, 5, 4, 6]), [2, 4, 5, 6, 5, 3])
    feeds = fmt.feeds([fmt.wrap([4]), fmt.wrap([4, 5, 6])], ["input_ids", "attention_mask"])
    np.testing.assert_array_equal(feeds["input_ids"], [[2, 4, 3, 0, 0], [2, 4, 5, 6, 3]])
    np.testing.assert_array_equal(feeds["attention_mask"], [[1, 1, 1, 0, 0], [1] * 5])
    assert "token_type_ids" not in feeds

    left = ModelInputFormat.of(
        Tokenizer.from_file(str(model_dir / "tokenizer.json")), model_dir, 6
    )
    left = type(left)(left.prefix, left.suffix, 6, 0, pad_left=True, truncate_left=True)
    np.testing.assert_array_equal(left.wrap([4, 5, 6, 5, 4, 6]), [2, 6, 5, 4, 6, 3])
    feeds = left.feeds([left.wrap([4]), left.wrap([4, 5])], ["input_ids", "token_type_ids"])
    np.testing.assert_array_equal(feeds["input_ids"], [[0, 2, 4, 3], [2, 4, 5, 3]])
    np.testing.assert_array_equal(feeds["token_type_ids"], np.zeros((2, 4)))


# ------------------------------------------------------------------ real: direct onnxruntime


@pytest.mark.real_models
def test_real_vectors_match_fastembeds_own(real: FastEmbedEmbedder, minilm_dir: Path) -> None:
    """The embedder runs fastembed's recipe itself; stored indexes must stay valid, so the
    vectors must be fastembed's (to float rounding), truncation of an over-long text included."""
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    name = "local/test-minilm-fastembed-reference"
    if name.lower() not in {m["model"].lower() for m in TextEmbedding.list_supported_models()}:
        TextEmbedding.add_custom_model(
            model=name, pooling=PoolingType.MEAN, normalization=True,
            sources=ModelSource(hf=name), dim=384, model_file="model.onnx",
        )
    reference = TextEmbedding(
        model_name=name, specific_model_path=str(minilm_dir), cache_dir=str(minilm_dir)
    )
    texts = ["Short one.", "x", "", "A [MASK] in the text, & entities &amp; ünïcödé 日本語.",
             "Long text about tides and ledgers kept by walruses in the harbour. " * 60]
    expected = np.asarray(list(reference.embed(texts, batch_size=2)), dtype=np.float32)
    np.testing.assert_allclose(real.embed(texts), expected, atol=1e-5)
    assert real.count_tokens(texts[-1]) > real.max_tokens  # the long one was truncated


@pytest.mark.real_models
def test_counted_texts_are_embedded_from_their_ids(real: FastEmbedEmbedder) -> None:
    texts = [f"Chunk {i} about the lighthouse lamp and its paraffin, part {i}." for i in range(6)]
    fresh = real.embed(texts)  # not counted: tokenized by embed itself
    real.ids_cache.clear()
    before = real.ids_cache.stats()["hits"]
    assert all(real.count_tokens(t) > 0 for t in texts)  # what the chunker does
    reused = real.embed(texts)
    assert real.ids_cache.stats()["hits"] - before == len(texts)
    assert len(real.ids_cache) == 0  # each id list is handed back once
    np.testing.assert_allclose(reused, fresh, atol=1e-6)
