"""Markdown (markdown-it-py) and HTML (BeautifulSoup + lxml): sections under their headings.

Markdown sections are exact slices of the source with line spans (markdown-it's token `map` gives
each top-level block's lines), so a citation opens the file at the right line; heading lines
themselves are not repeated in the text because `heading_path` carries them. HTML is rendered to
text blocks per heading (script/style/nav/footer dropped) with extracted-text offsets.
`html_blocks` is shared with the EPUB and e-mail parsers.
"""

from __future__ import annotations

import html as html_lib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.ingest.parsing.sections import (
    LineIndex,
    SectionBuilder,
    line_sections,
    normalise_newlines,
)
from indexer.ingest.parsing.text import decode_bytes, read_text
from indexer.records import ParsedDocument, Section, SectionKind

if TYPE_CHECKING:
    from bs4 import Tag

#: Fenced code up to this size stays one section, so a snippet is retrieved whole.
CODE_BLOCK_MAX_LINES = 200
CODE_BLOCK_MAX_CHARS = 12_000

_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def _front_matter_lines(text: str) -> tuple[int, str | None]:
    """Number of lines of a leading YAML front-matter block (0 if none) and its `title:`."""
    if not text.startswith("---\n"):
        return 0, None
    end = _FRONT_MATTER_END.search(text, 4)
    if end is None or text.count("\n", 0, end.start()) > 200:
        return 0, None
    block = text[4 : end.start()]
    title = _FRONT_MATTER_TITLE.search(block)
    return text.count("\n", 0, end.start()) + 1, (title.group(1).strip("\"'") if title else None)


_MARKDOWN = threading.local()  # one parser per thread: building one costs ~1 ms


def _markdown_parser() -> Any:
    """Block structure only: the core `inline` rule (emphasis, links… in every paragraph) is
    off. Sections are slices of the source by line, so only headings need their inline text,
    and `_inline_text` parses just those: half of markdown-it's time on the pydoc corpus."""
    parser = getattr(_MARKDOWN, "parser", None)
    if parser is None:
        from markdown_it import MarkdownIt

        parser = MarkdownIt("commonmark", {"html": True}).enable("table").disable("inline")
        _MARKDOWN.parser = parser
    return parser


def _inline_text(parser: Any, token: Any, env: dict[str, Any]) -> str:
    """Plain text of an inline token (emphasis, links and code spans reduced to their text);
    `env` carries the document's link reference definitions."""
    children = token.children
    if not children and token.content:
        children = []
        parser.inline.parse(token.content, parser, env, children)
    # (`text_special`: escapes and entities, which the skipped core `text_join` would merge)
    parts = [c.content for c in children or [] if c.type in ("text", "text_special", "code_inline")]
    return " ".join("".join(parts).split()) or " ".join(token.content.split())


def parse_markdown(path: Path) -> ParsedDocument:
    """Markdown: one group of blocks per heading section; fences and tables on their own."""
    text, warnings = read_text(path)
    index = LineIndex(text)
    skip, title = _front_matter_lines(text)
    lines = text.split("\n")
    # Blank the front matter but keep the line count, so token maps stay source line numbers.
    source = "\n".join([""] * skip + lines[skip:])
    parser = _markdown_parser()
    env: dict[str, Any] = {}
    tokens = parser.parse(source, env)

    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    headings: list[tuple[int, tuple[str, ...]]] = []  # (line, path) for heading-only docs
    group: tuple[int, int] | None = None

    def path_now() -> tuple[str, ...]:
        return tuple(h for _, h in stack)

    def flush() -> None:
        nonlocal group
        if group is not None:
            sections.extend(line_sections(index, group[0], group[1], heading_path=path_now()))
            group = None

    for i, tok in enumerate(tokens):
        if tok.level != 0 or tok.map is None or tok.nesting == -1:
            continue
        first, last = tok.map[0] + 1, tok.map[1]  # map is 0-based [start, end)
        if tok.type == "heading_open":
            flush()
            level = int(tok.tag[1])
            name = _inline_text(parser, tokens[i + 1], env) or "(untitled)"
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, name))
            headings.append((first, path_now()))
            if title is None and level == 1:
                title = name
        elif tok.type in ("fence", "code_block", "table_open"):
            flush()
            kind: SectionKind = "table" if tok.type == "table_open" else "code"
            sections.extend(
                line_sections(
                    index,
                    first,
                    last,
                    heading_path=path_now(),
                    kind=kind,
                    max_lines=CODE_BLOCK_MAX_LINES,
                    max_chars=CODE_BLOCK_MAX_CHARS,
                )
            )
        elif group is None:
            group = (first, last)
        else:
            group = (group[0], max(group[1], last))
    flush()

    if not sections:  # a document of headings only is still worth finding by its headings
        for line, heading_path in headings:
            sections.extend(
                line_sections(index, line, line, heading_path=heading_path[:-1], kind="title")
            )
    return ParsedDocument(
        sections=tuple(sections), parser="markdown", title=title, warnings=tuple(warnings)
    )


# --------------------------------------------------------------------------------------- HTML

# Page chrome and non-text elements. <form> is kept: ASP.NET pages wrap the whole body in one.
_DROP = ("script", "style", "nav", "footer", "noscript", "template", "head", "svg", "iframe",
         "object", "button", "select")  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
