"""The `cairn` command line, end to end over a tiny corpus with the deterministic fake models.

Pinned here, because the CLI is the product's scripted interface (and the README documents it):
- every command a user types reaches `KnowledgeBase` and prints what the README promises:
  counts after `index`, `file:line` / `file p. N` labels from `search`, files per state and
  failures *with their reason* from `status`, the offline state from `privacy`, citations with
  snippets after `ask`, the retrieved passages from `trace last`;
- `--json` outputs are pure JSON on stdout (scripts parse them), with the documented keys;
- user errors (unknown folder, empty question, a home locked by another process) end with a
  clear message, the documented exit code and never a traceback.

Commands run in-process through typer's `CliRunner` against a private home whose
`settings.json` selects the fake embedder and generator (the same seam as the real models), plus
one subprocess smoke test of the installed `cairn` console script.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from indexer import cli
from indexer.config import load_settings
from indexer.service import KnowledgeBase, build_hub
from models.generator import FakeGenerator
from models.offline import guard_status, install_egress_guard

FAKE_SETTINGS = {"embedder_backend": "fake", "generator_backend": "fake"}
NOT_FOUND = "I couldn't find this in your documents."
WALRUS_Q = "What does the walrus keep a ledger of?"
LAMP_Q = "What does the lighthouse lamp burn through the night?"
OFF_TOPIC_Q = "quantum chromodynamics lattice gauge"


def make_home(root: Path) -> Path:
    home = root / "home"
    home.mkdir(parents=True)
    (home / "settings.json").write_text(json.dumps(FAKE_SETTINGS), encoding="utf-8")
    return home


def make_corpus(root: Path) -> Path:
    """walrus.md (1 chunk, line 3), otters.txt (1 chunk), a 2-page PDF, and one empty file."""
    from reportlab.pdfgen import canvas

    docs = root / "docs"
    docs.mkdir(parents=True)
    (docs / "walrus.md").write_text(
        "# Walrus\n\nThe walrus keeps a ledger of tides in the harbour.\n", encoding="utf-8")
    (docs / "otters.txt").write_text(
        "Otters hold hands while sleeping on quiet rivers.\n"
        "Otters eat sea urchins every single day.\n", encoding="utf-8")
    (docs / "empty.txt").write_text("", encoding="utf-8")
    pdf = canvas.Canvas(str(docs / "guide.pdf"))
    pdf.drawString(72, 720, "Introduction to keeping a lighthouse.")
    pdf.showPage()
    pdf.drawString(72, 720, "The lighthouse lamp burns paraffin oil through the night.")
    pdf.showPage()
    pdf.save()
    return docs


def cairn(home: Path, *args: str) -> Result:
    """Run `cairn --home HOME ARGS…` in-process; any uncaught exception fails the test."""
    result = CliRunner().invoke(cli.app, ["--home", str(home), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"cairn {' '.join(args)} crashed") from result.exception
    assert "Traceback" not in result.output
    return result


def flat(text: str) -> str:
    """Whitespace runs collapsed, so rich's line wrapping does not matter."""
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def _cli_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Wide consoles, so long tmp paths are not folded mid-word by rich.
    for console in (cli.console, cli.err):
        monkeypatch.setattr(console, "width", 250)
    yield
    # The CLI callback installs the guard non-strict; give the session back its strict guard.
    install_egress_guard(strict=True)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Result]:
    """(home, docs, result of the first `cairn index`), shared by the read-only tests."""
    root = tmp_path_factory.mktemp("cli")
    home, docs = make_home(root), make_corpus(root)
    assert cairn(home, "folders", "add", str(docs)).exit_code == 0
    result = cairn(home, "index")
    install_egress_guard(strict=True)
    return home, docs, result


