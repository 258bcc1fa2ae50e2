"""Answers from a team's model server: llama.cpp's own OpenAI-compatible server, started here.

The server (`python -m llama_cpp.server`, llama-cpp-python's `server` extra) runs the real 0.5B
model in its own process, bound to this machine's *non-loopback* address when it has one (the
container's eth0), so the egress guard and the system-call audit treat it as another host: the
tests prove that Cairn reaches exactly that host and port, and nothing else. Cairn's side is the
real pipeline (real files, MiniLM, LanceDB, hybrid search) with `generator_backend="server"`:
citations, Stop mid-answer, `cairn eval`, and the kernel's view of the process.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.answer.answering import Answer, AnswerToken
from indexer.config import load_settings
from indexer.service import KnowledgeBase, build_hub
from models.catalog import QWEN_0_5B
from models.errors import ModelError
from models.offline import allow_endpoint, allowed_endpoints, forget_endpoint, guard_status
from models.provisioning import resolve_chat_model

pytestmark = pytest.mark.real_models

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "desktop_app" / "sample_docs"
QUESTION = "How long until my eyes get used to the dark?"


def _non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine's own interfaces other than loopback, if any."""
    if not hasattr(socket, "if_nameindex"):
        return None
    for _, name in socket.if_nameindex():
        if name == "lo":
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:  # SIOCGIFADDR: the interface's address, no packet sent
                raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
        address = socket.inet_ntoa(raw[20:24])
        if not address.startswith("127."):
            return address
    return None


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def team_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a llama.cpp server with the 0.5B model, on this machine's own address."""
    root = tmp_path_factory.mktemp("team-server")
    model = resolve_chat_model(QWEN_0_5B.id, root / "models")
    host = _non_loopback_ipv4() or "127.0.0.1"
    port = _free_port(host)
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", host,
         "--port", str(port), "--n_ctx", "4096", "--model_alias", "team-qwen-0.5b"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://{host}:{port}/v1"
    # What Cairn does once the server is configured; here also so the test can wait for it.
    allow_endpoint(host, port, "the test's team model server")
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
            try:
                with socket.create_connection((host, port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the llama.cpp server did not start"
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        forget_endpoint(host, port)


@pytest.fixture(scope="module")
def kb(team_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("team-kb")
    docs = root / "docs"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))
    settings = load_settings(root / "home", folders=[docs], generator_backend="server",
                             chat_endpoint=team_server, max_answer_tokens=96)
    base = KnowledgeBase(settings, build_hub(settings))
    base.open()
    base.index(timeout=600)
    yield base
    base.close()


def test_answers_come_from_the_server_with_citations(kb: KnowledgeBase, team_server: str) -> None:
    before = guard_status()
    answer = kb.ask(QUESTION, use_cache=False)
    assert answer.found, answer.text
    assert answer.citations, answer.text
    docs = Path(kb.settings.folders[0])
    assert all(Path(c.anchor.path).parent == docs for c in answer.citations)
    # The server named the model it serves; traces and eval record where answers came from.
    host_port = team_server.split("//", 1)[1].split("/", 1)[0]
    assert answer.stats["model"] == f"team-qwen-0.5b @ {host_port}"
    assert any(f"{h}:{p}" == host_port for h, p, _ in allowed_endpoints())
    after = guard_status()
    assert after.blocked == before.blocked  # nothing else was tried
    if not host_port.startswith("127."):  # another host to the guard: allowed, and recorded
        assert after.allowed > before.allowed
        assert any(host_port in e for e in after.endpoints)


def test_stop_mid_answer_aborts_and_the_server_keeps_serving(kb: KnowledgeBase) -> None:
    cancel = threading.Event()
    tokens: list[str] = []
    final: Answer | None = None
    for item in kb.stream("Explain in detail how to build a cairn and what to avoid.",
                          cancel=cancel, use_cache=False):
        if isinstance(item, AnswerToken):
            tokens.append(item.text)
            if len(tokens) == 3:
                cancel.set()
        elif isinstance(item, Answer):
            final = item
    assert final is not None and final.stats.get("cancelled") is True
    assert len(tokens) <= 6  # the stream ended at Stop, not at max_answer_tokens
    again = kb.ask(QUESTION, use_cache=False)  # the server took the close as an abort
    assert again.found and again.citations


def test_cairn_eval_runs_through_the_server(team_server: str, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({
        "id": "dark-1", "question": QUESTION, "answerable": True,
        "source_file": "observing-the-night-sky.pdf",
        "must_contain": [["20", "30", "twenty", "thirty"]],
    }) + "\n", encoding="utf-8")
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("*.py"))
    out = tmp_path / "report"
    env = {**os.environ, "CAIRN_GENERATOR_BACKEND": "server", "CAIRN_CHAT_ENDPOINT": team_server,
           "CAIRN_MAX_ANSWER_TOKENS": "96"}
    done = subprocess.run(
        [sys.executable, "-m", "indexer.cli", "--home", str(tmp_path / "home"), "eval", "run",
         str(questions), "--folder", str(docs), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    text = json.dumps(report)
    assert "team-qwen-0.5b @" in text  # the run records the server as its model
    assert '"dark-1"' in text


def test_the_model_server_needs_an_answer_to_be_used(tmp_path: Path) -> None:
    """A server that is not there: a clear error naming the address, and nothing else tried."""
    port = _free_port("127.0.0.1")
    settings = load_settings(tmp_path / "home", generator_backend="server",
                             chat_endpoint=f"http://127.0.0.1:{port}/v1")
    hub = build_hub(settings)
    with pytest.raises(ModelError, match=f"127.0.0.1:{port} did not answer"):
        hub.generator()
    assert hub.state()["generator"].status == "failed"


def test_the_kernel_sees_only_the_configured_server(team_server: str, tmp_path: Path) -> None:
    """`cairn privacy --audit` with a team server: its calls are listed apart, nothing else."""
    if not sys.platform.startswith("linux") or not shutil.which("strace"):
        message = "strace is not installed (`apt-get install strace`; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run this audit, never skip it
        pytest.skip(message)
    from indexer.privacy_audit import audit

    settings = load_settings(tmp_path / "home", generator_backend="server",
                             chat_endpoint=team_server, max_answer_tokens=64)
    outcome = audit(settings, None, soak_s=0, timeout=900)
    assert outcome.returncode == 0, outcome.stderr_tail
    assert outcome.flow["chat_model"].startswith("team-qwen-0.5b @ ")
    assert outcome.report.clean, [a.describe() for a in outcome.report.attempts]
    host, port = team_server.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    if not host.startswith("127."):  # another host to the kernel: seen, and only that one
        assert {(a.address, a.port) for a in outcome.report.allowed} == {(host, int(port))}
        assert outcome.to_dict()["allowed"] == [f"{host}:{port}"]


def test_cli_sets_the_server_and_privacy_names_it(team_server: str, tmp_path: Path) -> None:
    """`cairn models endpoint URL --api-key-stdin` checks the server, saves the settings and a
    user-only key file; `cairn privacy` then says where answers come from; `--off` undoes it."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}

    def cairn(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "indexer.cli", "--home", str(home), *args],
                              input=stdin, env=env, capture_output=True, text=True, timeout=300,
                              check=False)

    done = cairn("models", "endpoint", team_server, "--api-key-stdin", stdin="sk-team-123\n")
    assert done.returncode == 0, done.stderr
    address = team_server.split("//", 1)[1].split("/", 1)[0]
    assert f"Answers will come from {address}" in " ".join(done.stdout.split())
    assert "team-qwen-0.5b" in done.stdout
    key_file = home / "chat-api-key"
    assert key_file.read_text().strip() == "sk-team-123"
    assert key_file.stat().st_mode & 0o777 == 0o600
    saved = json.loads((home / "settings.json").read_text())
    assert "sk-team-123" not in json.dumps(saved)  # the key is never in settings.json
    assert saved["generator_backend"] == "server" and saved["chat_endpoint"] == team_server

    privacy = cairn("privacy", "--json")
    assert privacy.returncode == 0, privacy.stderr
    data = json.loads(privacy.stdout)
    assert data["model_server"]["address"] == address

    off = cairn("models", "endpoint", "--off")
    assert off.returncode == 0 and not key_file.exists()
    assert json.loads(cairn("privacy", "--json").stdout)["model_server"] is None

    bad = cairn("models", "endpoint", "ftp://gpu-box.lan/v1")
    assert bad.returncode != 0 and "Not a model server address" in bad.stderr + bad.stdout
