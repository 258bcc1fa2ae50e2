"""Plain text, source code and CSV/TSV: byte decoding with encoding detection, line anchors.

Decoding order (why: cheap and certain first, guessing last):
1. a byte-order mark (UTF-8/16/32) is authoritative;
2. strict UTF-8 — most files today, and a wrong guess here is nearly impossible;
3. charset-normalizer — legacy code pages (cp1252, Latin-1, Shift-JIS…) and BOM-less UTF-16;
4. UTF-8 with replacement when only a handful of bytes are invalid (a file damaged in one spot
   is still worth indexing; a warning says so).
Whatever comes out is rejected as binary when it is full of NULs/control characters: a `.txt`
that is really a database dump must fail visibly, not flood the index with garbage.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

from indexer.errors import ParseError
from indexer.ingest.parsing.sections import (
    LineIndex,
    SectionBuilder,
    line_sections,
    normalise_newlines,
)
from indexer.records import ParsedDocument

# fmt: off
#: Extensions parsed as prose (kind="text").
TEXT_EXTENSIONS = frozenset({
    ".txt", ".text", ".log", ".rst", ".adoc", ".asciidoc", ".org", ".tex", ".bib", ".srt",
    ".vtt", ".me", ".nfo", ".textile",
})
#: Extensions parsed as code or structured config (kind="code"). Generous on purpose: anything
#: a person keeps in a notes/projects folder that is readable text.
CODE_EXTENSIONS = frozenset({
    ".py", ".pyi", ".pyw", ".pyx", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".java", ".kt",
    ".kts", ".scala", ".groovy", ".gradle", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh",
    ".hxx", ".cs", ".go", ".rs", ".rb", ".php", ".pl", ".pm", ".lua", ".r", ".jl", ".swift",
    ".m", ".mm", ".dart", ".ex", ".exs", ".erl", ".hrl", ".hs", ".ml", ".mli", ".fs", ".fsx",
    ".clj", ".cljs", ".el", ".lisp", ".scm", ".vim", ".zig", ".nim", ".sh", ".bash", ".zsh",
    ".fish", ".ps1", ".bat", ".cmd", ".sql", ".graphql", ".proto", ".thrift", ".cmake", ".mk",
    ".dockerfile", ".tf", ".hcl", ".nix", ".vue", ".svelte", ".css", ".scss", ".sass", ".less",
    ".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf",
    ".properties", ".xml", ".xsd", ".xsl", ".xslt", ".diff", ".patch",
})
# fmt: on
#: Delimited tables: rendered as "a | b | c" rows, heading row repeated per section.
TABLE_EXTENSIONS = frozenset({".csv", ".tsv"})

#: Rows of a CSV/TSV (or XLSX sheet) per section, at most.
ROWS_PER_SECTION = 50
#: ...and at most this many characters, heading row included, so a section fits one chunk at
#: the default 200 tokens (tables tokenise at ~2.4 characters a token: numbers, codes, bars).
#: A section the chunker had to split lost its heading row in every chunk but the first, and
#: "how many BR-115 are in stock" then reached the model as bare numbers (formats eval, fmt-10).
TABLE_SECTION_CHARS = 380


def table_section_full(header: str | None, rows: list[str]) -> bool:
    """Whether a table section (`header` + `rows`) should be closed now."""
    if len(rows) >= ROWS_PER_SECTION:
        return True
    return len(header or "") + sum(len(r) + 1 for r in rows) >= TABLE_SECTION_CHARS

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# C0 controls other than tab/newlines/form feed/escape, DEL, C1 controls, and noncharacters.
_BINARYISH = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f\ufffd\ufffe\uffff]")
#: Share of binary-looking characters above which decoded text is treated as binary data.
BINARY_RATIO = 0.02
#: Share of invalid bytes up to which UTF-8 with replacement is still accepted (step 4).
REPLACEMENT_RATIO = 0.01
_SAMPLE = 256 * 1024

BINARY_MESSAGE = "looks like binary data, not text"
BINARY_HINT = "the file has a text extension but binary content; exclude it or fix the extension"


def decode_bytes(data: bytes, *, declared: str | None = None) -> tuple[str, list[str]]:
    """Decode file bytes to text; returns `(text, warnings)` or raises ParseError (binary).

    `declared` is an encoding stated by the document itself (HTML meta charset, e-mail header);
    it is tried after a BOM and before guessing, and ignored when unknown or wrong.
    """
    warnings: list[str] = []
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = data[len(bom) :].decode(encoding, errors="replace")
            break
    if text is None and declared:
        try:
            text = data.decode(_codec_name(declared))
        except (LookupError, UnicodeDecodeError):
            text = None
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or looks_binary(text):
            # NULs are valid UTF-8, so BOM-less UTF-16 "decodes" too: let detection decide.
            text = _guess(data, warnings)
    if looks_binary(text):
        raise ParseError(BINARY_MESSAGE, hint=BINARY_HINT)
    return text, warnings


def _codec_name(name: str) -> str:
    """Python codec for a declared charset, with the WHATWG overrides browsers apply."""
    name = name.strip().strip("\"'").lower()
    if name in {"iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"}:
        return "cp1252"
    codec = codecs.lookup(name).name
    if codec.startswith(("utf-16", "utf-32")):
        # A byte-order mark would already have matched; an ASCII-compatible document that
        # *says* UTF-16 is wrong about itself (browsers treat such a label as UTF-8).
        return "utf-8"
    return codec


def _guess(data: bytes, warnings: list[str]) -> str:
    """Steps 3–4 of the decoding order (see module docstring)."""
    from charset_normalizer import from_bytes  # lazy: a few ms of import we rarely need

    best = from_bytes(data[:_SAMPLE]).best()
    if best is not None:
        if best.encoding in {"latin_1", "iso8859_1", "ascii"}:
            # Latin-1 maps 0x80–0x9F to invisible C1 controls; files labelled or guessed as
            # Latin-1 are in practice cp1252 (curly quotes, euro sign), as browsers assume.
            try:
                return data.decode("cp1252")
            except UnicodeDecodeError:
                pass
        try:
            return data.decode(best.encoding)
        except UnicodeDecodeError:
            # The sample decoded but the rest does not: keep going with replacement.
            warnings.append(f"some bytes were not valid {best.encoding} and were replaced")
            return data.decode(best.encoding, errors="replace")
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad <= max(1, int(len(text) * REPLACEMENT_RATIO)):
        warnings.append(f"{bad} invalid UTF-8 byte sequence(s) were replaced")
        return text
    raise ParseError(BINARY_MESSAGE, hint=BINARY_HINT)


def looks_binary(text: str) -> bool:
    """True when a sample of decoded text holds too many NUL/control/replacement characters."""
    sample = text[:_SAMPLE]
    if not sample:
        return False
    return len(_BINARYISH.findall(sample)) > len(sample) * BINARY_RATIO


def read_text(path: Path) -> tuple[str, list[str]]:
    """Read, decode and newline-normalise a text file (the basis of every line anchor)."""
    text, warnings = decode_bytes(path.read_bytes())
    return normalise_newlines(text), warnings


def parse_text(path: Path) -> ParsedDocument:
    """Plain text and code: paragraph-packed sections of at most ~60 lines with line anchors."""
    text, warnings = read_text(path)
    if not text.strip():
        raise ParseError("file contains only whitespace", hint="nothing to index")
    ext = path.suffix.lower()
    kind = "code" if ext in CODE_EXTENSIONS else "text"
    index = LineIndex(text)
    sections = line_sections(index, 1, index.line_count, kind=kind)
    return ParsedDocument(
        sections=tuple(sections),
        parser="code" if kind == "code" else "text",
        warnings=tuple(warnings),
    )


def render_row(cells: list[object] | tuple[object, ...]) -> str:
    """One table row as `a | b | c`, trailing empty cells dropped (spreadsheets pad rows)."""
    values = ["" if c is None else " ".join(str(c).split()) for c in cells]
    while values and not values[-1]:
        values.pop()
    return " | ".join(values)


def _dialect(sample: str, ext: str) -> type[csv.Dialect] | csv.Dialect:
    """Sniffed dialect; the extension's default when sniffing fails (single column, etc.)."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel_tab if ext == ".tsv" else csv.excel


