"""A team's shared index searched beside the local one (`indexer/answer/shared_search.py`):
real LanceDB files in tmp_path, fake models through the hub's seam. A "writer" knowledge base
owns one home (standing for the indexer's home on a network folder); a "laptop" knowledge base
owns another, with its private folder, and names the writer's home as its `shared_index`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.answer.shared_search import SHARED
from indexer.errors import UserInputError
from indexer.service import KnowledgeBase
from indexer.storage.shared_location import SharedLocation, shared_index_endpoint
from tests.indexer.builders import (
    TIMEOUT,
    RecordingEmbedder,
    make_settings,
    open_hub_kb,
    open_kb,
    wait_for,
)


def _team_docs(root: Path) -> Path:
    docs = root / "team-docs"
    docs.mkdir(parents=True)
    (docs / "pumps.md").write_text(
        "# Pumps\n\nThe brindlewort pump primes in ten seconds after the zephyrine valve "
        "is closed.\n", encoding="utf-8")
    return docs


def _private_docs(root: Path) -> Path:
    docs = root / "private-docs"
    docs.mkdir(parents=True)
    (docs / "valves.md").write_text(
        "# Maintenance\n\nThe zephyrine valve closes with a quarter turn counterclockwise.\n",
        encoding="utf-8")
    return docs


def _writer(tmp_path: Path) -> KnowledgeBase:
    kb = open_hub_kb(make_settings(tmp_path / "shared-home", [_team_docs(tmp_path)]))
    kb.index(timeout=TIMEOUT)
    return kb


def _laptop(tmp_path: Path, shared: str | Path, embedder: RecordingEmbedder | None = None
            ) -> KnowledgeBase:
    settings = make_settings(tmp_path / "laptop-home", [_private_docs(tmp_path)],
                             shared_index=str(shared), shared_index_refresh_s=0.0,
                             min_relevance=0.0)  # the fake embedder's cosines are low
    kb = open_kb(settings, embedder)[0] if embedder is not None else open_hub_kb(settings)
    kb.index(timeout=TIMEOUT)
    return kb


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def test_searches_and_answers_cite_both_indexes_and_follow_the_writer(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.close()  # nothing else touches the shared folder while the laptop reads it
    shared_dir = tmp_path / "shared-home" / "index"
    laptop = _laptop(tmp_path, tmp_path / "shared-home")  # a Cairn home: its index is used
    try:
        before = _snapshot(shared_dir)
        hits = laptop.search("zephyrine valve", 5)
        origins = {(Path(h.anchor.path).name, h.anchor.origin) for h in hits}
        assert ("valves.md", "") in origins  # the private folder, from the local index
        assert ("pumps.md", SHARED) in origins  # the team's folder, from the shared index
        shared_hit = next(h for h in hits if h.anchor.origin == SHARED)
        assert shared_hit.anchor.path == str(tmp_path.resolve() / "team-docs" / "pumps.md")
        assert shared_hit.anchor.label().endswith("[shared]")
        assert laptop.search("brindlewort", 3, mode="bm25")[0].anchor.origin == SHARED
        assert laptop.search("brindlewort pump primes", 1, mode="vector")[0].anchor.origin \
            == SHARED

        answer = laptop.ask("How fast does the brindlewort pump prime?", use_cache=False)
        assert answer.found
        assert [c.anchor.origin for c in answer.citations] == [SHARED]
        assert "[shared]" in answer.citations[0].label
        assert _snapshot(shared_dir) == before  # the laptop only read

        # The writer commits a new file: the laptop sees it (refresh_s=0: on its next search).
        writer = open_hub_kb(writer.settings)
        (Path(writer.folders()[0]) / "filters.md").write_text(
            "# Filters\n\nThe quillfeather filter is rinsed weekly.\n", encoding="utf-8")
        writer.index(timeout=TIMEOUT)
        writer.close()
        wait_for(lambda: any(h.anchor.path.endswith("filters.md")
                             for h in laptop.search("quillfeather filter", 3)), 30)
        status = laptop.shared.status()
        assert status is not None and "version" in status
        assert str(tmp_path / "shared-home") in status
    finally:
        laptop.close()
        writer.close()


def test_an_unreachable_shared_index_leaves_local_search_working(tmp_path: Path) -> None:
    laptop = _laptop(tmp_path, tmp_path / "not-mounted")
    try:
        hits = laptop.search("zephyrine valve", 5)
        assert hits and all(h.anchor.origin == "" for h in hits)
        status = laptop.shared.status()
        assert status is not None and "unavailable" in status
    finally:
        laptop.close()


def test_an_object_store_that_refuses_connections_leaves_local_search_working(
        tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "laptop-home", [_private_docs(tmp_path)], shared_index="s3://team/idx",
        shared_index_options={"aws_endpoint": "http://127.0.0.1:1", "allow_http": "true",
                              "aws_region": "us-east-1", "aws_access_key_id": "k",
                              "aws_secret_access_key": "s"})
    laptop = open_hub_kb(settings)
    try:
        laptop.index(timeout=TIMEOUT)
        hits = laptop.search("zephyrine valve", 5)  # LanceDB raises ValueError: not ours
        assert hits and all(h.anchor.origin == "" for h in hits)
        assert "unavailable" in (laptop.shared.status() or "")
    finally:
        laptop.close()


def test_a_shared_index_of_another_embedding_model_is_searched_by_keyword_only(
        tmp_path: Path) -> None:
    _writer(tmp_path).close()
    laptop = _laptop(tmp_path, tmp_path / "shared-home", RecordingEmbedder(dim=128))
    try:
        hits = laptop.search("brindlewort pump", 5)
        assert any(h.anchor.origin == SHARED and h.vector is None for h in hits)
        assert not [h for h in laptop.search("brindlewort pump", 5, mode="vector")
                    if h.anchor.origin == SHARED]
        assert "keyword search only" in (laptop.shared.status() or "")
    finally:
        laptop.close()


def test_locations_name_their_endpoint_and_never_their_secrets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    local = SharedLocation.parse(str(tmp_path))
    assert local.endpoint() is None and not local.remote and local.storage_options is None
    s3 = SharedLocation.parse("s3://team-bucket/cairn/", {
        "aws_endpoint": "http://127.0.0.1:9000", "aws_secret_access_key": "s3cr3t"})
    assert s3.target == "s3://team-bucket/cairn" and s3.endpoint() == ("127.0.0.1", 9000)
    assert "s3cr3t" not in s3.describe() and "127.0.0.1:9000" in s3.describe()
    aws = SharedLocation.parse("s3://team-bucket/cairn", {"aws_region": "eu-west-1"})
    assert aws.endpoint() == ("s3.eu-west-1.amazonaws.com", 443)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://minio.lan")
    assert SharedLocation.parse("s3://b/p").endpoint() == ("minio.lan", 443)
    settings = make_settings(tmp_path / "home", shared_index="s3://b/p")
    assert shared_index_endpoint(settings) == ("minio.lan", 443)
    assert shared_index_endpoint(make_settings(tmp_path / "home2")) is None
    with pytest.raises(UserInputError):
        SharedLocation.parse("ftp://example.org/index")
    with pytest.raises(UserInputError):
        SharedLocation.parse("s3:///no-bucket")
    assert os.sep in str(SharedLocation.parse("~/share").target)