# ------------------------------------------------------------------------------ folders
def test_folders_add_list_remove(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    assert json.loads(cairn(home, "folders", "list", "--json").stdout) == []
    assert "no folders yet" in cairn(home, "folders", "list").stdout

    added = cairn(home, "folders", "add", str(a), str(b))
    assert added.exit_code == 0 and f"watching {a.resolve()}" in added.stdout
    cairn(home, "folders", "add", str(a))  # adding again does not duplicate
    assert json.loads(cairn(home, "folders", "list", "--json").stdout) == [
        str(a.resolve()), str(b.resolve())]
    assert cairn(home, "folders", "list").stdout.split() == [str(a.resolve()), str(b.resolve())]

    removed = cairn(home, "folders", "remove", str(a))
    assert removed.exit_code == 0 and "your files are untouched" in removed.stdout
    assert a.is_dir()
    assert json.loads(cairn(home, "folders", "list", "--json").stdout) == [str(b.resolve())]
    saved = json.loads((home / "settings.json").read_text(encoding="utf-8"))
    assert saved["folders"] == [str(b.resolve())]
    assert saved["embedder_backend"] == "fake"  # the rest of the file is kept


def test_unknown_folders_are_clear_errors(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    missing = tmp_path / "nope"
    added = cairn(home, "folders", "add", str(missing))
    assert added.exit_code == 2
    assert f"Not a folder: {missing}" in flat(added.stderr) and "hint:" in added.stderr
    removed = cairn(home, "folders", "remove", str(tmp_path))
    assert removed.exit_code == 2 and "Not a watched folder" in removed.stderr
    no_folders = cairn(home, "index")
    assert no_folders.exit_code == 2 and "No folders to index" in no_folders.stderr


# ------------------------------------------------------------------------------ index / search
def test_index_prints_counts_and_is_incremental(indexed: tuple[Path, Path, Result]) -> None:
    home, docs, first = indexed
    assert first.exit_code == 0
    out = flat(first.stdout)
    assert "4 new, 0 changed, 0 removed, 0 unchanged" in out
    assert "3 files ready, 1 failed, 0 skipped, 4 chunks" in out  # 1 + 1 + 2 PDF pages
    assert f"failed {docs / 'empty.txt'}: file is empty" in out
    again = flat(cairn(home, "index", "--quiet").stdout)
    assert "0 new, 0 changed, 0 removed, 4 unchanged" in again


def test_search_prints_line_and_page_labels(indexed: tuple[Path, Path, Result]) -> None:
    home, docs, _ = indexed
    pdf = cairn(home, "search", "paraffin lighthouse lamp")
    assert pdf.exit_code == 0
    lines = pdf.stdout.splitlines()
    assert lines[0].startswith("1. guide.pdf p. 2 ")
    assert lines[1].strip() == str(docs / "guide.pdf")
    assert "The lighthouse lamp burns paraffin oil through the night." in lines[2]
    md = cairn(home, "search", "walrus ledger tides", "--ext", "md", "--top-k", "3")
    assert md.stdout.startswith("1. walrus.md:3 § Walrus")
    assert "otters.txt" not in md.stdout and "guide.pdf" not in md.stdout
    hits = json.loads(cairn(home, "search", "otters urchins", "--json", "-k", "2").stdout)
    assert len(hits) == 2
    assert hits[0]["anchor"]["path"] == str(docs / "otters.txt")
    assert (hits[0]["anchor"]["line_start"], hits[0]["anchor"]["line_end"]) == (1, 2)
    bad = cairn(home, "search", "x", "--mode", "fuzzy")
    assert bad.exit_code == 2 and "unknown mode" in bad.stderr


def test_status_shows_files_per_state_and_failure_reasons(
        indexed: tuple[Path, Path, Result]) -> None:
    home, docs, _ = indexed
    text = cairn(home, "status")
    assert text.exit_code == 0
    counts = dict(re.findall(r"files (\w+)\s*│\s*(\d+)", text.stdout))
    assert counts == {"queued": "0", "parsed": "0", "embedded": "3", "failed": "1",
                      "skipped": "0"}
    assert f"failed {docs / 'empty.txt'}: file is empty" in flat(text.stdout)
    assert "offline guard on" in text.stdout
    data = json.loads(cairn(home, "status", "--json").stdout)
    assert data["files_by_stage"]["embedded"] == 3 and data["chunks"] == 4
    assert data["failures"] == [[str(docs / "empty.txt"), "file is empty"]]
    assert data["folders"] == [str(docs)]


def test_privacy_shows_the_offline_state(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    text = cairn(home, "privacy")
    assert text.exit_code == 0
    assert "offline guard: installed" in text.stdout
    assert f"blocked connection attempts this run: {guard_status().blocked}" in text.stdout
    data = json.loads(cairn(home, "privacy", "--json").stdout)
    assert data["guard_installed"] is True
    assert data["blocked_attempts"] == 0 and data["attempts"] == []
    assert data["telemetry"].startswith("none")


def test_privacy_names_the_configured_team_endpoints(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A team model server and a shared index on object storage: both named, with their host
    and port, in `cairn privacy` — before anything has connected to either."""
    home = make_home(tmp_path)
    monkeypatch.setenv("CAIRN_GENERATOR_BACKEND", "server")
    monkeypatch.setenv("CAIRN_CHAT_ENDPOINT", "http://gpu-box.lan:8000/v1")
    monkeypatch.setenv("CAIRN_SHARED_INDEX", "s3://team-docs/cairn")
    monkeypatch.setenv("CAIRN_SHARED_INDEX_OPTIONS",
                       json.dumps({"aws_endpoint": "http://minio.lan:9000"}))
    before = guard_status().blocked
    data = json.loads(cairn(home, "privacy", "--json").stdout)
    assert data["model_server"]["address"] == "gpu-box.lan:8000"
    assert "s3://team-docs/cairn at minio.lan:9000" in data["shared_index"]
    text = flat(cairn(home, "privacy").stdout)
    assert "answers from gpu-box.lan:8000: your documents' passages are sent there" in text
    assert "shared index: s3://team-docs/cairn at minio.lan:9000" in text
    assert guard_status().blocked == before  # saying it connected to nothing


def test_models_list_runs_without_network(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    before = guard_status().blocked
    rows = json.loads(cairn(home, "models", "list", "--json").stdout)
    assert guard_status().blocked == before
    roles = {r["model_id"]: r["role"] for r in rows}
    assert roles["all-minilm-l6-v2-int8"] == "embedder"
    assert roles["qwen2.5-coder-1.5b-instruct-q4_k_m"] == "chat"
    assert all(r["status"] for r in rows)
    text = cairn(home, "models", "list").stdout
    assert all(f"{r['model_id']} ({r['role']}): {r['status']}" in flat(text) for r in rows)


# ------------------------------------------------------------------------------ ask / trace
def test_ask_streams_the_answer_then_lists_sources(
        indexed: tuple[Path, Path, Result], monkeypatch: pytest.MonkeyPatch) -> None:
    home, docs, _ = indexed
    # What is on stdout each time the generator produces its next piece: a streamed answer
    # grows there while the model is still generating.
    on_screen: list[str] = []
    original = FakeGenerator.stream

    def spy(self: FakeGenerator, *args: Any, **kwargs: Any) -> Iterator[str]:
        for piece in original(self, *args, **kwargs):
            sys.stdout.flush()
            on_screen.append(sys.stdout.buffer.getvalue().decode())  # type: ignore[attr-defined]
            yield piece

    monkeypatch.setattr(FakeGenerator, "stream", spy)
    result = cairn(home, "ask", WALRUS_Q, "--no-cache")
    assert result.exit_code == 0
    assert len(on_screen) > 3
    # Before the model's first piece only the passages it is reading are on screen (sources
    # first); the answer then grows after them.
    reading = on_screen[0]
    assert reading.startswith("Reading ") and "walrus.md" in reading
    assert all(screen.startswith(reading) for screen in on_screen)
    streamed = on_screen[-1][len(reading):]
    assert streamed.startswith("The walrus keeps a ledger")  # before generation ended
    out = result.stdout
    answer_at = out.index("The walrus keeps a ledger of tides in the harbour. [1]", len(reading))
    sources_at = out.index("Sources")
    assert answer_at < sources_at
    sources = out[sources_at:]
    assert f"[1] walrus.md:3 § Walrus {docs / 'walrus.md'}" in flat(sources)
    assert "The walrus keeps a ledger of tides in the harbour." in sources  # the snippet
    assert "«" not in out  # highlight markers become styling, not text


def test_ask_json_is_a_structured_answer(indexed: tuple[Path, Path, Result]) -> None:
    home, docs, _ = indexed
    data = json.loads(cairn(home, "ask", WALRUS_Q, "--json").stdout)  # pure JSON on stdout
    assert {"question", "text", "found", "citations", "passages", "trace_id", "stats"} <= set(data)
    assert data["question"] == WALRUS_Q and data["found"] is True
    assert "tides" in data["text"]
    [citation] = data["citations"]
    assert citation["number"] == 1 and citation["label"] == "walrus.md:3 § Walrus"
    assert citation["anchor"]["path"] == str(docs / "walrus.md")
    assert citation["anchor"]["line_start"] == 3 and citation["anchor"]["page"] is None
    assert "«walrus»" in citation["snippet"]

    pdf = json.loads(cairn(home, "ask", LAMP_Q, "--json").stdout)
    assert pdf["found"] is True and "paraffin" in pdf["text"]
    assert [(c["anchor"]["path"], c["anchor"]["page"]) for c in pdf["citations"]] == [
        (str(docs / "guide.pdf"), 2)]


def test_ask_no_stream_prints_the_final_answer_once(indexed: tuple[Path, Path, Result]) -> None:
    home, _, _ = indexed
    out = cairn(home, "ask", WALRUS_Q, "--no-stream", "--no-cache").stdout
    # The final text, where a marker written after the full stop sits on its sentence.
    assert out.startswith("The walrus keeps a ledger of tides in the harbour [1].\n")
    assert out.count("keeps a ledger of tides") == 2  # the answer, then the cited snippet
    assert "walrus.md:3" in out.split("Sources", 1)[1]


def test_ask_top_k_limits_the_passages(indexed: tuple[Path, Path, Result]) -> None:
    home, _, _ = indexed
    question = "When do otters hold hands on rivers?"
    default = json.loads(cairn(home, "ask", question, "--json", "--no-cache").stdout)
    one = json.loads(cairn(home, "ask", question, "--json", "--no-cache", "--top-k", "1").stdout)
    assert len(default["passages"]) == 4  # every chunk is a hit (top_k 8, 5 passages max)
    assert [p["label"] for p in one["passages"]] == ["otters.txt:1-2"]
    assert one["found"] is True and one["citations"][0]["label"] == "otters.txt:1-2"
    assert cairn(home, "ask", question, "--top-k", "0").exit_code == 2


@pytest.mark.parametrize("flags", [[], ["--no-stream"]], ids=["streamed", "no-stream"])
def test_relevance_gate_refusal_prints_not_found_and_closest_passages(
        indexed: tuple[Path, Path, Result], flags: list[str]) -> None:
    home, _, _ = indexed
    result = cairn(home, "ask", OFF_TOPIC_Q, "--no-cache", *flags)
    assert result.exit_code == 0
    trace = json.loads(cairn(home, "trace", "last", "--json").stdout)
    assert trace["stats"]["refused_by"] == "relevance_gate"  # the case under test
    out = result.stdout
    assert NOT_FOUND in out
    closest = flat(out.split("Closest passages", 1)[1])
    # Nothing in the corpus is near the question, so which passages are closest is a tie; the
    # ones the answer kept (its trace) are the ones printed, with their labels.
    labels = [p["label"] for p in trace["passages"]]
    assert len(labels) == 3 and all(label in closest for label in labels)
    assert "Sources" not in out


def test_trace_last_after_ask(indexed: tuple[Path, Path, Result]) -> None:
    home, _, _ = indexed
    asked = json.loads(cairn(home, "ask", LAMP_Q, "--json", "--no-cache").stdout)
    text = cairn(home, "trace", "last")
    assert text.exit_code == 0
    assert text.stdout.startswith(f"{LAMP_Q}  {asked['trace_id']}")
    assert "found: True" in text.stdout
    assert re.search(r"passage guide\.pdf p\. 2 fused=0\.\d{4} bm25=[\d.]+ cos=[\d.]+",
                     text.stdout)
    data = json.loads(cairn(home, "trace", "last", "--json").stdout)
    assert data["trace_id"] == asked["trace_id"] and data["question"] == LAMP_Q
    assert data["found"] is True
    assert [p["label"] for p in data["passages"]] == [p["label"] for p in asked["passages"]]
    assert data["passages"][0]["label"] == "guide.pdf p. 2"
    assert isinstance(data["stats"]["search_s"], float)


def test_trace_last_without_traces(tmp_path: Path) -> None:
    result = cairn(make_home(tmp_path), "trace", "last")
    assert result.exit_code == 1 and "no traces yet" in result.stdout


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_a_clear_error(
        indexed: tuple[Path, Path, Result], question: str) -> None:
    result = cairn(indexed[0], "ask", question)
    assert result.exit_code == 2
    assert "error: The question is empty." in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", [["status"], ["ask", WALRUS_Q], ["search", "walrus"],
                                  ["index"]], ids=lambda a: a[0])
def test_locked_home_is_a_clear_error(
        indexed: tuple[Path, Path, Result], args: list[str]) -> None:
    home = indexed[0]
    settings = load_settings(home)
    owner = KnowledgeBase(settings, build_hub(settings)).open()  # "another Cairn process"
    try:
        result = cairn(home, *args)
    finally:
        owner.close()
    assert result.exit_code == 5
    assert f"error: Another Cairn process is using {home}." in flat(result.stderr)
    assert "hint: Close the other Cairn window" in flat(result.stderr)
    assert cairn(home, "status", "--json").exit_code == 0  # released: usable again


def test_console_script_smoke(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "cairn"
    assert script.exists(), "the `cairn` console script is not installed in this environment"
    home = make_home(tmp_path)
    done = subprocess.run([str(script), "--home", str(home), "privacy", "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["guard_installed"] is True and data["blocked_attempts"] == 0
    missing = subprocess.run([str(script), "--home", str(home), "folders", "remove", "/nope"],
                             capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 2 and "Not a watched folder" in missing.stderr
    assert "Traceback" not in missing.stderr
