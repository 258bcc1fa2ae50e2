"""Word/Excel/PowerPoint 97–2003 files (.doc .xls .ppt), converted by LibreOffice when installed.

Why LibreOffice: the binary formats have no maintained pure-Python reader (unstructured itself
shells out to `soffice` for them too), and LibreOffice reads them as well as anything does.
It is an external program Cairn does not ship (~300 MB), so it is used only when `soffice` is
on PATH (or in its default install location); otherwise each such file fails alone with
"install LibreOffice to index .doc files".

Before converting, the file is checked here — so these reasons hold with or without
LibreOffice: a password-protected document fails as encrypted (read from the OLE streams with
olefile: Word's FIB `fEncrypted` bit, Excel's FILEPASS record, PowerPoint's EncryptedSummary
stream); a `.doc` that is really RTF, or really a .docx/.xlsx/.pptx zip, is read directly.

The conversion runs headless with a throw-away LibreOffice profile (so it neither collides
with the user's open LibreOffice nor writes to their profile), in its own process group, killed
after `CONVERT_TIMEOUT_S`. The converted file goes through the DOCX/XLSX/PPTX parser, so the
anchors are theirs (headings; sheet + rows; slide numbers).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from indexer.errors import ParseError
from indexer.ingest.parsing.zipguard import ENCRYPTED_HINT, ENCRYPTED_MESSAGE
from indexer.records import ParsedDocument

#: Longest a single conversion may take before it is abandoned.
CONVERT_TIMEOUT_S = 120
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# legacy extension → (LibreOffice filter target, modern extension, office.py parser)
_TARGETS = {
    ".doc": ("docx", ".docx", "parse_docx"),
    ".xls": ("xlsx", ".xlsx", "parse_xlsx"),
    ".ppt": ("pptx", ".pptx", "parse_pptx"),
}
_DEFAULT_LOCATIONS = (
    "/usr/bin/soffice",
    "/usr/lib/libreoffice/program/soffice",
    "/opt/libreoffice/program/soffice",
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
    r"C:\Program Files\LibreOffice\program\soffice.exe",
)
_XLS_FILEPASS = 0x002F
_XLS_EOF = 0x000A


def find_soffice() -> str | None:
    """Path of LibreOffice's `soffice`, or None when it is not installed."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in _DEFAULT_LOCATIONS if os.path.isfile(p)), None)


def _xls_encrypted(stream: bytes) -> bool:
    """True when the workbook globals carry a FILEPASS record (BIFF8 record walk)."""
    pos = 0
    while pos + 4 <= len(stream):
        kind = int.from_bytes(stream[pos : pos + 2], "little")
        size = int.from_bytes(stream[pos + 2 : pos + 4], "little")
        if kind == _XLS_FILEPASS:
            return True
        if kind == _XLS_EOF:
            return False
        pos += 4 + size
    return False


def check_legacy(data: bytes, ext: str) -> None:
    """Raise ParseError for encrypted or damaged legacy Office files (no LibreOffice needed)."""
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as exc:  # olefile raises OSError, ValueError and worse on damage
        raise ParseError(
            f"corrupt or truncated {ext[1:].upper()} file: not a valid OLE compound file",
            hint="open it in the application that made it and save it again",
        ) from exc
    with ole:
        if ole.exists("EncryptedPackage") or ole.exists("EncryptedSummary"):
            raise ParseError(ENCRYPTED_MESSAGE, hint=ENCRYPTED_HINT)
        if ext == ".doc" and ole.exists("WordDocument"):
            fib = ole.openstream("WordDocument").read(12)
            if len(fib) == 12 and int.from_bytes(fib[10:12], "little") & 0x0100:
                raise ParseError(ENCRYPTED_MESSAGE, hint=ENCRYPTED_HINT)
        if ext == ".xls":
            name = "Workbook" if ole.exists("Workbook") else "Book" if ole.exists("Book") else None
            if name and _xls_encrypted(ole.openstream(name).read(64 * 1024)):
                raise ParseError(ENCRYPTED_MESSAGE, hint=ENCRYPTED_HINT)


def convert(soffice: str, source: Path, target: str, workdir: Path) -> Path:
    """Run LibreOffice headless to convert `source`; returns the converted file."""
    profile = workdir / "profile"
    outdir = workdir / "out"
    outdir.mkdir()
    command = [
        soffice,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--nolockcheck",
        "--convert-to",
        target,
        "--outdir",
        str(outdir),
        str(source),
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a timeout kills soffice.bin too
    )
    try:
        output, _ = process.communicate(timeout=CONVERT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        if hasattr(os, "killpg"):  # POSIX: the whole group, soffice.bin included
            os.killpg(process.pid, signal.SIGKILL)
        else:  # Windows: soffice.exe is the process itself
            process.kill()
        process.communicate()
        raise ParseError(
            f"LibreOffice took longer than {CONVERT_TIMEOUT_S} s to convert it",
            hint="open it in an office suite and save it as .docx/.xlsx/.pptx",
        ) from exc
    converted = outdir / f"{source.stem}.{target}"
    if process.returncode != 0 or not converted.is_file() or converted.stat().st_size == 0:
        detail = output.decode("utf-8", "replace").strip().splitlines()[-1:] if output else []
        raise ParseError(
            "LibreOffice could not convert it (damaged or password-protected?)"
            + (f": {detail[0][:200]}" if detail else ""),
            hint="open it in an office suite to check it; save it as .docx/.xlsx/.pptx",
        )
    return converted


def parse_legacy(path: Path) -> ParsedDocument:
    """.doc/.xls/.ppt: RTF or zip impostors read directly, real OLE files via LibreOffice."""
    from indexer.ingest.parsing import office, rtf

    ext = path.suffix.lower()
    target, modern, function = _TARGETS[ext]
    data = path.read_bytes()
    if data.lstrip()[:5].lower().startswith(b"{\\rtf"):
        return rtf.parse_rtf(path)  # Word saves "RTF as .doc"; no conversion needed
    if data.startswith(b"PK\x03\x04"):
        return getattr(office, function)(path)  # a modern file with an old extension
    if not data.startswith(_OLE_MAGIC):
        raise ParseError(
            f"not an Office 97–2003 {ext} file (no OLE header)",
            hint="the extension does not match the content; fix the extension or exclude it",
        )
    check_legacy(data, ext)
    soffice = find_soffice()
    if soffice is None:
        raise ParseError(
            f"LibreOffice is not installed: install LibreOffice to index {ext} files",
            hint=f"Cairn converts {ext} with LibreOffice (soffice) when it is on PATH; "
            f"or save the file as {modern}",
        )
    with tempfile.TemporaryDirectory(prefix="cairn-soffice-") as tmp:
        workdir = Path(tmp)
        source = workdir / f"document{ext}"  # a plain name: soffice mangles odd file names
        source.write_bytes(data)
        converted = convert(soffice, source, target, workdir)
        document: ParsedDocument = getattr(office, function)(converted)
    return ParsedDocument(
        sections=document.sections,
        parser=f"{ext[1:]} (LibreOffice → {target})",
        title=document.title,
        warnings=document.warnings,
    )
