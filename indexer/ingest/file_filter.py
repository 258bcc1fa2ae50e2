"""Which files under a watched folder Cairn indexes, and a walk that lists them.

One `PathFilter` answers the question for the scanner (startup walk), the watcher (one cheap call
per filesystem event) and the writer (a final check before reading a file), so the three can never
disagree about what belongs in the index.

Globs are matched against the path *relative to the watched root*, with `/` separators, so the
same settings work on every OS and a user's folder name never accidentally matches a pattern:

- `*` and `?` never cross a `/`; `[abc]`, `[a-z]`, `[!abc]` are character classes.
- `**` as a whole segment matches zero or more segments: `**/x/**` is "inside any folder x".
- A pattern without a `/` matches the *name* at any depth (gitignore style): `*.tmp`, `.*`.
- A trailing `/` restricts a pattern to folders: `build/`.
- A folder that matches an exclude pattern is excluded with everything inside it.

Python 3.11 has no `PurePath.full_match` (3.13) and `fnmatch` lets `*` cross `/`, hence the small
translator here. All exclude patterns compile into one regular expression, so a check costs one
regex match per path component, not one per pattern.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from indexer.config import DEFAULT_EXCLUDES, Settings
from indexer.storage.search_filter import glob_to_regex as fnmatch_regex

_MIB = 1024 * 1024

ErrorCallback = Callable[[str, str], None]


def glob_to_regex(pattern: str) -> str:
    """Translate one glob (syntax in the module docstring) into a regex for `fullmatch`.

    The regex is matched against a relative POSIX path; directories are also tried with a
    trailing `/`, which is how `x/**` comes to match the folder `x` itself.
    """
    pattern = pattern.strip().replace("\\", "/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    pattern = pattern.rstrip("/")
    anchored = "/" in pattern
    pattern = pattern.lstrip("/")
    if not pattern:
        return r"(?!)"  # an empty pattern matches nothing
    segments = pattern.split("/")
    if not anchored:
        segments = ["**", *segments]
    out: list[str] = []
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if seg == "**":
            out.append(".*" if i == last else "(?:[^/]*/)*")
        else:
            out.append(fnmatch_regex(seg, within_segment=True) + ("" if i == last else "/"))
    return "".join(out)


class GlobSet:
    """A set of globs compiled into one regex; `match_file` / `match_dir` take relative paths."""

    def __init__(self, patterns: Iterable[str], *, case_sensitive: bool = True) -> None:
        self.patterns: tuple[str, ...] = tuple(p for p in patterns if p and p.strip())
        flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
        file_parts: list[str] = []
        dir_parts: list[str] = []
        for p in self.patterns:
            body = f"(?:{glob_to_regex(p)})"
            dir_parts.append(body)
            if not p.strip().endswith("/"):  # "build/" names folders only
                file_parts.append(body)
        self._file = re.compile("|".join(file_parts) or r"(?!)", flags)
        self._dir = re.compile("|".join(dir_parts) or r"(?!)", flags)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def match_file(self, rel: str) -> bool:
        """True if the file at relative POSIX path `rel` matches a pattern."""
        return self._file.fullmatch(rel) is not None

    def match_dir(self, rel: str) -> bool:
        """True if the folder `rel` matches (`x/**` matches `x` itself: everything in it would)."""
        return self._dir.fullmatch(rel) is not None or self._dir.fullmatch(rel + "/") is not None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether to index a file. `skip_visible` marks refusals the user should see (too large);
    everything else (excluded, unsupported, outside) is silently not Cairn's business."""

    ok: bool
    reason: str | None = None
    skip_visible: bool = False


_OK = Verdict(True)


def _accept_all(path: Path) -> bool:
    return True


def format_mb(n_bytes: float) -> str:
    """`123 MB`, `50 MB`, `1.5 MB`: short enough for a status line, exact enough to compare."""
    mb = n_bytes / _MIB
    if mb >= 100:
        text = f"{mb:.0f}"
    elif mb >= 0.1:
        text = f"{mb:.1f}".rstrip("0").rstrip(".")
    else:
        text = f"{mb:.2g}"
    return f"{text} MB"


def _within(path: str, root: str) -> bool:
    """String containment on normalised absolute paths (`/a/b` is not inside `/a/bc`)."""
    if path == root:
        return True
    prefix = root if root.endswith(os.sep) else root + os.sep
    return path.startswith(prefix)