# fmt: off
_PARAGRAPH_TAGS = frozenset({
    "p", "div", "section", "article", "main", "header", "aside", "blockquote", "ul", "ol", "dl",
    "table", "figure", "address", "details", "fieldset", "hr", "center",
})
# fmt: on
_LINE_TAGS = frozenset(["li", "tr", "dt", "dd", "caption", "figcaption", "summary", "br"])
_CELL_TAGS = frozenset({"td", "th"})
# Marks the walk leaves in the text: private-use characters (not whitespace to str.split, unlike
# the ASCII separators), erased from the document's own text so they cannot be forged.
_CELL_MARK, _LINE_MARK, _PARA_MARK = "\ue000", "\ue001", "\ue002"
_INLINE_SPACE = re.compile(r"[\s\ue000-\ue002]+")
_BLOCK_MARKS = {
    **dict.fromkeys(_PARAGRAPH_TAGS, _PARA_MARK),
    **dict.fromkeys(_LINE_TAGS, _LINE_MARK),
}
_BREAKS = re.compile(r"\s*[\ue001\ue002][\ue001\ue002\s]*")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class HtmlBlock:
    """A block of text under its heading path, as found in an HTML document."""

    heading_path: tuple[str, ...]
    text: str
    kind: SectionKind = "text"


def _tidy(raw: str) -> str:
    """Turn the walk's marks into text: collapse HTML whitespace, breaks and table cells.

    A run of break marks (and the whitespace between blocks) becomes one blank line if it
    holds a paragraph mark, else one newline; each cell mark starts a ` | `-separated cell.
    """
    raw = _BREAKS.sub(lambda m: "\n\n" if _PARA_MARK in m.group() else "\n", raw)
    lines = []
    for line in raw.split("\n"):
        prefix, *cells = line.split(_CELL_MARK)
        values = [" ".join(c.split()) for c in cells]
        while values and not values[-1]:
            values.pop()
        lines.append(f"{' '.join(prefix.split())} {' | '.join(values)}".strip())
    return "\n".join(lines)


def html_blocks(markup: str) -> tuple[str | None, list[HtmlBlock]]:
    """Text blocks of an HTML document grouped by heading, plus its `<title>`.

    Headings close the current block and update the heading path; `<pre>` becomes a code block
    with its whitespace kept; paragraphs are separated by blank lines, list items and table
    rows by newlines, table cells by ` | `.
    """
    if "<" not in markup:  # tag-less "HTML" is text (and bs4 would warn it looks like a path)
        text = html_lib.unescape(markup)
        return None, [HtmlBlock((), text)] if text.strip() else []
    from bs4 import BeautifulSoup, NavigableString
    from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

    # The XML declaration carries only an encoding we already applied; without it bs4 does not
    # warn about "XML parsed as HTML" for XHTML (EPUB chapters).
    soup = BeautifulSoup(_XML_DECL.sub("", markup, count=1), "lxml")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else None
    for tag in soup.find_all(_DROP):
        tag.decompose()

    blocks: list[HtmlBlock] = []
    stack: list[tuple[int, str]] = []
    buf: list[str] = []
    skip_types = (Comment, Declaration, Doctype, ProcessingInstruction)

    def flush() -> None:
        text = _tidy("".join(buf))
        buf.clear()
        if text.strip():
            blocks.append(HtmlBlock(tuple(h for _, h in stack), text))

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, skip_types):
                continue
            if isinstance(child, NavigableString):
                buf.append(_INLINE_SPACE.sub(" ", str(child)))  # also erases stray marks
                continue
            name = child.name
            if name in _HEADINGS:
                flush()
                level = _HEADINGS[name]
                heading = " ".join(child.get_text(" ").split()) or "(untitled)"
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, heading))
            elif name == "pre":
                flush()
                code = child.get_text()
                if code.strip():
                    blocks.append(HtmlBlock(tuple(h for _, h in stack), code, "code"))
            elif name in _CELL_TAGS:
                buf.append(_CELL_MARK)
                walk(child)
            else:
                sep = _BLOCK_MARKS.get(name, "")
                buf.append(sep)
                walk(child)
                buf.append(sep)

    walk(soup.body or soup)
    flush()
    return (title or None), blocks


def add_html_blocks(
    builder: SectionBuilder, blocks: list[HtmlBlock], prefix: tuple[str, ...] = ()
) -> None:
    """Append HTML blocks to a builder, code verbatim, text cleaned (see SectionBuilder)."""
    for block in blocks:
        builder.add(
            block.text,
            heading_path=prefix + block.heading_path,
            kind=block.kind,
            clean=block.kind != "code",
        )


def decode_html(data: bytes) -> tuple[str, list[str]]:
    """Decode HTML bytes: BOM, then the document's own `<meta charset>`, then detection."""
    match = _META_CHARSET.search(data[:4096])
    declared = match.group(1).decode("ascii", "replace") if match else None
    text, warnings = decode_bytes(data, declared=declared)
    return normalise_newlines(text), warnings


def parse_html(path: Path) -> ParsedDocument:
    """HTML: sections per heading section, title from `<title>` (else the first heading)."""
    text, warnings = decode_html(path.read_bytes())
    title, blocks = html_blocks(text)
    builder = SectionBuilder()
    add_html_blocks(builder, blocks)
    if title is None:
        title = next((b.heading_path[0] for b in blocks if b.heading_path), None)
    return ParsedDocument(
        sections=builder.sections, parser="html", title=title, warnings=tuple(warnings)
    )
