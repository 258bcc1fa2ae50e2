"""EPUB books, read directly: container.xml → OPF package → spine XHTML → the HTML parser.

Why not `unstructured.partition.epub`: it converts through pandoc (pypandoc + a pandoc binary),
which is not installed and would be a large native dependency for a desktop app. An EPUB is a
zip of XHTML chapters in a declared reading order, so the spine walk is short and keeps chapter
headings as `heading_path` (a chapter without headings falls back to its `<title>`).
DRM-protected books (spine documents listed in META-INF/encryption.xml) fail as encrypted.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from indexer.errors import ParseError
from indexer.ingest.parsing.markup import add_html_blocks, decode_html, html_blocks
from indexer.ingest.parsing.sections import SectionBuilder
from indexer.ingest.parsing.zipguard import ENCRYPTED_HINT, ENCRYPTED_MESSAGE, open_checked_zip
from indexer.records import ParsedDocument

_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/xml", "text/xml"})
_CORRUPT_HINT = "the book's package files are damaged; re-download or re-export it"


def _xml(archive: zipfile.ZipFile, name: str) -> Any:
    """Parse one XML member with entity expansion and network access switched off."""
    from lxml import etree

    try:
        data = archive.read(name)
    except KeyError as exc:
        raise ParseError(f"corrupt EPUB: {name} is missing", hint=_CORRUPT_HINT) from exc
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=True)
    root = etree.fromstring(data, parser)
    if root is None:
        raise ParseError(f"corrupt EPUB: {name} is not XML", hint=_CORRUPT_HINT)
    return root


def _local(element: Any) -> str:
    """Tag name without namespace (OPF files use several namespace spellings)."""
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _member(base: str, href: str) -> str:
    """Zip member name of an href relative to the OPF's folder (percent-decoded, no fragment)."""
    return posixpath.normpath(posixpath.join(base, unquote(urlsplit(href).path))).lstrip("/")


def _spine(archive: zipfile.ZipFile) -> tuple[str | None, list[str]]:
    """Book title and the zip member names of the spine's HTML documents, in reading order."""
    container = _xml(archive, "META-INF/container.xml")
    rootfile = next(
        (
            e.get("full-path")
            for e in container.iter()
            if _local(e) == "rootfile" and e.get("full-path")
        ),
        None,
    )
    if rootfile is None:
        raise ParseError("corrupt EPUB: container.xml names no package file", hint=_CORRUPT_HINT)
    package = _xml(archive, rootfile)
    base = posixpath.dirname(rootfile)
    manifest: dict[str, tuple[str, str]] = {}
    order: list[str] = []
    title: str | None = None
    for element in package.iter():
        name = _local(element)
        if name == "item" and element.get("id") and element.get("href"):
            manifest[element.get("id")] = (element.get("href"), element.get("media-type", ""))
        elif name == "itemref" and element.get("idref"):
            order.append(element.get("idref"))
        elif name == "title" and title is None and (element.text or "").strip():
            title = " ".join(element.text.split())
    documents = []
    for idref in order:
        if idref in manifest and manifest[idref][1] in _HTML_TYPES:
            documents.append(_member(base, manifest[idref][0]))
    return title, documents


def _encrypted(archive: zipfile.ZipFile) -> set[str]:
    """Member names listed in META-INF/encryption.xml (fonts are often obfuscated this way)."""
    if "META-INF/encryption.xml" not in archive.namelist():
        return set()
    root = _xml(archive, "META-INF/encryption.xml")
    return {_member("", e.get("URI", "")) for e in root.iter() if _local(e) == "CipherReference"}


def parse_epub(path: Path) -> ParsedDocument:
    """Every spine document through the HTML parser, in reading order."""
    warnings: list[str] = []
    builder = SectionBuilder()
    with open_checked_zip(path.read_bytes(), "EPUB") as archive:
        title, documents = _spine(archive)
        if not documents:
            raise ParseError(
                "corrupt EPUB: the reading order lists no documents", hint=_CORRUPT_HINT
            )
        if _encrypted(archive) & set(documents):
            raise ParseError(ENCRYPTED_MESSAGE + " (DRM-protected book)", hint=ENCRYPTED_HINT)
        names = set(archive.namelist())
        missing = unreadable = 0
        for name in documents:
            if name not in names:
                missing += 1
                continue
            try:
                text, _ = decode_html(archive.read(name))
            except ParseError:  # one binary/garbled chapter should not lose the whole book
                unreadable += 1
                continue
            chapter_title, blocks = html_blocks(text)
            prefix = (chapter_title,) if chapter_title and chapter_title != title else ()
            for block in blocks:
                add_html_blocks(builder, [block], prefix=() if block.heading_path else prefix)
        if missing:
            warnings.append(f"{missing} chapter file(s) listed in the book are missing")
        if unreadable:
            warnings.append(f"{unreadable} chapter file(s) are not readable text and were skipped")
    return ParsedDocument(
        sections=builder.sections, parser="epub", title=title, warnings=tuple(warnings)
    )
