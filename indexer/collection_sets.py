"""Collections: named sets of folders, each a *view* over the one index.

Why a view and not a table per collection: a folder may belong to several collections, and its
files must be parsed and embedded once; one LanceDB table searched with a path-prefix filter
(`SearchFilter.folders`, the same filter `--folder` uses) gives that for free, and measured no
slower than per-collection tables at 100k chunks (docs/performance.md, "search p95 per
collection layout"). So a collection is only a name and a list of folders, kept in the settings
(`Settings.collections`), and a search in a collection is a search restricted to its folders.

A collection's folder is a watched folder or a folder inside one; adding a folder that is in no
watched folder starts watching it (`KnowledgeBase.add_folder`). Deleting a collection, or taking
a folder out of one, forgets the name only: no file is touched, and the folder stays watched and
indexed (it is still part of "all").

(The module is not called `collections.py`: that name would shadow the standard library's
`collections` for any script run from inside this folder.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from indexer.config import Settings, save_settings
from indexer.errors import UserInputError
from indexer.storage.search_filter import is_under

ALL = "all"  # the name that means every folder (`--collection all`, the GUI's "All folders")
MAX_NAME = 64


def check_name(name: str) -> str:
    """A collection name as stored: stripped, non-empty, printable, not "all", ≤ 64 chars."""
    clean = " ".join(name.split())
    if not clean:
        raise UserInputError("A collection needs a name.")
    if len(clean) > MAX_NAME:
        raise UserInputError(f"Collection names are at most {MAX_NAME} characters.")
    if not clean.isprintable():
        raise UserInputError("A collection name cannot hold control characters.")
    if clean.casefold() == ALL:
        raise UserInputError(f"'{ALL}' means every folder; choose another name.")
    return clean


def scoped_folders(scope: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The folders a search may look in when both a collection (`scope`) and the caller
    (`requested`, e.g. `--folder`) restrict it: the intersection of two unions of subtrees.

    Two subtrees intersect only when one holds the other, so the intersection is the deeper
    folder of each such pair. An empty result means "nothing matches" (not "no filter").
    """
    if not requested:
        return list(dict.fromkeys(scope))
    out: list[str] = []
    for s in scope:
        for r in requested:
            if is_under(r, s):
                out.append(r)
            elif is_under(s, r):
                out.append(s)
    return list(dict.fromkeys(out))


def in_scope(path: str, folders: Sequence[str] | None) -> bool:
    """True when `path` is in one of `folders` (None: no collection, every path is)."""
    return folders is None or any(is_under(path, f) for f in folders)


class Collections:
    """The collections of one home, read from and written to its `Settings`. Thread-safe.

    `watched()` lists the watched folders and `watch(folder)` starts watching one (the
    knowledge base's `folders` / `add_folder`): passed in, so this module needs no
    `KnowledgeBase` and the facade only delegates.
    """

    def __init__(
        self,
        settings: Settings,
        watched: Callable[[], list[Path]],
        watch: Callable[[Path], Path],
    ) -> None:
        self._settings = settings
        self._watched = watched
        self._watch = watch
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        """Collection names, sorted case-insensitively (the order the CLI and GUI list)."""
        return sorted(self._settings.collections, key=str.casefold)

    def as_dict(self) -> dict[str, list[Path]]:
        """A copy: name → folders."""
        return {n: list(self._settings.collections[n]) for n in self.names()}

    def folders(self, name: str) -> list[Path]:
        return list(self._settings.collections[self._existing(name)])

    def of_folder(self, folder: Path | str) -> list[str]:
        """The collections a folder (or a file) is in: those with a folder holding it."""
        path = str(Path(folder).expanduser().resolve())
        return [n for n in self.names()
                if any(is_under(path, str(f)) for f in self._settings.collections[n])]

    def scope(self, name: str | None) -> list[str] | None:
        """The folders (as strings) a search in collection `name` is limited to; None for
        every folder (`name` None or "all"). Unknown names are refused."""
        if name is None or name.strip().casefold() == ALL:
            return None
        return [str(f) for f in self.folders(name)]

    def _existing(self, name: str) -> str:
        clean = " ".join(name.split())
        current = self._settings.collections
        if clean in current:
            return clean
        folded = {n.casefold(): n for n in current}
        if clean.casefold() in folded:
            return folded[clean.casefold()]
        known = ", ".join(self.names()) or "none yet"
        raise UserInputError(f"No collection named {name!r}.", hint=f"Collections: {known}.")

    # ------------------------------------------------------------------ writing
    def create(self, name: str, folders: Sequence[Path | str] = ()) -> str:
        """A new collection with these folders (each watched from now on if it was not)."""
        clean = check_name(name)
        with self._lock:
            if clean.casefold() in {n.casefold() for n in self._settings.collections}:
                raise UserInputError(f"A collection named {clean!r} exists already.")
            paths = [self._admit(f) for f in folders]
            self._write({**self._settings.collections, clean: paths})
        return clean

    def rename(self, old: str, new: str) -> str:
        clean = check_name(new)
        with self._lock:
            current = self._existing(old)
            others = {n.casefold() for n in self._settings.collections if n != current}
            if clean.casefold() in others:
                raise UserInputError(f"A collection named {clean!r} exists already.")
            self._write({(clean if n == current else n): f
                         for n, f in self._settings.collections.items()})
        return clean

    def delete(self, name: str) -> list[Path]:
        """Forget a collection; returns its folders, which stay watched and indexed."""
        with self._lock:
            current = self._existing(name)
            folders = list(self._settings.collections[current])
            self._write({n: f for n, f in self._settings.collections.items() if n != current})
        return folders

    def add(self, name: str, folder: Path | str) -> Path:
        with self._lock:
            current = self._existing(name)
            path = self._admit(folder)
            folders = self._settings.collections[current]
            if path not in folders:
                self._write({**self._settings.collections, current: [*folders, path]})
        return path

    def remove(self, name: str, folder: Path | str) -> None:
        """Take a folder out of a collection (it stays watched and indexed)."""
        path = Path(folder).expanduser().resolve()
        with self._lock:
            current = self._existing(name)
            folders = self._settings.collections[current]
            if path not in folders:
                raise UserInputError(f"{path} is not in the collection {current!r}.")
            self._write({**self._settings.collections,
                         current: [f for f in folders if f != path]})

    def _admit(self, folder: Path | str) -> Path:
        """A folder a collection may hold: inside a watched folder, or watched from now on."""
        path = Path(folder).expanduser().resolve()
        if any(is_under(str(path), str(w)) for w in self._watched()):
            if not path.is_dir():
                raise UserInputError(f"Not a folder: {path}", hint="Give a folder, not a file.")
            return path
        return self._watch(path)  # validates it (exists, is a folder) and queues it

    def _write(self, collections: dict[str, list[Path]]) -> None:
        self._settings.collections = collections
        save_settings(self._settings, keys={"collections"})
