"""Joining part packages, verifying, stamping and resolving models — offline, on disk only."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import threading
from pathlib import Path

import pytest

import models.integrity
from models import provisioning
from models.catalog import (
    CATALOG,
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBEDDER,
    GEMMA_270M,
    QWEN_0_5B,
    ModelSource,
    ModelSpec,
    PackagePart,
)
from models.errors import ModelCancelled, ModelUnavailableError
from models.integrity import stamp_path
from models.provisioning import (
    assemble_from_packages,
    locate_parts,
    model_status,
    resolve_chat_model,
    resolve_embedder_dir,
)


@pytest.fixture
def fake_parts(tmp_path: Path) -> tuple[ModelSpec, list[Path], bytes]:
    """A fake chat spec whose three parts are small temp files (5 MiB in all)."""
    payload = b"GGUF" + os.urandom(5 * 1024 * 1024)
    cuts = [0, 1_000_003, 3_500_000, len(payload)]
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    paths = []
    for i in range(3):
        path = parts_dir / f"part{i + 1:02d}.bin"
        path.write_bytes(payload[cuts[i] : cuts[i + 1]])
        paths.append(path)
    spec = dataclasses.replace(
        QWEN_0_5B,
        id="fake-chat",
        file_name="fake-chat.gguf",
        size_bytes=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        source=ModelSource(
            parts=tuple(PackagePart(f"fake-part{i}", "1.0", f"p{i}") for i in range(1, 4))
        ),
    )
    return spec, paths, payload


@pytest.fixture
def patched_parts(
    fake_parts: tuple[ModelSpec, list[Path], bytes], monkeypatch: pytest.MonkeyPatch
) -> tuple[ModelSpec, list[Path], bytes]:
    spec, paths, _payload = fake_parts
    monkeypatch.setattr(provisioning, "locate_parts", lambda s: list(paths))
    monkeypatch.setitem(CATALOG, spec.id, spec)
    return fake_parts


def test_assemble_joins_in_order_verifies_and_stamps(patched_parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec, _paths, payload = patched_parts
    seen: list[tuple[int, int]] = []
    out = assemble_from_packages(
        spec, tmp_path / "models", progress=lambda d, t: seen.append((d, t))
    )
    assert out == tmp_path / "models" / "fake-chat.gguf"
    assert out.read_bytes() == payload
    assert stamp_path(out).exists()
    assert not out.with_name(out.name + ".partial").exists()
    assert seen[-1] == (len(payload), len(payload))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_corrupt_part_is_rejected_and_nothing_is_left(patched_parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec, paths, _payload = patched_parts
    data = bytearray(paths[1].read_bytes())
    data[1234] ^= 0xFF
    paths[1].write_bytes(bytes(data))
    dest = tmp_path / "models"
    with pytest.raises(ModelUnavailableError, match="do not match") as info:
        assemble_from_packages(spec, dest)
    assert info.value.hint and "uv sync" in info.value.hint
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == []


def test_stamped_file_is_trusted_without_rehashing(
    patched_parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    spec, _paths, _payload = patched_parts
    dest = tmp_path / "models"
    first = resolve_chat_model(spec.id, dest)

    def boom(*_a: object, **_k: object) -> str:
        raise AssertionError("must not rehash a stamped file")

    monkeypatch.setattr(models.integrity, "hash_file", boom)
    monkeypatch.setattr(provisioning, "_join_into", boom)
    assert resolve_chat_model(spec.id, dest) == first


def test_changed_file_voids_the_stamp_and_is_rebuilt(patched_parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec, _paths, payload = patched_parts
    dest = tmp_path / "models"
    out = resolve_chat_model(spec.id, dest)
    damaged = bytearray(payload)
    damaged[-1] ^= 0xFF
    stamped = out.stat()
    out.write_bytes(bytes(damaged))  # same size, new content
    # coarse filesystem clocks may give the rewrite the same mtime; make the change visible
    os.utime(out, ns=(stamped.st_atime_ns, stamped.st_mtime_ns + 2_000_000_000))
    assert not models.integrity.is_verified(out, spec)
    assert resolve_chat_model(spec.id, dest).read_bytes() == payload


def test_unstamped_correct_file_is_hashed_once_and_stamped(patched_parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec, _paths, payload = patched_parts
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / spec.file_name).write_bytes(payload)  # e.g. copied in by the user
    assert resolve_chat_model(spec.id, dest, assemble=False) == dest / spec.file_name
    assert stamp_path(dest / spec.file_name).exists()


def test_cancel_stops_assembly_and_removes_partial(patched_parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec, _paths, _payload = patched_parts
    cancel = threading.Event()
    dest = tmp_path / "models"
    with pytest.raises(ModelCancelled):
        assemble_from_packages(spec, dest, progress=lambda d, t: cancel.set(), cancel=cancel)
    assert not (dest / spec.file_name).exists()
    assert not (dest / (spec.file_name + ".partial")).exists()


def test_missing_packages_raise_with_install_hint() -> None:
    spec = dataclasses.replace(
        GEMMA_270M,
        source=ModelSource(
            parts=(PackagePart("cairn-surely-not-installed-part1", "1.0", "x/data/p0"),)
        ),
    )
    with pytest.raises(ModelUnavailableError, match="not installed") as info:
        locate_parts(spec)
    assert "cairn-surely-not-installed-part1" in str(info.value)
    assert info.value.hint and "uv sync" in info.value.hint


def test_not_assembling_reports_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        resolve_chat_model(DEFAULT_CHAT_MODEL, tmp_path, assemble=False)
    hint = info.value.hint or ""
    assert "cairn models download" in hint and ".gguf" in hint


def test_user_gguf_path_is_accepted(tmp_path: Path) -> None:
    model = tmp_path / "my model (copy).gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 64)
    assert resolve_chat_model(str(model), tmp_path / "models") == model.resolve()
    assert not (tmp_path / "models").exists()  # nothing assembled or created


def test_non_gguf_file_gets_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(ModelUnavailableError, match="not a GGUF"):
        resolve_chat_model(str(bogus), tmp_path)
    with pytest.raises(ModelUnavailableError, match="folder"):
        resolve_chat_model(str(tmp_path), tmp_path)
    with pytest.raises(ModelUnavailableError, match="neither a catalog id") as info:
        resolve_chat_model(str(tmp_path / "absent.gguf"), tmp_path)
    assert DEFAULT_CHAT_MODEL in (info.value.hint or "")


def test_role_mismatch_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="embedder model"):
        resolve_chat_model(DEFAULT_EMBEDDER, tmp_path)
    with pytest.raises(ModelUnavailableError, match="chat model"):
        resolve_embedder_dir(DEFAULT_CHAT_MODEL, tmp_path)


def test_embedder_folder_is_built_once_from_package_and_assets(tmp_path: Path) -> None:
    folder = resolve_embedder_dir(DEFAULT_EMBEDDER, tmp_path)
    names = {p.name for p in folder.iterdir()}
    assert {"model.onnx", "tokenizer.json", "tokenizer_config.json", "config.json"} <= names
    (onnx_source,) = locate_parts(CATALOG[DEFAULT_EMBEDDER])
    assert (folder / "model.onnx").read_bytes()[:64] == onnx_source.read_bytes()[:64]
    inode = (folder / "model.onnx").stat().st_ino
    assert resolve_embedder_dir(DEFAULT_EMBEDDER, tmp_path) == folder
    assert (folder / "model.onnx").stat().st_ino == inode  # reused, not rebuilt
    (folder / "tokenizer.json").write_text("{}")  # damaged: rebuilt on next resolve
    resolve_embedder_dir(DEFAULT_EMBEDDER, tmp_path)
    assert len((folder / "tokenizer.json").read_bytes()) > 100_000


def test_user_embedder_folder_is_validated(tmp_path: Path) -> None:
    folder = tmp_path / "my-embedder"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"onnx")
    with pytest.raises(ModelUnavailableError, match="tokenizer.json"):
        resolve_embedder_dir(str(folder), tmp_path / "models")
    (folder / "tokenizer.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    assert resolve_embedder_dir(str(folder), tmp_path / "models") == folder.resolve()
    with pytest.raises(ModelUnavailableError, match="neither a catalog id"):
        resolve_embedder_dir(str(tmp_path / "nowhere"), tmp_path)


def test_model_status_reports_ready_assemblable_missing(tmp_path: Path) -> None:
    before = {s.model_id: s for s in model_status(tmp_path)}
    assert set(before) == set(CATALOG)
    assert before[QWEN_0_5B.id].status == "assemblable"  # installed by the default groups
    gemma = before[GEMMA_270M.id]
    assert gemma.status == "missing" and "pip install" in gemma.hint
    assert before[DEFAULT_EMBEDDER].status == "assemblable"
    resolve_embedder_dir(DEFAULT_EMBEDDER, tmp_path)
    after = {s.model_id: s for s in model_status(tmp_path)}
    assert after[DEFAULT_EMBEDDER].status == "ready"
    assert after[DEFAULT_EMBEDDER].path == tmp_path / DEFAULT_EMBEDDER


@pytest.mark.real_models
def test_real_small_qwen_is_assembled_from_packages(qwen_small_path: Path) -> None:
    assert qwen_small_path.stat().st_size == QWEN_0_5B.size_bytes
    digest = hashlib.sha256()
    with qwen_small_path.open("rb") as fh:
        while block := fh.read(8 * 1024 * 1024):
            digest.update(block)
    assert digest.hexdigest() == QWEN_0_5B.sha256
    assert qwen_small_path.read_bytes()[:4] == b"GGUF"
    status = {s.model_id: s for s in model_status(qwen_small_path.parent)}
    assert status[QWEN_0_5B.id].status == "ready"


def test_missing_hint_in_an_installed_app_points_at_settings(monkeypatch) -> None:
    from models import catalog
    from models.provisioning import _missing_hint

    checkout = _missing_hint(catalog.QWEN_1_5B)
    assert "uv sync" in checkout and "pip install" in checkout
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    frozen = _missing_hint(catalog.QWEN_1_5B)
    assert "Settings → Models" in frozen and ".gguf" in frozen
    assert "uv sync" not in frozen and "pip" not in frozen and "cairn models" not in frozen


def test_an_installed_app_without_the_model_says_so_in_users_words(monkeypatch) -> None:
    """A slim installer has no part packages: the error names the situation, not pip packages."""
    from models import catalog
    from models.provisioning import locate_parts

    parts = tuple(dataclasses.replace(p, distribution=f"cairn-no-such-part-{i}")
                  for i, p in enumerate(catalog.QWEN_1_5B.source.parts))
    spec = dataclasses.replace(
        catalog.QWEN_1_5B, source=dataclasses.replace(catalog.QWEN_1_5B.source, parts=parts)
    )
    with pytest.raises(ModelUnavailableError, match="part packages are not installed"):
        locate_parts(spec)  # a checkout: the packages are the fix
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(ModelUnavailableError) as caught:
        locate_parts(spec)
    assert "slim installer" in caught.value.message and "package" not in caught.value.message
    assert "Settings → Models" in (caught.value.hint or "")
