"""Glob matching, file verdicts and the walk, on real files in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.ingest import file_filter
from indexer.ingest.file_filter import GlobSet, PathFilter, Verdict, format_mb


def _supported(path: Path) -> bool:
    return path.suffix in {".md", ".txt", ".py"}


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/x/**", "x/a.md", True),
        ("**/x/**", "a/b/x/c.md", True),
        ("**/x/**", "ax/c.md", False),
        ("**/x/**", "a/x", False),  # the folder itself is matched by match_dir, not as a file
        ("*.lock", "Cargo.lock", True),
        ("*.lock", "a/b/Cargo.lock", True),  # no slash: matches the name at any depth
        ("*.lock", "a.lock/readme.md", False),
        ("docs/*.md", "docs/a.md", True),
        ("docs/*.md", "docs/sub/a.md", False),  # * never crosses /
        ("docs/*.md", "x/docs/a.md", False),  # a slash anchors the pattern at the root
        ("/top.md", "top.md", True),
        ("/top.md", "a/top.md", False),
        ("docs/**/*.md", "docs/a.md", True),
        ("docs/**/*.md", "docs/x/y/a.md", True),
        ("**", "any/thing.md", True),
        ("?.md", "a.md", True),
        ("?.md", "ab.md", False),
        ("[!a]*.md", "b.md", True),
        ("[!a]*.md", "a.md", False),
        ("[a-c].md", "b.md", True),
        ("[a-c].md", "d.md", False),
        ("a[b.md", "a[b.md", True),  # unclosed bracket is literal
        ("~$*", "x/~$doc.docx", True),
        ("*~", "notes.md~", True),
        ("*.MD", "a.md", False),  # case-sensitive on POSIX
        ("f(1)+.md", "f(1)+.md", True),  # regex metacharacters are literal
        (".*", "a/.env", True),
        ("build/", "build", False),  # trailing slash: folders only
    ],
)
def test_glob_file_matching(pattern: str, path: str, expected: bool) -> None:
    assert GlobSet([pattern]).match_file(path) is expected


@pytest.mark.parametrize(
    ("pattern", "folder", "expected"),
    [
        ("**/node_modules/**", "node_modules", True),
        ("**/node_modules/**", "a/b/node_modules", True),
        ("**/node_modules/**", "a/node_modules_x", False),
        ("build/", "build", True),
        ("build/", "src/build", True),
        (".*", "a/.git", True),
        ("docs/private/**", "docs/private", True),
        ("docs/private/**", "other/docs/private", False),
    ],
)
def test_glob_folder_matching(pattern: str, folder: str, expected: bool) -> None:
    assert GlobSet([pattern]).match_dir(folder) is expected


def test_case_insensitive_option() -> None:
    assert GlobSet(["*.MD"], case_sensitive=False).match_file("a.md")


def test_empty_globset_matches_nothing() -> None:
    g = GlobSet(["", "  "])
    assert not g
    assert not g.match_file("a.md")
    assert not g.match_dir("a")


@pytest.mark.parametrize(
    "rel",
    [
        ".git/config.md",
        "a/.git/HEAD.md",
        "node_modules/pkg/readme.md",
        "web/node_modules/x.md",
        "src/__pycache__/m.py",
        ".venv/lib/x.py",
        "proj/build/out.md",
        "proj/dist/out.md",
        "a/b.egg-info/PKG.md",
        "notes.md~",
        "notes.md.swp",
        "draft.md.tmp",
        "~$report.md",
        ".hidden.md",
        "a/.cache/x.md",
    ],
)
def test_default_excludes(tmp_path: Path, rel: str) -> None:
    pf = PathFilter(supported=_supported)
    assert pf.is_excluded(tmp_path / rel, tmp_path)
    assert not pf.is_candidate(tmp_path / rel, tmp_path)


def test_wanted_file_is_a_candidate_without_touching_disk(tmp_path: Path) -> None:
    pf = PathFilter(supported=_supported)
    assert pf.is_candidate(tmp_path / "notes" / "a.md", tmp_path)  # does not exist
    assert not pf.is_candidate(tmp_path / "notes" / "a.png", tmp_path)
    assert not pf.is_candidate(tmp_path.parent / "elsewhere.md", tmp_path)
    assert not pf.is_candidate(tmp_path, tmp_path)


def test_hidden_root_itself_is_not_excluded(tmp_path: Path) -> None:
    root = tmp_path / ".notes"
    root.mkdir()
    (root / "a.md").write_text("x")
    pf = PathFilter(supported=_supported)
    assert pf.check_file(root / "a.md", root).ok
    assert list(pf.walk(root)) == [root / "a.md"]


def test_dir_only_pattern_excludes_the_folder_contents(tmp_path: Path) -> None:
    pf = PathFilter(exclude_globs=["out/"], supported=_supported)
    assert pf.is_excluded(tmp_path / "out" / "a.md", tmp_path)
    assert not pf.is_excluded(tmp_path / "about.md", tmp_path)
    assert not pf.should_descend(tmp_path / "out", tmp_path)


def test_include_globs_restrict_silently(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("x")
    (tmp_path / "b.txt").write_text("y")
    pf = PathFilter(include_globs=["*.md"], supported=_supported)
    assert pf.check_file(tmp_path / "a.md", tmp_path) == Verdict(True)
    verdict = pf.check_file(tmp_path / "b.txt", tmp_path)
    assert not verdict.ok and not verdict.skip_visible
    assert list(pf.walk(tmp_path)) == [tmp_path / "a.md"]


def test_unsupported_and_excluded_are_silent(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "a.md.swp").write_text("x")
    pf = PathFilter(supported=_supported)
    for name in ("a.png", "a.md.swp"):
        verdict = pf.check_file(tmp_path / name, tmp_path)
        assert not verdict.ok and not verdict.skip_visible and verdict.reason


def test_too_large_file_is_a_visible_skip(tmp_path: Path) -> None:
    big = tmp_path / "huge.txt"
    with open(big, "wb") as fh:
        fh.truncate(123 * 1024 * 1024)  # sparse: no real disk use
    pf = PathFilter(max_file_bytes=50 * 1024 * 1024, supported=_supported)
    assert pf.check_file(big, tmp_path) == Verdict(
        False, "larger than the 50 MB limit (123 MB)", skip_visible=True
    )
    # the walk still lists it, so the caller's check_file can record the skip
    assert list(pf.walk(tmp_path)) == [big]


def test_file_at_the_limit_is_fine(tmp_path: Path) -> None:
    f = tmp_path / "edge.txt"
    f.write_bytes(b"x" * 1024)
    assert PathFilter(max_file_bytes=1024, supported=_supported).check_file(f, tmp_path).ok
    assert not PathFilter(max_file_bytes=1023, supported=_supported).check_file(f, tmp_path).ok


def test_vanished_file_is_a_silent_refusal(tmp_path: Path) -> None:
    verdict = PathFilter(supported=_supported).check_file(tmp_path / "gone.md", tmp_path)
    assert verdict == Verdict(False, "no longer exists")


def test_format_mb() -> None:
    assert format_mb(50 * 1024 * 1024) == "50 MB"
    assert format_mb(123.4 * 1024 * 1024) == "123 MB"
    assert format_mb(50.3 * 1024 * 1024) == "50.3 MB"
    assert format_mb(0.5 * 1024 * 1024) == "0.5 MB"


def test_from_settings(tmp_path: Path) -> None:
    s = load_settings(
        tmp_path / "home", include_globs=["*.md"], max_file_mb=2, follow_symlinks=True
    )
    pf = PathFilter.from_settings(s, _supported)
    assert pf.max_file_bytes == 2 * 1024 * 1024
    assert pf.follow_symlinks
    assert pf.include.patterns == ("*.md",)
    assert pf.exclude.match_dir(".git")


# --------------------------------------------------------------------------- symlinks
@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "real.md").write_text("inside")
    (outside / "ext.md").write_text("outside")
    (outside / "self").symlink_to(outside)  # a loop outside the root
    (root / "a" / "loop").symlink_to(root)  # a loop back to the root
    (root / "ext_dir").symlink_to(outside)
    (root / "ext_file.md").symlink_to(outside / "ext.md")
    (root / "in_file.md").symlink_to(root / "a" / "real.md")
    (root / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    return root, outside


def test_symlinks_out_of_root_are_ignored_by_default(linked: tuple[Path, Path]) -> None:
    root, _ = linked
    pf = PathFilter(supported=_supported)
    files = list(pf.walk(root))
    assert files == [root / "in_file.md", root / "a" / "real.md"]  # a folder's files first
    assert not pf.check_file(root / "ext_file.md", root).ok
    assert not pf.check_file(root / "ext_dir" / "ext.md", root).ok
    assert not pf.check_file(root / "dangling.md", root).ok
    assert not pf.should_descend(root / "ext_dir", root)
    assert pf.should_descend(root / "a", root)


def test_followed_symlinks_never_loop(linked: tuple[Path, Path]) -> None:
    root, _ = linked
    pf = PathFilter(follow_symlinks=True, supported=_supported)
    files = list(pf.walk(root))
    assert files == [
        root / "ext_file.md",
        root / "in_file.md",
        root / "a" / "real.md",
        root / "ext_dir" / "ext.md",
    ]
    assert len(files) == len(set(files))
    assert pf.check_file(root / "ext_file.md", root).ok


# --------------------------------------------------------------------------- walk
def test_walk_prunes_excluded_folders_and_sorts(tmp_path: Path) -> None:
    for rel in [
        "b.md",
        "a.md",
        "sub/z.md",
        "sub/y.txt",
        "node_modules/m.md",
        ".git/g.md",
        "sub/build/out.md",
        "img.png",
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    pf = PathFilter(supported=_supported)
    assert list(pf.walk(tmp_path)) == [
        tmp_path / "a.md",
        tmp_path / "b.md",
        tmp_path / "sub" / "y.txt",
        tmp_path / "sub" / "z.md",
    ]


def test_walk_of_a_subfolder_matches_globs_relative_to_the_root(tmp_path: Path) -> None:
    for rel in ["docs/public/a.md", "docs/private/b.md"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    pf = PathFilter(exclude_globs=["docs/private/**"], supported=_supported)
    assert list(pf.walk(tmp_path / "docs", root=tmp_path)) == [tmp_path / "docs/public/a.md"]
    assert list(pf.walk(tmp_path / "docs" / "private", root=tmp_path)) == []
    assert list(pf.walk(tmp_path / "missing", root=tmp_path)) == []


def test_walk_handles_very_deep_trees(tmp_path: Path) -> None:
    depth = 1200  # deeper than Python's recursion limit: a recursive walk would fail
    chain = []
    p = tmp_path
    try:
        for _ in range(depth):
            p = p / "d"
            p.mkdir()
            chain.append(p)
        (p / "deep.md").write_text("x")
        assert list(PathFilter(supported=_supported).walk(tmp_path)) == [p / "deep.md"]
    finally:
        # shutil.rmtree (and so pytest's tmp cleanup) recurses per level: remove it here.
        (p / "deep.md").unlink(missing_ok=True)
        for d in reversed(chain):
            d.rmdir()


def test_walk_survives_files_and_folders_vanishing(tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        for i in range(20):
            (tmp_path / d / f"{i:02}.md").write_text("x")
    walk = PathFilter(supported=_supported).walk(tmp_path)
    first = next(walk)
    assert first == tmp_path / "a" / "00.md"
    for i in range(1, 20):
        (tmp_path / "a" / f"{i:02}.md").unlink()
    for f in (tmp_path / "b").iterdir():
        f.unlink()
    (tmp_path / "b").rmdir()
    assert list(walk) == []


def test_walk_reports_unreadable_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "secret.md").write_text("x")
    (tmp_path / "open.md").write_text("y")
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if os.path.basename(path) == "locked":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(file_filter.os, "scandir", scandir)
    errors: list[tuple[str, str]] = []
    files = list(
        PathFilter(supported=_supported).walk(tmp_path, on_error=lambda p, r: errors.append((p, r)))
    )
    assert files == [tmp_path / "open.md"]
    assert errors == [(str(tmp_path / "locked"), "Permission denied")]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_walk_reports_really_unreadable_folders(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "secret.md").write_text("x")
    locked.chmod(0)
    try:
        errors: list[tuple[str, str]] = []
        files = list(
            PathFilter(supported=_supported).walk(
                tmp_path, on_error=lambda p, r: errors.append((p, r))
            )
        )
    finally:
        locked.chmod(0o700)
    assert files == []
    assert [p for p, _ in errors] == [str(locked)]
