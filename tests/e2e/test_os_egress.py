"""Nothing leaves the machine, as the kernel sees it: the real Cairn under a system-call trace.

The egress guard only wraps Python's sockets. ONNX Runtime's native telemetry (1DS, since 1.29 on
Linux) looked up `mobile.events.data.microsoft.com` from its own threads during a long indexing
job, and wrote a device id and an event queue into `~/.cache`, while the guard counted zero.
These tests run the real work in child processes under `strace -f` and fail on any `connect`,
`sendto`, `sendmsg` or `sendmmsg` to a non-loopback address, on any DNS query, and on any
telemetry store left in the (throwaway) user profile:

1. the issue's reproduction (one 2 MB text file: ~2,300 chunks, minutes of embedding) plus the
   pydoc corpus, indexed end to end, a search, and an answer from the default chat model;
2. the same flow in a network namespace with no interfaces (`unshare -n`): Cairn needs no
   network at all;
3. the GUI's `--self-test` (offscreen window, sample documents, an answer with a citation).

Revert `NATIVE_OFF_ENV` in models/offline.py and test 1 fails with ONNX Runtime's DNS queries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.privacy_audit import (
    AuditOutcome,
    audit,
    audit_env,
    profile_files,
    telemetry_stores,
)
from models.egress_audit import parse_trace_dir, trace_command

pytestmark = [
    pytest.mark.real_models,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="strace is Linux only"),
]

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "tests" / "data" / "eval"
#: An answerable pydoc question (dev-01), so the chat model really loads and generates.
QUESTION = ("Which command-line option makes Python skip assert statements, and which built-in "
            "variable does that option change?")


@pytest.fixture(scope="module", autouse=True)
def _strace() -> None:
    if not shutil.which("strace"):
        message = "strace is not installed (`apt-get install strace`; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run this audit, never skip it
        pytest.skip(message)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("egress-docs")
    big = root / "big"
    big.mkdir()
    (big / "words.txt").write_text("word " * 400_000, encoding="utf-8")  # the 2 MB file
    corpus = root / "pydoc"
    subprocess.run(
        [sys.executable, str(EVAL / "make_pydoc_corpus.py"), str(corpus), "--from-json",
         str(EVAL / "pydoc_topics_3.11.7.json")],
        check=True, capture_output=True,
    )
    return [big, corpus]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory):
    """The user's side: default models, resolved (assembled once) in this home."""
    return load_settings(tmp_path_factory.mktemp("egress-home"))


def _show(capsys: pytest.CaptureFixture[str], title: str, outcome: AuditOutcome) -> None:
    """Print the audit past pytest's capture, so every CI log shows what the kernel saw."""
    data = outcome.to_dict()
    with capsys.disabled():
        print(f"\nEGRESS AUDIT ({title}):", json.dumps(
            {k: data[k] for k in ("clean", "outside_attempts", "dns_queries", "libraries",
                                  "threads_traced", "telemetry_stores")}))
        print("  flow:", json.dumps({k: v for k, v in outcome.flow.items() if k != "answer"}))


def _assert_flow_done(outcome: AuditOutcome) -> None:
    assert outcome.returncode == 0, outcome.stderr_tail
    flow = outcome.flow
    assert flow["files"] == 80 and flow["files_by_stage"]["embedded"] == 80, flow
    assert flow["chunks"] > 3000  # the 2 MB file alone is ~2,300 chunks
    assert flow["search_hits"] > 0
    assert flow["answer_found"] and "assert.md" in " ".join(flow["citations"]), flow


def test_index_search_and_answer_reach_nothing_outside(
    settings, folders: list[Path], capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = audit(settings, folders, QUESTION, soak_s=15, timeout=2400)
    _show(capsys, "index 2 MB text + pydoc, search, answer", outcome)
    _assert_flow_done(outcome)
    assert outcome.report.threads_traced >= 10  # the trace followed the native threads too
    assert [a.describe() for a in outcome.report.attempts] == []
    assert outcome.report.dns_queries == []
    assert outcome.telemetry_stores == [], outcome.created_in_profile


def test_the_same_flow_works_with_no_network_at_all(
    settings, folders: list[Path], capsys: pytest.CaptureFixture[str],
) -> None:
    unshare = shutil.which("unshare")
    if not unshare or subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode:
        if os.environ.get("CI"):
            pytest.fail("`unshare -n` is not permitted here; CI runs as root and needs it")
        pytest.skip("`unshare -n` needs root or unprivileged user namespaces")
    child = [unshare, "-n", sys.executable, "-m", "indexer.privacy_audit"]
    outcome = audit(settings, folders, QUESTION, soak_s=0, timeout=2400, command=child)
    _show(capsys, "same flow, network namespace without interfaces", outcome)
    _assert_flow_done(outcome)
    assert outcome.report.clean, [a.describe() for a in outcome.report.attempts]


def test_gui_self_test_reaches_nothing_outside(
    settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    env = audit_env(settings, profile)
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = trace_command(
        [sys.executable, "-m", "desktop_app.main", "--self-test", "--home", str(tmp_path / "h")],
        tmp_path / "trace", env=env, cwd=ROOT, timeout=1200,
    )
    report = parse_trace_dir(tmp_path / "trace")
    with capsys.disabled():
        print("\nEGRESS AUDIT (GUI --self-test):", json.dumps(report.to_dict()["attempts"]),
              "threads", report.threads_traced)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert '"ok": true' in done.stdout, done.stdout[-2000:]
    assert report.threads_traced >= 10
    assert [a.describe() for a in report.attempts] == []
    assert telemetry_stores(profile_files(profile)) == []