class PathFilter:
    """Decides which files under a root are indexed; also walks a root to list them.

    `supported` says whether a parser exists for a path (by name only: it is called once per
    event on the watcher thread). Sizes and symlinks are only looked at by `check_file` and `walk`,
    which touch the disk; `is_candidate` / `is_excluded` never do.
    """

    def __init__(
        self,
        *,
        include_globs: Iterable[str] = (),
        exclude_globs: Iterable[str] = DEFAULT_EXCLUDES,
        max_file_bytes: int = 50 * _MIB,
        follow_symlinks: bool = False,
        supported: Callable[[Path], bool] = _accept_all,
        case_sensitive: bool | None = None,
    ) -> None:
        if case_sensitive is None:
            case_sensitive = os.name != "nt"
        self.include = GlobSet(include_globs, case_sensitive=case_sensitive)
        self.exclude = GlobSet(exclude_globs, case_sensitive=case_sensitive)
        self.max_file_bytes = int(max_file_bytes)
        self.follow_symlinks = follow_symlinks
        self.supported = supported

    @classmethod
    def from_settings(
        cls, settings: Settings, supported: Callable[[Path], bool] = _accept_all
    ) -> PathFilter:
        """The filter a composition root builds from the user's settings."""
        return cls(
            include_globs=settings.include_globs,
            exclude_globs=settings.exclude_globs,
            max_file_bytes=settings.max_file_bytes,
            follow_symlinks=settings.follow_symlinks,
            supported=supported,
        )

    # ------------------------------------------------------------------ pure path checks
    @staticmethod
    def relative(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str | None:
        """`path` relative to `root` with `/` separators; "" for the root; None if outside."""
        p = os.path.normpath(os.fspath(path))
        r = os.path.normpath(os.fspath(root))
        if p == r:
            return ""
        prefix = r if r.endswith(os.sep) else r + os.sep
        if not p.startswith(prefix):
            return None
        rel = p[len(prefix) :]
        return rel.replace(os.sep, "/") if os.sep != "/" else rel

    def _dir_rel_excluded(self, rel: str) -> bool:
        return bool(rel) and self.exclude.match_dir(rel)

    def _ancestors_excluded(self, rel: str) -> bool:
        """True if any folder between the root and `rel` (exclusive) is excluded."""
        end = rel.find("/")
        while end != -1:
            if self.exclude.match_dir(rel[:end]):
                return True
            end = rel.find("/", end + 1)
        return False

    def is_excluded(
        self, path: str | os.PathLike[str], root: str | os.PathLike[str], *, is_dir: bool = False
    ) -> bool:
        """True if an exclude pattern matches the path or one of its folders (or it is outside)."""
        rel = self.relative(path, root)
        if rel is None:
            return True
        if rel == "":
            return False
        if self._ancestors_excluded(rel):
            return True
        return self.exclude.match_dir(rel) if is_dir else self.exclude.match_file(rel)

    def _file_rel_wanted(self, rel: str, path: Path | str) -> bool:
        if self.exclude.match_file(rel) or self._ancestors_excluded(rel):
            return False
        if self.include and not self.include.match_file(rel):
            return False
        return self.supported(Path(path))

    def is_candidate(self, path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
        """Name-only check for a file (no disk access): inside root, not excluded, included, and
        supported. The watcher's handler calls this for every event."""
        rel = self.relative(path, root)
        if not rel:
            return False
        return self._file_rel_wanted(rel, Path(path))

    def should_descend(
        self, dir_path: str | os.PathLike[str], root: str | os.PathLike[str]
    ) -> bool:
        """Whether a walk enters `dir_path`: not excluded, and not a symlink leading out of the
        root unless symlinks are followed."""
        if self.is_excluded(dir_path, root, is_dir=True):
            return False
        if not self.follow_symlinks and os.path.islink(dir_path):
            real = os.path.realpath(dir_path)
            return _within(real, os.path.realpath(root))
        return True

    # ------------------------------------------------------------------ disk checks
    def check_file(self, path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Verdict:
        """Final word on one file, called by the writer before reading it."""
        rel = self.relative(path, root)
        if not rel:
            return Verdict(False, "outside the watched folder")
        if self.exclude.match_file(rel) or self._ancestors_excluded(rel):
            return Verdict(False, "excluded by a pattern")
        if self.include and not self.include.match_file(rel):
            return Verdict(False, "not matched by the include patterns")
        if not self.supported(Path(path)):
            return Verdict(False, "unsupported file type")
        path_s = os.fspath(path)
        # Also catches a symlinked folder on the way: the real file must be inside the root.
        if not self.follow_symlinks and not _within(
            os.path.realpath(path_s), os.path.realpath(root)
        ):
            return Verdict(False, "symlink pointing outside the watched folder")
        try:
            st = os.stat(path_s)
        except FileNotFoundError:
            return Verdict(False, "no longer exists")
        except OSError as exc:
            return Verdict(False, f"cannot be read: {exc.strerror or exc}", skip_visible=True)
        return self._size_verdict(st)

    def _size_verdict(self, st: os.stat_result) -> Verdict:
        if not stat.S_ISREG(st.st_mode):
            return Verdict(False, "not a regular file")
        if st.st_size > self.max_file_bytes:
            reason = (
                f"larger than the {format_mb(self.max_file_bytes)} limit ({format_mb(st.st_size)})"
            )
            return Verdict(False, reason, skip_visible=True)
        return _OK

    def walk(
        self,
        top: str | os.PathLike[str],
        *,
        root: str | os.PathLike[str] | None = None,
        on_error: ErrorCallback | None = None,
    ) -> Iterator[Path]:
        """Yield every file under `top` that the index should know about, folders in name order.

        `root` is the watched folder the globs are relative to (default: `top`); pass it when
        re-scanning a subfolder. Files refused *visibly* (too large) are yielded too, so callers
        that run `check_file` can record them as skipped; silently ignored ones are not.

        Iterative (any depth), never follows a symlink back into the root (its target is walked
        under its real path) and never enters a real folder twice, so loops end. Unreadable folders
        are reported through `on_error(path, reason)` and skipped; entries vanishing mid-walk are
        skipped silently (the watcher reports the delete).
        """
        top_s = os.path.abspath(os.fspath(top))
        root_s = os.path.abspath(os.fspath(root)) if root is not None else top_s
        top_rel = self.relative(top_s, root_s)
        if top_rel is None:
            return
        if top_rel and (self._ancestors_excluded(top_rel) or self.exclude.match_dir(top_rel)):
            return
        real_root = os.path.realpath(root_s)
        try:
            st = os.stat(top_s)
        except FileNotFoundError:
            return
        except OSError as exc:
            if on_error is not None:
                on_error(top_s, exc.strerror or str(exc))
            return
        if not stat.S_ISDIR(st.st_mode):
            return
        visited = {(st.st_dev, st.st_ino)}
        stack: list[tuple[str, str]] = [(top_s, top_rel)]
        while stack:
            dir_path, rel_dir = stack.pop()
            try:
                with os.scandir(dir_path) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except (FileNotFoundError, NotADirectoryError):
                continue  # vanished (or replaced by a file) since it was listed
            except OSError as exc:
                if on_error is not None:
                    on_error(dir_path, exc.strerror or str(exc))
                continue
            subdirs: list[tuple[str, str]] = []
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    is_link = entry.is_symlink()
                    is_dir = entry.is_dir()  # follows symlinks
                except OSError:
                    continue
                if is_dir:
                    sub = self._enter(entry, rel, is_link, real_root, visited)
                    if sub is not None:
                        subdirs.append(sub)
                elif self._file_rel_wanted(rel, entry.path) and self._file_entry_ok(
                    entry, is_link, real_root, on_error
                ):
                    yield Path(entry.path)
            stack.extend(reversed(subdirs))

    def _enter(
        self,
        entry: os.DirEntry[str],
        rel: str,
        is_link: bool,
        real_root: str,
        visited: set[tuple[int, int]],
    ) -> tuple[str, str] | None:
        """The (path, rel) to descend into for a folder entry, or None to prune it."""
        if self.exclude.match_dir(rel):
            return None
        if is_link:
            real = os.path.realpath(entry.path)
            if _within(real, real_root):
                return None  # walked under its real path; following it would list files twice
            if not self.follow_symlinks:
                return None
        try:
            st = entry.stat()
        except OSError:
            return None
        key = (st.st_dev, st.st_ino)
        if key in visited:
            return None  # a loop, or a second link to the same folder
        visited.add(key)
        return entry.path, rel

    def _file_entry_ok(
        self,
        entry: os.DirEntry[str],
        is_link: bool,
        real_root: str,
        on_error: ErrorCallback | None,
    ) -> bool:
        if (
            is_link
            and not self.follow_symlinks
            and not _within(os.path.realpath(entry.path), real_root)
        ):
            return False
        try:
            st = entry.stat()
        except FileNotFoundError:
            return False  # vanished, or a dangling symlink
        except OSError as exc:
            if on_error is not None:
                on_error(entry.path, exc.strerror or str(exc))
            return False
        return stat.S_ISREG(st.st_mode)