def parse_table(path: Path) -> ParsedDocument:
    """CSV/TSV: sections of up to `ROWS_PER_SECTION` rows (and `TABLE_SECTION_CHARS`), each
    starting with the heading row.

    Line spans are source lines (a quoted field can span several); the rendered text is not a
    slice of the file, so `char_start` follows the extracted-text convention (see sections.py).
    """
    text, warnings = read_text(path)
    if not text.strip():
        raise ParseError("file contains only whitespace", hint="nothing to index")
    reader = csv.reader(io.StringIO(text), _dialect(text[: 64 * 1024], path.suffix.lower()))
    builder = SectionBuilder()
    header: str | None = None
    rows: list[str] = []
    first_line = last_line = 0
    prev_line = 0
    try:
        for cells in reader:
            start, prev_line = prev_line + 1, reader.line_num
            row = render_row(cells)
            if not row.strip(" |"):
                continue
            if header is None:
                header = row
                continue
            if not rows:
                first_line = start
            rows.append(row)
            last_line = reader.line_num
            if table_section_full(header, rows):
                builder.add(
                    "\n".join([header, *rows]),
                    line_start=first_line,
                    line_end=last_line,
                    kind="table",
                    clean=False,
                )
                rows = []
    except csv.Error as exc:
        raise ParseError(f"malformed CSV near line {reader.line_num}: {exc}") from exc
    if rows:
        builder.add(
            "\n".join([header or "", *rows]),
            line_start=first_line,
            line_end=last_line,
            kind="table",
            clean=False,
        )
    elif header is not None and not builder.sections:
        builder.add(header, line_start=1, line_end=prev_line or 1, kind="table", clean=False)
    return ParsedDocument(sections=builder.sections, parser="csv", warnings=tuple(warnings))
