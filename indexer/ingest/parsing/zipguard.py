"""Refuse zip bombs and non-zip files before a zip-based format (DOCX/PPTX/XLSX/EPUB) is opened.

Why the declared sizes are enough: python-docx, python-pptx, openpyxl and our EPUB reader all
read members through `zipfile`, which never returns more bytes than a member's declared
`file_size` — so a member that lies about its size is truncated (and fails its CRC), it cannot
expand past what we checked here.

Password-protected Office files are not zips at all: Office wraps them in an OLE compound file
holding an `EncryptedPackage` stream. That is recognised here so the user gets "encrypted"
rather than "corrupt".
"""

from __future__ import annotations

import io
import zipfile

from indexer.errors import ParseError

#: Largest total uncompressed size accepted for one document.
MAX_UNCOMPRESSED_BYTES = 500 * 1024 * 1024
#: Largest uncompressed/compressed ratio accepted for a member (text XML reaches ~10–100).
MAX_COMPRESSION_RATIO = 200
#: Members smaller than this are not ratio-checked: a tiny, very compressible file is harmless.
RATIO_MIN_BYTES = 1024 * 1024
#: Most members accepted (real documents have tens to a few thousand).
MAX_MEMBERS = 50_000

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")

ENCRYPTED_MESSAGE = "encrypted: Cairn cannot read password-protected files"
ENCRYPTED_HINT = "save an unprotected copy if you want it indexed, or exclude the file"
BOMB_HINT = "the archive expands far beyond its size (a zip bomb?); Cairn will not open it"


def open_checked_zip(data: bytes, label: str) -> zipfile.ZipFile:
    """Open `data` as a zip after checking member count and uncompressed sizes.

    `label` names the format in messages ("DOCX", "EPUB"). Raises ParseError for encrypted
    Office files, legacy binary Office files, non-zip data and zip bombs.
    """
    if data.startswith(_OLE_MAGIC):
        if _ENCRYPTED_PACKAGE in data:
            raise ParseError(ENCRYPTED_MESSAGE, hint=ENCRYPTED_HINT)
        raise ParseError(
            f"legacy binary Office file saved with a {label} extension",
            hint="open it in an office suite and save it in the modern format (.docx/.xlsx/.pptx)",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ParseError(
            f"corrupt or truncated {label} file: not a valid zip archive ({exc})",
            hint="open it in the application that made it and save it again",
        ) from exc
    try:
        check_members(archive.infolist())
    except ParseError:
        archive.close()
        raise
    return archive


def check_members(members: list[zipfile.ZipInfo]) -> None:
    """Raise ParseError when members are encrypted, too many, too big, or compress implausibly."""
    if len(members) > MAX_MEMBERS:
        raise ParseError(
            f"archive has {len(members)} members (limit {MAX_MEMBERS})", hint=BOMB_HINT
        )
    total = 0
    for info in members:
        if info.flag_bits & 0x1:  # zip-level (ZipCrypto/AES) password protection
            raise ParseError(ENCRYPTED_MESSAGE, hint=ENCRYPTED_HINT)
        total += info.file_size
        if total > MAX_UNCOMPRESSED_BYTES:
            raise ParseError(
                f"archive expands to more than {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB",
                hint=BOMB_HINT,
            )
        if info.file_size >= RATIO_MIN_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > MAX_COMPRESSION_RATIO:
                raise ParseError(
                    f"archive member {info.filename!r} has a compression ratio of {ratio:.0f}:1 "
                    f"(limit {MAX_COMPRESSION_RATIO}:1)",
                    hint=BOMB_HINT,
                )
