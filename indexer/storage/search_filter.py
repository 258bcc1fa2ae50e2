"""Escaping and path filters shared by the LanceDB store and the in-memory vector index.

Search filters must select the same rows on both retrieval paths: keyword search pushes them into
LanceDB as a SQL `WHERE` clause, vector search evaluates them in Python over the path array. One
`SearchFilter` owns both translations so they cannot drift apart.

Paths are arbitrary user data (quotes, backslashes, newlines, emoji, `%` and `_`), so every string
that reaches SQL goes through `sql_str`, and prefix tests use `starts_with()` rather than `LIKE`
(whose `%`/`_` wildcards would need a second escaping layer). Globs become regular expressions in
the subset that Python's `re` and Rust's `regex` (DataFusion's `regexp_like`) read identically.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_SEPARATORS = ("/", "\\")


def sql_str(value: str) -> str:
    """Quote `value` as a SQL string literal for LanceDB (DataFusion) filters.

    DataFusion follows standard SQL: inside single quotes only `'` is special (written `''`);
    backslashes, newlines and any Unicode are literal. NUL cannot be stored in a filter, and no
    real path contains one, so it is refused rather than silently truncated.
    """
    if "\x00" in value:
        raise ValueError("NUL character in a SQL string literal")
    return "'" + value.replace("'", "''") + "'"


_WORD = re.compile(r"[^\W_]+")


def fts_query_text(query: str) -> str:
    """Reduce any user text to plain words for the full-text matcher.

    Quotes, colons, parentheses, `AND`/`OR`/`NOT` and other operators carry no meaning for us
    and must never reach a query parser; the index tokenizer splits on the same non-alphanumeric
    characters, so nothing searchable is lost.
    """
    return " ".join(_WORD.findall(query))


def sql_in(column: str, values: Iterable[str]) -> str:
    """`column IN ('a', 'b')` with every value escaped; `FALSE` for an empty list (valid SQL)."""
    items = [sql_str(v) for v in values]
    if not items:
        return "FALSE"
    return f"{column} IN ({', '.join(items)})"


def ext_of(path: str) -> str:
    """The normalised extension stored with every row: lower case with its dot (`.md`), or ``""``."""
    return os.path.splitext(path)[1].lower()


def normalize_ext(ext: str) -> str:
    """Accept `md`, `.MD` or `*.md` from users and settings; return `.md` (``""`` stays ``""``)."""
    ext = ext.strip().lower().lstrip("*")
    if ext and not ext.startswith("."):
        ext = "." + ext
    return ext


def dir_prefix(folder: str) -> str:
    """`folder` with exactly one trailing separator, so `/a/b` does not match `/a/bc/x.md`."""
    stripped = folder.rstrip("/\\")
    if not stripped:  # the root itself ("/")
        return folder[:1] or os.sep
    # Windows paths use backslashes; everything Cairn stores on POSIX uses "/".
    sep = "\\" if ("\\" in stripped and "/" not in stripped) else "/"
    return stripped + sep


def is_under(path: str, folder: str) -> bool:
    """True when `path` is `folder` itself or anywhere inside it."""
    prefix = dir_prefix(folder)
    return path == _strip_sep(folder) or path.startswith(prefix)


def _strip_sep(folder: str) -> str:
    return folder.rstrip("/\\") or folder


# ASCII punctuation may be backslash-escaped in both Python `re` and Rust `regex`; everything else
# (letters, digits, whitespace, non-ASCII) is written literally, which both engines also accept.
_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _lit(ch: str) -> str:
    return "\\" + ch if ch in _PUNCT else ch


def glob_to_regex(glob: str, *, within_segment: bool = False) -> str:
    """Translate an `fnmatch`-style glob into an unanchored regex body (case-sensitive).

    `*` matches any run of characters *including* path separators (as `fnmatch` does), `?` one
    character, `[abc]`/`[a-z]`/`[!abc]` a character class; an unclosed `[` is a literal. Callers
    anchor it: `re.fullmatch(body, path, re.S)` in Python, `'^(?s)' + body + '$'` in SQL. With
    `within_segment` no wildcard or negated class crosses a `/` (gitignore-style path segments).
    The escaping suits both Python's and LanceDB's (Rust) regex syntax.
    """
    star, one, negated = ("[^/]*", "[^/]", "[^/") if within_segment else (".*", ".", "[^")
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        ch = glob[i]
        i += 1
        if ch == "*":
            while i < n and glob[i] == "*":
                i += 1
            out.append(star)
        elif ch == "?":
            out.append(one)
        elif ch == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append(_lit("["))
                continue
            body = glob[i:j]
            i = j + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            parts: list[str] = []
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    parts.append(f"{_lit(body[k])}-{_lit(body[k + 2])}")
                    k += 3
                else:
                    parts.append(_lit(body[k]))
                    k += 1
            out.append((negated if negate else "[") + "".join(parts) + "]")
        else:
            out.append(_lit(ch))
    return "".join(out)


@lru_cache(maxsize=64)
def _compiled_glob(glob: str) -> re.Pattern[str]:
    return re.compile(glob_to_regex(glob), re.DOTALL)


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Restrict a search to some folders, extensions and/or a path glob (all given must hold).

    - `folders`: a row matches if its path is one of these folders or inside one (any depth).
    - `exts`: normalised extensions (`.md`); compared with the row's `ext` column / `ext_of(path)`.
    - `path_glob`: an `fnmatch` glob matched case-sensitively against the whole path.
    Hashable, so the vector index can cache the row mask it computes for a filter.
    """

    folders: tuple[str, ...] = ()
    exts: frozenset[str] = frozenset()
    path_glob: str | None = None

    @classmethod
    def create(
        cls,
        folders: Iterable[str] | None = None,
        exts: Iterable[str] | None = None,
        path_glob: str | None = None,
    ) -> SearchFilter | None:
        """Build a filter from user arguments; None when nothing restricts the search."""
        fs = tuple(dict.fromkeys(str(f) for f in folders or () if str(f)))
        es = frozenset(normalize_ext(e) for e in exts or () if e.strip())
        glob = path_glob or None
        if not fs and not es and glob is None:
            return None
        return cls(fs, es, glob)

    def matches(self, path: str) -> bool:
        """Evaluate the filter on one path (the vector index's side)."""
        if self.folders and not any(is_under(path, f) for f in self.folders):
            return False
        if self.exts and ext_of(path) not in self.exts:
            return False
        return self.path_glob is None or _compiled_glob(self.path_glob).fullmatch(path) is not None

    def where_sql(self) -> str:
        """The same filter as a LanceDB `WHERE` clause over the `path` and `ext` columns."""
        clauses: list[str] = []
        if self.folders:
            ors: list[str] = []
            for f in self.folders:
                ors.append(f"path = {sql_str(_strip_sep(f))}")
                ors.append(f"starts_with(path, {sql_str(dir_prefix(f))})")
            clauses.append("(" + " OR ".join(ors) + ")")
        if self.exts:
            clauses.append(sql_in("ext", sorted(self.exts)))
        if self.path_glob is not None:
            pattern = "^(?s)" + glob_to_regex(self.path_glob) + "$"
            clauses.append(f"regexp_like(path, {sql_str(pattern)})")
        return " AND ".join(clauses) if clauses else "TRUE"
