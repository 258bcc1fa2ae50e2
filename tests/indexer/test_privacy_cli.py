"""`cairn privacy`: says what the guard covers and what it does not; `--audit` traces a real child.

The audit here uses the fake models (seconds, not minutes) on a fresh home; the real models under
the same trace are `tests/e2e/test_os_egress.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.cli import app

runner = CliRunner()


def _cairn(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), *args], catch_exceptions=False)


def test_privacy_says_what_the_guard_does_not_cover(tmp_path: Path) -> None:
    text = _cairn(tmp_path / "home", "privacy")
    assert text.exit_code == 0, text.output
    assert "covers: Python sockets" in text.stdout
    assert "does not cover: native code" in text.stdout
    assert "cairn privacy --audit" in text.stdout
    data = json.loads(_cairn(tmp_path / "home", "privacy", "--json").stdout)
    assert data["guard_covers"].startswith("Python sockets")
    assert data["guard_does_not_cover"].startswith("native code")
    assert data["native_telemetry_off"] == {"ORT_DISABLE_TELEMETRY": "1"}


def test_privacy_lists_the_downloads_the_user_started(tmp_path: Path) -> None:
    """Every network use Cairn ever made is a user-started download, and privacy lists it."""
    from models.download import log_download

    home = tmp_path / "home"
    assert "downloads you started: never" in _cairn(home, "privacy").stdout
    log_download(home / "models", "https://example.org/m/x.gguf", "x.gguf", "cancelled", 5_000_000)
    text = _cairn(home, "privacy").stdout
    assert "x.gguf from example.org, 5 MB, cancelled" in " ".join(text.split())
    data = json.loads(_cairn(home, "privacy", "--json").stdout)
    assert [d["host"] for d in data["user_started_downloads"]] == ["example.org"]


def test_models_recommend_shows_the_machine_and_a_model_that_fits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = json.loads(_cairn(home, "models", "recommend", "--json").stdout)
    assert data["machine"]["cores"] >= 1 and "avx2" in data["machine"]
    ids = [m["model_id"] for m in data["models"]]
    assert data["recommended"] in ids and data["current"] in ids
    best = next(m for m in data["models"] if m["model_id"] == data["recommended"])
    assert best["fits"] and best["first_token_s"] > 0
    text = " ".join(_cairn(home, "models", "recommend").stdout.split())
    assert "This machine:" in text and "← recommended" in text


def test_audit_rejects_a_missing_folder(tmp_path: Path) -> None:
    result = _cairn(tmp_path / "home", "privacy", "--audit", "--folder", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "Not a folder" in result.output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="strace is Linux only")
def test_audit_on_a_fresh_home_traces_the_child_and_reports_none(tmp_path: Path) -> None:
    if not shutil.which("strace"):
        if os.environ.get("CI"):
            pytest.fail("strace is not installed; .ci/run installs it")
        pytest.skip("strace is not installed")
    home = tmp_path / "fresh-home"
    result = _cairn(home, "--fake-models", "privacy", "--audit", "--soak", "0", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["clean"] is True and data["returncode"] == 0
    assert data["outside_attempts"] == 0 and data["dns_queries"] == 0
    assert data["threads_traced"] >= 5  # the child and its writer / embedder threads
    flow = data["flow"]
    assert flow["files"] == 3 and flow["files_by_stage"]["embedded"] == 3
    assert flow["search_hits"] > 0
    assert not (home / "index").exists()  # the audit never touches the user's own index
