"""The servers reach nothing outside, as the kernel sees it: `cairn mcp` (searching, reading and
answering with the real small chat model) and `cairn serve` (chat and real embeddings), both
beside a process that owns the home, all under `strace -f` (tests/e2e/servers_driver.py drives
them with the SDK's and `openai`'s own clients over stdio and loopback). Fails on any connection
outside loopback, any DNS query, and any telemetry store left in the throwaway profile."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.privacy_audit import audit_env, profile_files, telemetry_stores
from models.egress_audit import parse_trace_dir, trace_command

pytestmark = [
    pytest.mark.real_models,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="strace is Linux only"),
]

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "desktop_app" / "sample_docs"
SMALL_CHAT = "qwen2.5-coder-0.5b-instruct-q4_k_m"


def test_servers_reach_nothing_outside(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not shutil.which("strace"):
        if os.environ.get("CI"):
            pytest.fail("strace is not installed; CI must run this audit")
        pytest.skip("strace is not installed (`apt-get install strace`)")
    home, docs, profile = tmp_path / "home", tmp_path / "docs", tmp_path / "profile"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))
    profile.mkdir()
    settings = load_settings(home, chat_model=SMALL_CHAT, n_ctx=2048)
    env = {**audit_env(settings, profile), "CAIRN_MAX_ANSWER_TOKENS": "64",
           "PYTHONPATH": str(ROOT)}
    done = trace_command([sys.executable, "-m", "tests.e2e.servers_driver", str(home),
                          str(docs.resolve())], tmp_path / "trace", env=env, cwd=ROOT,
                         timeout=1500)
    report = parse_trace_dir(tmp_path / "trace")
    with capsys.disabled():
        print("\nEGRESS AUDIT (cairn mcp + cairn serve):",
              json.dumps(report.to_dict()["attempts"]), "threads", report.threads_traced,
              "loopback calls", report.loopback_calls)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    flow = json.loads(done.stdout.strip().splitlines()[-1])
    assert flow["mcp"]["search_hits"] and flow["mcp"]["read_passages"]
    assert not flow["mcp"]["ask_error"]
    assert flow["serve"]["chat"] and flow["serve"]["embedding_dim"] == 384
    assert report.loopback_calls > 0  # the API really went over a socket
    assert [a.describe() for a in report.attempts] == []
    assert telemetry_stores(profile_files(profile)) == []
