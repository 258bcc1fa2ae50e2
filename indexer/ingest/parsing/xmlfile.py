"""XML documents (.xml): exact line slices, anchored to the element they belong to.

Why not unstructured's `partition_xml`: it keeps only the text of leaf elements, dropping the
tags and attributes that carry the meaning of config and data files (`<timeout>30</timeout>`),
and its elements have no source lines. Here the file stays line-anchored code (a citation opens
it at the line), and lxml (already a dependency; parser with entities, DTDs and network off, so
no billion-laughs or XXE) finds the *records*: the children of the root — or of the first
element that has more than one child when the root just wraps a single container. Each record
of 8+ lines becomes its own sections with `heading_path` = (root, …, `book bk101`) — tag plus
its id/name attribute or title/name child; runs of small records are packed together under the
container's path. XML that is not well-formed is still indexed as plain lines, with a warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from indexer.errors import ParseError
from indexer.ingest.parsing.sections import LineIndex, line_sections, normalise_newlines
from indexer.ingest.parsing.text import decode_bytes
from indexer.records import ParsedDocument, Section

#: A record at least this many lines long gets its own anchor.
RECORD_MIN_LINES = 8
_ID_ATTRIBUTES = ("id", "name", "key", "title", "ref", "code", "type")
_LABEL_CHILDREN = frozenset({"title", "name", "id", "key", "label", "summary"})
_MAX_DEPTH = 4


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _label(element: Any) -> str:
    """`book bk101`, `server "web-1"`-like short names for a record."""
    tag = _local(element.tag)
    for name in _ID_ATTRIBUTES:
        for key, value in element.attrib.items():
            if _local(key).lower() == name and str(value).strip():
                return f"{tag} {' '.join(str(value).split())[:80]}"
    for child in element:
        if _local(child.tag).lower() in _LABEL_CHILDREN and (child.text or "").strip():
            return f"{tag}: {' '.join(child.text.split())[:80]}"
    return tag


def _records(root: Any) -> tuple[tuple[str, ...], list[Any]]:
    """The container's heading path and its element children (the records)."""
    path = (_local(root.tag),)
    node = root
    for _ in range(_MAX_DEPTH):
        children = [c for c in node if isinstance(c.tag, str)]
        if len(children) != 1:
            return path, children
        node = children[0]
        path += (_label(node),)
    return path, [c for c in node if isinstance(c.tag, str)]


def _element_sections(index: LineIndex, root: Any) -> list[Section]:
    path, records = _records(root)
    starts = [r.sourceline for r in records if r.sourceline]
    if not starts or starts != sorted(starts):
        return line_sections(index, 1, index.line_count, heading_path=path, kind="code")
    sections: list[Section] = []
    pending = 1  # first line not yet emitted
    bounds = [*starts[1:], index.line_count + 1]
    for record, start, nxt in zip(records, starts, bounds, strict=True):
        end = nxt - 1
        if end - start + 1 < RECORD_MIN_LINES:
            continue
        if start > pending:
            sections.extend(
                line_sections(index, pending, start - 1, heading_path=path, kind="code")
            )
        sections.extend(
            line_sections(index, start, end, heading_path=(*path, _label(record)), kind="code")
        )
        pending = end + 1
    if pending <= index.line_count:
        sections.extend(
            line_sections(index, pending, index.line_count, heading_path=path, kind="code")
        )
    return sections


def parse_xml(path: Path) -> ParsedDocument:
    """XML: line-anchored code sections under record heading paths (see module docstring)."""
    from lxml import etree

    data = path.read_bytes()
    text, warnings = decode_bytes(data)
    text = normalise_newlines(text)
    if not text.strip():
        raise ParseError("file contains only whitespace", hint="nothing to index")
    index = LineIndex(text)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        warnings.append(f"not well-formed XML ({str(exc)[:120]}); indexed as plain lines")
        root = None
    if root is None:
        sections = line_sections(index, 1, index.line_count, kind="code")
    else:
        sections = _element_sections(index, root)
    return ParsedDocument(sections=tuple(sections), parser="xml", warnings=tuple(warnings))
