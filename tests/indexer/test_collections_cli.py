"""`cairn collections …` and `--collection` on search, ask, status and eval run (fake models).

The user's path through the CLI: make two collections over three folders, search and ask in
one, see its status, run a retrieval eval in it, rename and delete, and see that files and the
index were never touched; unknown names end with exit code 2 and a hint, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer import cli
from models.offline import install_egress_guard
from tests.indexer.test_cli import cairn, make_home


@pytest.fixture(autouse=True)
def _cli_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for console in (cli.console, cli.err):
        monkeypatch.setattr(console, "width", 250)
    yield
    install_egress_guard(strict=True)


def _folders(root: Path) -> tuple[Path, Path]:
    birds, fish = root / "birds", root / "fish"
    for d, text in ((birds, "The heron waits in the shallows for a fish."),
                    (fish, "The trout waits in the shallows for a fly.")):
        d.mkdir(parents=True)
        (d / f"{d.name}.md").write_text(f"# {d.name}\n\n{text}\n", encoding="utf-8")
    return birds, fish


def test_collections_from_the_command_line(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    birds, fish = _folders(tmp_path / "docs")
    assert cairn(home, "collections", "create", "Birds", str(birds)).exit_code == 0
    assert cairn(home, "collections", "create", "Water").exit_code == 0
    assert cairn(home, "collections", "add", "Water", str(fish)).exit_code == 0
    assert cairn(home, "collections", "add", "Water", str(birds)).exit_code == 0
    assert cairn(home, "index").exit_code == 0

    listed = json.loads(cairn(home, "collections", "list", "--json").stdout)
    assert listed == [{"name": "Birds", "folders": [str(birds)], "files": 1},
                      {"name": "Water", "folders": [str(fish), str(birds)], "files": 2}]

    hits = json.loads(cairn(home, "search", "waits in the shallows", "--json",
                            "--collection", "Birds").stdout)
    assert hits and {Path(h["anchor"]["path"]).parent for h in hits} == {birds}
    hits = json.loads(cairn(home, "search", "waits in the shallows", "--json").stdout)
    assert {Path(h["anchor"]["path"]).parent for h in hits} == {birds, fish}

    answer = json.loads(cairn(home, "ask", "What waits in the shallows?", "--json",
                              "-c", "Birds").stdout)
    assert all(Path(c["anchor"]["path"]).parent == birds for c in answer["citations"])

    status = json.loads(cairn(home, "status", "--json", "--collection", "Birds").stdout)
    assert status["folders"] == [str(birds)] and sum(status["files_by_stage"].values()) == 1

    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "heron shallows", "answerable": True,
                                     "source_file": "birds.md"}) + "\n")
    out = tmp_path / "report"
    result = cairn(home, "eval", "run", str(questions), "--retrieval-only",
                   "--collection", "Birds", "--out", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert "Birds" in json.dumps(report)

    assert cairn(home, "collections", "rename", "Water", "Lake").exit_code == 0
    assert cairn(home, "collections", "remove", "Lake", str(birds)).exit_code == 0
    result = cairn(home, "collections", "delete", "Lake")
    assert result.exit_code == 0 and "untouched" in result.stdout
    listed = json.loads(cairn(home, "collections", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["Birds"]
    assert (fish / "fish.md").exists()
    assert json.loads(cairn(home, "folders", "list", "--json").stdout) == [str(birds),
                                                                           str(fish)]

    result = cairn(home, "search", "heron", "--collection", "Nowhere")
    assert result.exit_code == 2 and "No collection named" in result.output
