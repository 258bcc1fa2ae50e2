"""End to end: a folder full of hostile, broken and odd files never stops Cairn.

The corpus is generated here (no checked-in binaries). After one scan every candidate file on disk
must have a visible status (embedded, or failed/skipped *with a reason*), the one good document
must be searchable, and the store must hold no duplicate and no orphan chunk rows.

The outcome of each case is collected into `OUTCOMES` and printed (`-s`) so docs/reliability.md
can quote it.
"""

from __future__ import annotations

import io
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.events import FileFailed, FileStage
from indexer.ingest.changes import Change
from indexer.ingest.parsing import is_supported
from indexer.service import KnowledgeBase, build_hub
from tests.e2e.store_checks import assert_store_consistent

GOOD_WORD = "quokkaborealis"  # a token no generated junk can contain


# --------------------------------------------------------------------------- corpus builders
def _pdf_bytes(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for i in range(3):
        c.drawString(72, 720, f"{text} page {i + 1}")
        c.showPage()
    c.save()
    return buf.getvalue()


def _encrypted_pdf(path: Path) -> None:
    import pikepdf

    with pikepdf.open(io.BytesIO(_pdf_bytes("secret ledger"))) as pdf:
        pdf.save(path, encryption=pikepdf.Encryption(owner="o", user="u", R=6))


def _fake_encrypted_docx() -> bytes:
    # An OLE compound file header followed by the UTF-16 stream name Office uses for encrypted
    # packages: what a password-protected .docx looks like to a zip reader.
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    return header + "EncryptedPackage".encode("utf-16-le") + os.urandom(2048)


def _zip_bomb_docx(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        # 64 MiB of zeros compresses to ~64 KiB: ratio ~1000, far above any real document.
        chunk = b"\0" * (1 << 20)
        with zf.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(64):
                member.write(chunk)


def _odt_bytes(text: str) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    doc = OpenDocumentText()
    if text:
        doc.text.addElement(P(text=text))
    buf = io.BytesIO()
    doc.write(buf)
    return buf.getvalue()


def _encrypted_odf(plain: bytes) -> bytes:
    """What LibreOffice writes for a password: content.xml ciphertext, flagged in the manifest."""
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        '<manifest:encryption-data manifest:checksum="x"/></manifest:file-entry>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "content.xml":
                data = os.urandom(len(data))
            elif info.filename == "META-INF/manifest.xml":
                data = manifest.encode()
            dst.writestr(info.filename, data)
    return out.getvalue()


def _msg_bytes(body: str, attachments: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    from msgforge import Message

    message = Message(subject="Field report", text_body=body, to=["a@example.org"])
    for name, data in attachments:
        message.attach_bytes(name, data)
    return message.as_bytes()


def _ole_bytes(streams: dict[str, bytes]) -> bytes:
    from msgforge._builder import _OleWriter

    writer = _OleWriter()
    for name, data in streams.items():
        writer.add_stream(writer.root, name, data)
    return writer.build()


def _long_tail(put: Callable[[str, str, bytes], Path]) -> None:
    """Issue 16's formats: one good file each for ODT and MSG, and corrupt, encrypted and empty
    samples of each new type."""
    put("good ODT", "good.odt", _odt_bytes(f"A {GOOD_WORD} ringed in the ODT survey."))
    put("good MSG", "good.msg", _msg_bytes(f"A {GOOD_WORD} seen from the e-mail."))
    put("truncated ODT", "truncated.odt", _odt_bytes("cut short")[:400])
    put("encrypted ODS", "encrypted.ods", _encrypted_odf(_odt_bytes("secret sheet")))
    put("empty ODT (no text)", "blank.odt", _odt_bytes(""))
    put("empty ODP (0 bytes)", "empty.odp", b"")
    put("truncated MSG", "truncated.msg", _msg_bytes("cut short")[:1500])
    put("encrypted MSG (S/MIME)", "smime.msg", _msg_bytes("", (("smime.p7m", os.urandom(600)),)))
    put("empty MSG (0 bytes)", "empty.msg", b"")
    put("RTF that is not RTF", "fake.rtf", b"plain words with an .rtf name\n")
    put("empty RTF (no text)", "blank.rtf", rb"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\par}")
    put("binary .rst", "binary.rst", bytes(range(256)) * 32)
    put("whitespace-only .org", "blank.org", b"  \n\n\t\n")
    put("malformed XML", "broken.xml", b"<notes><n>unclosed field note</notes>\n")
    fib = (0xA5EC).to_bytes(2, "little") + b"\xc1\x00" + b"\0" * 6 + b"\x00\x01" + b"\0" * 4096
    put("encrypted DOC", "locked.doc", _ole_bytes({"WordDocument": fib}))
    put(
        "DOC (needs LibreOffice)",
        "plain.doc",
        _ole_bytes({"WordDocument": b"\xec\xa5" + b"\0" * 4096}),
    )
    put("corrupt XLS", "corrupt.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(700))


def build_corpus(root: Path, outside: Path, *, bad_bytes_name: bool = False) -> dict[str, Path]:
    """Write every bad input under `root`; return name -> path of each candidate file."""
    root.mkdir()
    outside.mkdir()
    files: dict[str, Path] = {}

    def put(name: str, rel: str, data: bytes) -> Path:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        files[name] = p
        return p

    put(
        "good markdown",
        "good.md",
        f"# Field notes\n\nThe {GOOD_WORD} nests in granite scree above the tree line.\n".encode(),
    )
    put("empty file", "empty.txt", b"")
    put("truncated PDF", "truncated.pdf", _pdf_bytes("truncated report")[:700])
    _encrypted_pdf(root / "encrypted.pdf")
    files["encrypted PDF"] = root / "encrypted.pdf"
    put("password-protected DOCX (OLE)", "protected.docx", _fake_encrypted_docx())
    _zip_bomb_docx(root / "bomb.docx")
    files["zip-bomb DOCX"] = root / "bomb.docx"
    put("binary data as .txt", "binary.txt", bytes(range(256)) * 64 + os.urandom(4096))
    put(
        "invalid UTF-8",
        "invalid_utf8.txt",
        b"caf\xe9 cr\xe8me \xff\xfe\xfd broken \xc3\x28 bytes\n" * 50,
    )
    put(
        "UTF-16 without BOM",
        "utf16.txt",
        ("Glaciers carve valleys slowly over millennia.\n" * 40).encode("utf-16-le"),
    )
    put("1 MB single-line .txt", "oneline.txt", (b"lorem ipsum dolor sit amet " * 40000)[: 1 << 20])
    put("over the size limit", "huge.txt", b"too big to index\n" * 120000)  # ~2 MB > 1.5 MB
    deep = "/".join(f"d{i}" for i in range(50))
    put("50 nested folders", f"{deep}/deep.txt", b"bottom of a very deep folder tree\n")
    put("unreadable (chmod 000)", "unreadable.txt", b"you may not read this\n")
    os.chmod(files["unreadable (chmod 000)"], 0)
    put("name with quotes", 'it\'s a "quoted" name.txt', b"quotes in the file name\n")
    put("name with newline", "line\nbreak.txt", b"a newline in the file name\n")
    put("name with emoji", "notes \U0001f600\U0001f3d4.txt", b"emoji in the file name\n")
    if bad_bytes_name:
        raw = os.fsencode(root) + b"/bad-\xff\xfe-name.txt"
        with open(raw, "wb") as fh:
            fh.write(b"a name that is not valid UTF-8\n")
        files["invalid UTF-8 name"] = Path(os.fsdecode(raw))
    put("deleted while indexing", "vanishing.txt", b"here now, gone soon\n" * 20)
    _long_tail(put)

    # Symlinks: a loop (folder linking to its parent, and two links pointing at each other) and a
    # link to a document outside the watched folder (not followed by default).
    (root / "loop").mkdir()
    os.symlink(root / "loop", root / "loop" / "again")
    os.symlink(root / "ping.txt", root / "pong.txt")
    os.symlink(root / "pong.txt", root / "ping.txt")
    secret = outside / "outside.txt"
    secret.write_text(f"outside document {GOOD_WORD}secret\n")
    os.symlink(secret, root / "link_outside.txt")
    os.symlink(outside, root / "linked_outside_dir")
    return files


def _candidates_on_disk(root: Path) -> set[str]:
    """Supported, non-hidden regular files really inside root (no symlink leaving it)."""
    out: set[str] = set()
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            p = os.path.join(dirpath, name)
            if name.startswith(".") or not is_supported(p):
                continue
            if not os.path.isfile(p):  # dangling or looping symlinks
                continue
            if not os.path.realpath(p).startswith(real_root + os.sep):
                continue
            out.add(p)
    return out


OUTCOMES: dict[str, str] = {}


def test_bad_inputs_never_stop_indexing(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    files = build_corpus(root, tmp_path / "elsewhere")
    settings = load_settings(
        tmp_path / "home",
        embedder_backend="fake",
        generator_backend="fake",
        folders=[root],
        max_file_mb=1.5,
    )
    events: list[object] = []
    with KnowledgeBase(settings, build_hub(settings), events.append) as kb:
        kb.scan()
        files["deleted while indexing"].unlink()  # gone before the writer reaches it
        assert kb.wait_idle(120), "indexing did not finish"
        # Cairn is still running: another change is picked up after all that.
        (root / "after.md").write_text(f"# Later\n\nA {GOOD_WORD} sighting after the storm.\n")
        kb.scan()
        assert kb.wait_idle(60)

        records = {f.path: f for f in kb.files()}
        status = kb.status()
        assert status.idle

        # Every candidate on disk has a visible status, with a reason when not embedded.
        on_disk = _candidates_on_disk(root)
        missing = on_disk - records.keys()
        assert not missing, f"files on disk without a status: {sorted(missing)}"
        for path in on_disk:
            rec = records[path]
            assert rec.stage in (FileStage.EMBEDDED, FileStage.FAILED, FileStage.SKIPPED), rec
            if rec.stage != FileStage.EMBEDDED:
                assert rec.reason.strip(), f"{path!r} is {rec.stage} without a reason"
        # Nothing outside the folder, and nothing that no longer exists, is in the index.
        assert set(records) <= on_disk, sorted(set(records) - on_disk)

        for name, path in files.items():
            rec = records.get(str(path))
            OUTCOMES[name] = (
                "not in index"
                if rec is None
                else f"{rec.stage}"
                + (f": {rec.reason}" if rec.reason else f" ({rec.chunk_count} chunks)")
            )
        print("\nBAD INPUT OUTCOMES")
        for name, outcome in OUTCOMES.items():
            print(f"| {name} | {outcome} |")

        def stage(name: str) -> FileStage:
            return records[str(files[name])].stage

        # Specific expectations, where the right answer is clear.
        assert stage("good markdown") == FileStage.EMBEDDED
        for name in ("good ODT", "good MSG", "malformed XML"):
            assert stage(name) == FileStage.EMBEDDED, name
        for name in (
            "truncated ODT", "encrypted ODS", "empty ODT (no text)", "empty ODP (0 bytes)",
            "truncated MSG", "encrypted MSG (S/MIME)", "empty MSG (0 bytes)",
            "RTF that is not RTF", "empty RTF (no text)", "binary .rst", "whitespace-only .org",
            "encrypted DOC", "DOC (needs LibreOffice)", "corrupt XLS",
        ):  # fmt: skip
            assert stage(name) == FileStage.FAILED, name
        for name in ("encrypted ODS", "encrypted MSG (S/MIME)", "encrypted DOC"):
            assert "encrypt" in records[str(files[name])].reason.lower(), name
        # "install LibreOffice to index .doc files", or where it is installed, its verdict.
        assert "LibreOffice" in records[str(files["DOC (needs LibreOffice)"])].reason
        assert stage("empty file") == FileStage.FAILED
        assert stage("truncated PDF") == FileStage.FAILED
        assert stage("encrypted PDF") == FileStage.FAILED
        assert "encrypt" in records[str(files["encrypted PDF"])].reason.lower()
        assert stage("password-protected DOCX (OLE)") == FileStage.FAILED
        assert "encrypt" in records[str(files["password-protected DOCX (OLE)"])].reason.lower()
        assert stage("zip-bomb DOCX") == FileStage.FAILED
        assert stage("over the size limit") == FileStage.SKIPPED
        assert "limit" in records[str(files["over the size limit"])].reason
        assert stage("50 nested folders") == FileStage.EMBEDDED
        assert stage("1 MB single-line .txt") == FileStage.EMBEDDED
        assert stage("UTF-16 without BOM") == FileStage.EMBEDDED
        assert stage("invalid UTF-8") == FileStage.EMBEDDED
        for name in ("name with quotes", "name with newline", "name with emoji"):
            assert stage(name) == FileStage.EMBEDDED, name
        if "invalid UTF-8 name" in files:
            assert stage("invalid UTF-8 name") in (FileStage.EMBEDDED, FileStage.FAILED)
        unreadable = str(files["unreadable (chmod 000)"])
        if os.access(unreadable, os.R_OK):
            # Running as root: mode 000 does not stop root from reading, so the file indexes.
            # The "permission denied" path is covered by the non-root branch and by the
            # monkeypatched test below.
            assert records[unreadable].stage == FileStage.EMBEDDED
        else:
            assert records[unreadable].stage == FileStage.FAILED
            assert "permission" in records[unreadable].reason.lower()
        assert str(files["deleted while indexing"]) not in records
        assert str(root / "link_outside.txt") not in records

        # The good files are searchable; the outside document is not.
        hits = kb.search(GOOD_WORD, mode="bm25")
        paths = {h.anchor.path for h in hits}
        assert str(files["good markdown"]) in paths
        assert {str(files["good ODT"]), str(files["good MSG"])} <= paths
        assert str(root / "after.md") in paths
        assert not kb.search(f"{GOOD_WORD}secret", mode="bm25")
        assert kb.search("granite scree", mode="hybrid")

        assert_store_consistent(kb)

        # A failed file is reported as an event too, never silently dropped.
        failed_events = {
            getattr(e, "path", None) for e in events if type(e).__name__ == "FileFailed"
        }
        for path, rec in records.items():
            if rec.stage == FileStage.FAILED:
                assert path in failed_events


def test_unreadable_file_fails_with_permission_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod 000 does not stop root, so simulate EACCES where the pipeline opens the file."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.md").write_text(f"# Ok\n\n{GOOD_WORD} here\n")
    locked = root / "locked.txt"
    locked.write_text("private\n")
    import builtins

    real_open = builtins.open

    def guarded_open(file: object, *args: object, **kwargs: object) -> object:
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", guarded_open)
    real_path_open = Path.open

    def guarded_path_open(self: Path, *args: object, **kwargs: object) -> object:
        if str(self) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real_path_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", guarded_path_open)
    settings = load_settings(
        tmp_path / "home", embedder_backend="fake", generator_backend="fake", folders=[root]
    )
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.scan()
        assert kb.wait_idle(60)
        rec = kb.store.get_file(str(locked))
        assert rec is not None and rec.stage == FileStage.FAILED
        assert "permission" in rec.reason.lower() or "denied" in rec.reason.lower(), rec.reason
        assert kb.store.get_file(str(root / "good.md")).stage == FileStage.EMBEDDED
        assert_store_consistent(kb)


@pytest.mark.slow
def test_ten_thousand_tiny_files(tmp_path: Path) -> None:
    root = tmp_path / "many"
    n = 10_000
    for i in range(n):
        d = root / f"d{i // 500:02d}"
        if i % 500 == 0:
            d.mkdir(parents=True)
        (d / f"f{i:05d}.txt").write_text(f"tiny note number {i} about token{i}\n")
    settings = load_settings(
        tmp_path / "home", embedder_backend="fake", generator_backend="fake", folders=[root]
    )
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.scan()
        assert kb.wait_idle(1800)
        status = kb.status()
        assert status.files_by_stage[FileStage.EMBEDDED] == n, status.files_by_stage
        assert status.chunks == n
        assert_store_consistent(kb)
        hits = kb.search("token7777", mode="bm25")
        assert hits and hits[0].anchor.path.endswith("f07777.txt")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs bytes file names (Linux)")
def test_non_utf8_file_name_fails_alone(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    # "a-…" sorts before the good files, so it is processed first in the batch.
    raw = os.fsencode(root) + b"/a-\xff\xfe-name.txt"
    with open(raw, "wb") as fh:
        fh.write(b"a name that is not valid UTF-8\n")
    bad = os.fsdecode(raw)
    good = []
    for i in range(5):
        p = root / f"b{i}.md"
        p.write_text(f"# Note {i}\n\n{GOOD_WORD} number {i}\n")
        good.append(str(p))
    settings = load_settings(
        tmp_path / "home", embedder_backend="fake", generator_backend="fake", folders=[root]
    )
    events: list[object] = []
    with KnowledgeBase(settings, build_hub(settings), events.append) as kb:
        kb.scan()
        assert kb.wait_idle(60)
        stages = {f.path: f.stage for f in kb.files()}
        # Every other file of the batch is indexed...
        assert all(stages.get(p) == FileStage.EMBEDDED for p in good), stages
        # ...and the odd name is reported (the files table cannot hold it verbatim, an event can).
        reasons = {e.path: e.reason for e in events if isinstance(e, FileFailed)}
        assert "not valid UTF-8" in reasons[bad]
        assert bad not in stages  # LanceDB strings are UTF-8: the name cannot be stored
        assert_store_consistent(kb)
        # Renaming it to a valid name (what the failure tells the user to do) indexes it; a
        # rename back to an invalid name drops its rows.
        fixed = str(root / "a-renamed.txt")
        os.rename(raw, fixed)
        assert kb.pipeline is not None
        kb.pipeline.submit([Change("move", bad, fixed)])
        assert kb.wait_idle(60)
        assert {f.path: f.stage for f in kb.files()}.get(fixed) == FileStage.EMBEDDED
        os.rename(fixed, raw)
        kb.pipeline.submit([Change("move", fixed, bad)])
        assert kb.wait_idle(60)
        assert fixed not in {f.path for f in kb.files()}
        assert_store_consistent(kb)
