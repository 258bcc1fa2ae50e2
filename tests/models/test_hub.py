"""ModelHub: lazy loading behind locks, state reporting, backend choice, and layering."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from models.catalog import DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDER
from models.embedder import FakeEmbedder
from models.errors import ModelError, ModelUnavailableError
from models.generator import FakeGenerator
from models.hub import ModelHub, ModelState


def _fake_hub(tmp_path: Path, **kwargs: object) -> ModelHub:
    return ModelHub(
        tmp_path,
        embedder_backend="fake",
        generator_backend="fake",
        **kwargs,  # type: ignore[arg-type]
    )


def test_fake_backends_load_lazily_and_report_ready(tmp_path: Path) -> None:
    events: list[tuple[str, str]] = []
    hub = _fake_hub(tmp_path, on_state=lambda role, st: events.append((role, st.status)))
    assert {r: s.status for r, s in hub.state().items()} == {
        "embedder": "not_loaded",
        "generator": "not_loaded",
    }
    embedder = hub.embedder()
    assert isinstance(embedder, FakeEmbedder)
    assert hub.embedder() is embedder  # loaded once
    assert isinstance(hub.generator(), FakeGenerator)
    state = hub.state()
    assert state["embedder"] == ModelState("ready", "", embedder.model_id)
    assert state["generator"].status == "ready"
    assert events == [
        ("embedder", "loading"),
        ("embedder", "ready"),
        ("generator", "loading"),
        ("generator", "ready"),
    ]
    assert hub.embedder_identity() == (embedder.model_id, 384)
    hub.close()
    assert hub.state()["embedder"].status == "not_loaded"
    assert hub.embedder() is not embedder  # reloaded after close


def test_model_ids_are_known_without_loading(tmp_path: Path) -> None:
    hub = ModelHub(tmp_path)  # real backends, nothing loaded
    assert hub.chat_model_id == DEFAULT_CHAT_MODEL
    assert hub.embedder_model_id == DEFAULT_EMBEDDER
    own = ModelHub(
        tmp_path, chat_model=str(tmp_path / "my-model.Q4.gguf"), embedder_model=str(tmp_path / "e")
    )
    assert own.chat_model_id == "my-model.Q4"
    assert own.embedder_model_id == "local:e" and own.embedder_identity() is None
    assert hub.state()["generator"].status == "not_loaded"
    fake = _fake_hub(tmp_path)
    assert fake.chat_model_id == fake.generator().model_id


def test_concurrent_first_requests_load_once(tmp_path: Path) -> None:
    hub = _fake_hub(tmp_path)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(hub.embedder())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(got) == 8 and all(g is got[0] for g in got)


def test_unknown_backend_is_rejected_with_hint(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        ModelHub(tmp_path, embedder_backend="sentence-transformers")
    assert "fastembed" in (info.value.hint or "")
    with pytest.raises(ModelError, match="generator backend"):
        ModelHub(tmp_path, generator_backend="openai")


def test_missing_chat_model_sets_missing_state(tmp_path: Path) -> None:
    hub = ModelHub(
        tmp_path, embedder_backend="fake", chat_model=str(tmp_path / "no-such-model.gguf")
    )
    with pytest.raises(ModelUnavailableError):
        hub.generator()
    state = hub.state()["generator"]
    assert state.status == "missing"
    assert "neither a catalog id nor an existing file" in state.detail


def test_broken_gguf_sets_failed_state(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 128)  # right magic, garbage after it
    hub = ModelHub(tmp_path, embedder_backend="fake", chat_model=str(bad))
    with pytest.raises(ModelError):
        hub.generator()
    assert hub.state()["generator"].status == "failed"


def test_models_package_imports_neither_indexer_nor_qt() -> None:
    code = (
        "import sys\n"
        "import models, models.hub, models.provisioning, models.download, models.embedder, "
        "models.generator, models.catalog\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('indexer', 'desktop_app', "
        "'PySide6', 'shiboken6', 'fastembed', 'onnxruntime', 'llama_cpp')]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == ""  # heavy runtimes load only in the chosen backend


@pytest.mark.real_models
def test_real_embedder_through_the_hub(real_models_dir: Path, no_egress: list[object]) -> None:
    hub = ModelHub(real_models_dir, generator_backend="fake", embed_threads=1)
    assert hub.embedder_identity() == (DEFAULT_EMBEDDER, 384)
    embedder = hub.embedder()
    assert embedder.model_id == DEFAULT_EMBEDDER and embedder.dim == 384
    vectors = embedder.embed(["hub loaded me", "and I embed offline"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert hub.state()["embedder"].status == "ready"
    hub.close()
