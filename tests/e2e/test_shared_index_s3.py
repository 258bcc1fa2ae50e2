"""The shared index on S3-compatible object storage, through LanceDB's own object-store support.

The server is moto's (`moto_server`, a dev dependency), started on 127.0.0.1 at a free port: a
mock of S3's API that keeps objects in memory, not real storage — it shows that Cairn hands
LanceDB the right URI and storage options and that the commit/follow protocol works over the S3
API (a manifest per version, listed and fetched by HTTP), not how a real bucket performs or how
its consistency behaves under load. The writer is another process (`tests/e2e/shared_writer.py`,
`IndexStore` opened on the `s3://` URI); the laptop is this process's `KnowledgeBase`.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.answer.shared_search import SHARED
from indexer.storage.shared_location import shared_index_endpoint
from tests.indexer.builders import TIMEOUT, make_settings, open_hub_kb, wait_for

REPO = Path(__file__).resolve().parents[2]
BUCKET = "team-bucket"
URI = f"s3://{BUCKET}/cairn/index"
ROWS = 20
BATCH = re.compile(r"/team/batch-(\d+)\.md$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with an empty bucket; its endpoint URL."""
    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(exe).exists():
        pytest.skip("moto_server is not installed (uv sync installs the dev group)")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "moto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                req = urllib.request.Request(f"{url}/{BUCKET}", method="PUT")
                urllib.request.urlopen(req, timeout=2).close()  # creates the bucket
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((tmp_path / "moto.log").read_text()) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _keys(url: str) -> set[tuple[str, str]]:
    """(key, etag) of every object in the bucket (one listing page is enough here)."""
    with urllib.request.urlopen(f"{url}/{BUCKET}?list-type=2&max-keys=10000") as resp:
        body = resp.read().decode()
    keys = re.findall(r"<Key>(.*?)</Key>", body)
    etags = re.findall(r"<ETag>(.*?)</ETag>", body)
    assert "<IsTruncated>false</IsTruncated>" in body
    return set(zip(keys, etags, strict=True))


def _write(url: str, batches: int, tmp_path: Path) -> None:
    options = [f"aws_endpoint={url}", "aws_region=us-east-1", "allow_http=true",
               "aws_access_key_id=testing", "aws_secret_access_key=testing"]
    args = [a for o in options for a in ("--option", o)]
    with open(tmp_path / "writer.log", "ab") as err:
        done = subprocess.run(
            [sys.executable, "-m", "tests.e2e.shared_writer", URI, "--rows", str(ROWS),
             "--batches", str(batches), *args],
            check=False, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True, timeout=300)
    assert done.returncode == 0, (tmp_path / "writer.log").read_text()


def test_a_laptop_reads_and_follows_a_shared_index_in_s3(
        s3_endpoint: str, tmp_path: Path) -> None:
    _write(s3_endpoint, 2, tmp_path)
    private = tmp_path / "private"
    private.mkdir()
    (private / "notes.md").write_text("# Notes\n\nMy own granite lantern notes.\n")
    options = {"aws_endpoint": s3_endpoint, "aws_region": "us-east-1", "allow_http": "true",
               "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    settings = make_settings(tmp_path / "laptop", [private], shared_index=URI,
                             shared_index_options=options, shared_index_refresh_s=0.2)
    port = int(s3_endpoint.rsplit(":", 1)[1])
    assert shared_index_endpoint(settings) == ("127.0.0.1", port)
    kb = open_hub_kb(settings)
    try:
        kb.index(timeout=TIMEOUT)
        objects = _keys(s3_endpoint)
        hits = kb.search("granite lantern notes", 10)
        assert {h.anchor.origin for h in hits} == {"", SHARED}
        assert any(h.anchor.path == "/team/batch-00001.md" for h in hits)
        assert _keys(s3_endpoint) == objects  # the laptop only read
        status = kb.shared.status() or ""
        assert URI in status and f"127.0.0.1:{port}" in status and "testing" not in status

        _write(s3_endpoint, 3, tmp_path)  # another writer run commits three more batches

        def all_five() -> bool:
            kb.search("cairnshared", 5, mode="bm25")
            index = kb.shared.index(kb.retriever)
            assert index is not None and kb.shared.error is None, kb.shared.error
            rows = index.store.tables.select("chunks", None, columns=["path"])
            batches = Counter(int(m.group(1)) for r in rows if (m := BATCH.search(r["path"])))
            assert set(batches.values()) <= {ROWS}, batches  # whole commits only
            return set(batches) == set(range(5))

        wait_for(all_five, 30)
        assert kb.search("batch00004", 3, mode="bm25")[0].anchor.origin == SHARED
    finally:
        kb.close()
