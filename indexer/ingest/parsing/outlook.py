"""Outlook messages (.msg) through python-oxmsg, laid out like the .eml parser.

Why python-oxmsg: it is what unstructured's `partition_msg` uses, read here without
unstructured's import (3–4 s, and a spaCy model it downloads at first use); it needs only
`olefile`. `extract-msg` was measured too: as fast per message, but ~2.4 s to import (it pulls
oletools, RTFDE, lark and cryptography) against ~0.1–0.2 s (docs/formats.md). The message becomes a header section (From/To/Cc/Date/Subject) and its
body — the plain-text body, else the HTML body through the HTML parser, else the compressed RTF
body (decompressed here, MS-OXRTFCP) through the RTF parser — all under `heading_path =
(subject,)`. Attachments are listed in a warning, not indexed.

S/MIME-encrypted and rights-managed (IRM) messages fail as encrypted: their body is an opaque
attachment.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from indexer.errors import ParseError
from indexer.ingest.parsing.markup import add_html_blocks, html_blocks
from indexer.ingest.parsing.rtf import add_rtf_sections, mark_structure, rtf_text
from indexer.ingest.parsing.sections import SectionBuilder, normalise_newlines
from indexer.ingest.parsing.text import looks_binary
from indexer.ingest.parsing.zipguard import ENCRYPTED_HINT, ENCRYPTED_MESSAGE
from indexer.records import ParsedDocument

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PID_RECIPIENT_TYPE = 0x0C15
_PID_RTF_COMPRESSED = 0x1009
_RECIPIENT_KINDS = {1: "To", 2: "Cc"}  # 3 = Bcc: not shown, as in a received message
_PROTECTED_ATTACHMENTS = frozenset({"smime.p7m", "message.rpmsg"})


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if value else ""


def _recipients(message: Any) -> dict[str, str]:
    """To/Cc lines from the recipient table (drafts and sent items have no transport headers)."""
    found: dict[str, list[str]] = {}
    for recipient in message.recipients:
        kind = _RECIPIENT_KINDS.get(recipient.properties.int_prop_value(_PID_RECIPIENT_TYPE) or 1)
        if kind is None:
            continue
        name, address = _clean(recipient.name), _clean(recipient.email_address)
        entry = f"{name} <{address}>" if name and address and name != address else name or address
        if entry:
            found.setdefault(kind, []).append(entry)
    return {kind: ", ".join(values) for kind, values in found.items()}


def _headers(message: Any) -> list[str]:
    recipients = _recipients(message)
    transport = message.message_headers
    date = message.sent_date
    values = {
        "From": _clean(message.sender),
        "To": recipients.get("To") or _clean(transport.get("To")),
        "Cc": recipients.get("Cc") or _clean(transport.get("Cc")),
        "Date": date.isoformat(" ") if date else _clean(transport.get("Date")),
        "Subject": _clean(message.subject),
    }
    return [f"{name}: {value}" for name, value in values.items() if value]


def decompress_rtf(data: bytes) -> bytes:
    """Decompress an Outlook compressed-RTF stream (MS-OXRTFCP: "LZFu" or "MELA")."""
    if len(data) < 16:
        raise ValueError("compressed RTF header is truncated")
    size, raw_size, magic = struct.unpack_from("<III", data, 0)
    if magic == 0x414C454D:  # "MELA": stored uncompressed
        return data[16 : 16 + raw_size]
    if magic != 0x75465A4C:  # "LZFu"
        raise ValueError("unknown compressed RTF format")
    prebuf = (
        b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss "
        b"\\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier"
        b"{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
    )
    window = bytearray(prebuf.ljust(4096, b" "))
    write = len(prebuf)
    out = bytearray()
    pos, end = 16, min(len(data), size + 4)
    while pos < end and len(out) < raw_size:
        flags = data[pos]
        pos += 1
        for bit in range(8):
            if pos >= end or len(out) >= raw_size:
                break
            if flags & (1 << bit):
                if pos + 1 >= end:
                    break
                ref = (data[pos] << 8) | data[pos + 1]
                pos += 2
                offset, length = ref >> 4, (ref & 0xF) + 2
                if offset == write:  # end-of-stream marker
                    return bytes(out)
                for i in range(length):
                    byte = window[(offset + i) % 4096]
                    out.append(byte)
                    window[write] = byte
                    write = (write + 1) % 4096
            else:
                byte = data[pos]
                pos += 1
                out.append(byte)
                window[write] = byte
                write = (write + 1) % 4096
    return bytes(out)


def _protected(message: Any) -> bool:
    message_class = (message.message_class or "").lower()
    if message_class.startswith("ipm.note.smime") and "multipartsigned" not in message_class:
        return True
    if "rpmsg" in message_class:
        return True
    names = {(a.file_name or "").lower() for a in message.attachments}
    return bool(names & _PROTECTED_ATTACHMENTS) and not (message.body or "").strip()


def _add_body(message: Any, builder: SectionBuilder, prefix: tuple[str, ...]) -> str | None:
    """Add the best body; returns a warning when the body could not be used."""
    body = message.body
    if body and body.strip():
        body = normalise_newlines(body)
        if looks_binary(body):
            return "the message body looks like binary data and was skipped"
        builder.add(body, heading_path=prefix)
        return None
    html = message.html_body
    if html and html.strip():
        add_html_blocks(builder, html_blocks(normalise_newlines(html))[1], prefix=prefix)
        return None
    compressed = message.properties.binary_prop_value(_PID_RTF_COMPRESSED)
    if compressed:
        try:
            rtf = decompress_rtf(compressed)
        except (ValueError, IndexError, struct.error) as exc:
            return f"the message's RTF body could not be decompressed: {exc}"
        add_rtf_sections(builder, rtf_text(mark_structure(rtf)), prefix=prefix)
    return None


def parse_msg(path: Path) -> ParsedDocument:
    """Header block plus body text, every section under the message's subject."""
    from oxmsg import Message

    data = path.read_bytes()
    if not data.startswith(_OLE_MAGIC):
        raise ParseError(
            "not an Outlook message: the file is not an OLE compound file",
            hint="the .msg extension is used by other programs too; exclude such files",
        )
    try:
        # oxmsg reads properties lazily: damage can surface anywhere while reading.
        return _read_message(Message.load(data))
    except ParseError:
        raise
    except Exception as exc:  # olefile/oxmsg raise KeyError, ValueError, OSError… on damage
        detail = str(exc).strip()
        if not detail or "msg_file" in detail or isinstance(exc, KeyError):
            detail = "the OLE container is damaged"
        raise ParseError(
            f"corrupt or truncated Outlook message: {detail[:200]}",
            hint="open it in Outlook to check it; save or export it again",
        ) from exc


def _read_message(message: Any) -> ParsedDocument:
    if _protected(message):
        raise ParseError(
            ENCRYPTED_MESSAGE + " (encrypted or rights-protected e-mail)", hint=ENCRYPTED_HINT
        )
    subject = _clean(message.subject)
    prefix = (subject,) if subject else ()
    builder = SectionBuilder()
    warnings: list[str] = []
    headers = _headers(message)
    if headers:
        builder.add("\n".join(headers), heading_path=prefix)
    warning = _add_body(message, builder, prefix)
    if warning:
        warnings.append(warning)
    names = [a.file_name or a.mime_type or "unnamed" for a in message.attachments]
    if names:
        warnings.append(f"{len(names)} attachment(s) not indexed: {', '.join(names)[:200]}")
    return ParsedDocument(
        sections=builder.sections, parser="msg", title=subject or None, warnings=tuple(warnings)
    )
