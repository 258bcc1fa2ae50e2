"""E-mail messages (.eml) through the standard library's `email` package (policy=default).

Why not unstructured's partition_email: the stdlib parser already decodes MIME, transfer
encodings and RFC 2047 headers, is tolerant of malformed mail, and costs nothing to import.
The message becomes a header section (From/To/Cc/Date/Subject) plus its body — the text/plain
part, or the text/html part rendered through the HTML parser — all under `heading_path =
(subject,)`. Attachments are not indexed; a warning lists them.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from indexer.ingest.parsing.markup import add_html_blocks, html_blocks
from indexer.ingest.parsing.sections import SectionBuilder, normalise_newlines
from indexer.ingest.parsing.text import looks_binary
from indexer.records import ParsedDocument

_HEADERS = ("From", "To", "Cc", "Date", "Subject")


def _header(message: EmailMessage, name: str) -> str:
    """A header as text; a header the parser chokes on is treated as absent, not fatal."""
    try:
        value = message.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except Exception:  # noqa: BLE001 - the header parser has raised on hostile input before
        return ""


def _body(message: EmailMessage) -> tuple[str, str] | None:
    """`(subtype, text)` of the preferred body part, or None when there is none."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return None
    content = part.get_content()
    if isinstance(content, bytes):  # a body declared text/* but not decodable as such
        content = content.decode("utf-8", errors="replace")
    return part.get_content_subtype(), normalise_newlines(str(content))


def parse_eml(path: Path) -> ParsedDocument:
    """Header block plus body text, every section under the message's subject."""
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    if not isinstance(message, EmailMessage):  # parsebytes with policy.default returns one
        message = EmailMessage(policy=policy.default)
    subject = _header(message, "Subject")
    heading_path = (subject,) if subject else ()
    warnings: list[str] = []
    builder = SectionBuilder()

    headers = [f"{name}: {v}" for name in _HEADERS if (v := _header(message, name))]
    if headers:
        builder.add("\n".join(headers), heading_path=heading_path)

    try:
        body = _body(message)
    except (LookupError, ValueError, KeyError, AttributeError, TypeError) as exc:
        warnings.append(f"the message body could not be decoded: {exc}")
        body = None
    if body is not None:
        subtype, text = body
        if looks_binary(text):
            warnings.append("the message body looks like binary data and was skipped")
        elif subtype == "html":
            add_html_blocks(builder, html_blocks(text)[1], prefix=heading_path)
        else:
            builder.add(text, heading_path=heading_path)

    try:
        names = [a.get_filename() or a.get_content_type() for a in message.iter_attachments()]
    except Exception:  # noqa: BLE001 - attachment listing is informational only
        names = []
    if names:
        warnings.append(f"{len(names)} attachment(s) not indexed: {', '.join(names)[:200]}")
    return ParsedDocument(
        sections=builder.sections, parser="eml", title=subject or None, warnings=tuple(warnings)
    )
