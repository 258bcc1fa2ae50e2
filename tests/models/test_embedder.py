"""Embedders: the deterministic fake always; the real fastembed model offline (real_models)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from models.catalog import DEFAULT_EMBEDDER
from models.embedder import Embedder, FakeEmbedder, FastEmbedEmbedder, plan_batches

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
