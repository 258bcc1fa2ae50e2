#!/usr/bin/env python3
"""Copy the held-out SQLite manual pages into a folder and check the question set against them.

Usage:
    python3 make_corpus.py OUT_DIR [--source DIR]

The corpus is 32 HTML pages of the SQLite documentation as shipped by Debian's
`sqlite3-doc` package, version 3.40.1-2+deb12u2 (Debian 12 "bookworm"), which installs
them under /usr/share/doc/sqlite3/. Each page is copied byte for byte to OUT_DIR/<name>.html
(flat: all chosen pages sit at the top of the package's documentation folder) after its
sha256 has been checked against MANIFEST below, so the corpus is identical on every machine.
A missing or different page stops the script (exit 1) with a message naming the package and
the expected version; nothing is written in that case.

Without the package installed, extract it instead and point --source at it:

    apt-get download sqlite3-doc            # sqlite3-doc_3.40.1-2+deb12u2_all.deb
    dpkg-deb -x sqlite3-doc_*.deb /tmp/sqlite3-doc
    python3 make_corpus.py OUT_DIR --source /tmp/sqlite3-doc/usr/share/doc/sqlite3

If questions.jsonl sits next to this script, every record is checked: required fields, ids,
that source_file / also_in name pages of the corpus, and that each answerable question's
`evidence` occurs in the visible text of its `source_file`. "Visible text" is what the
standard-library html.parser yields outside <head>, <script>, <style>, <nav>, <footer> and
similar non-text elements, split at block-level elements (paragraphs, list items, table
cells, headings, <pre>, <br>) and with whitespace collapsed. The evidence must sit inside one
such block, so it cannot straddle two paragraphs or two table cells (Cairn's HTML parser
breaks text at the same elements). The exit status is 2 if any evidence is missing or any
record is malformed.

Standard library only; Python 3.8+.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from html.parser import HTMLParser

PACKAGE = "sqlite3-doc"
PACKAGE_VERSION = "3.40.1-2+deb12u2"
DEFAULT_SOURCE = "/usr/share/doc/sqlite3"

# page -> sha256 of the file as installed by sqlite3-doc 3.40.1-2+deb12u2
MANIFEST = {
    "autoinc.html": "0d816b1766a77d048ac46814cfd573f602bc587399f67346815bfa02f21f1b2c",
    "cli.html": "757b3e7f56a68fcca26a4142cf28fb680f2d85a7dfa1bbd1d6d79e46815f50f1",
    "datatype3.html": "dee8d75f5f6a1b762f317f31db2345b653d8ed918f6a4b8b17e3c9a404eb7436",
    "expridx.html": "a792cf2ef1535dcf132182dce74a7388a1cbdd75e87a702e5e485964907c2f0f",
    "foreignkeys.html": "a6c8c1f5acc6fda5a991c3d5f260d6bb0951e5f0f5f73cffa197d8dd79e9d6e9",
    "fts5.html": "7928bd1356925e3b74e96f0e99d2a7252376b4cc6a076ad6244e0f0dab57e6dc",
    "gencol.html": "a3b1eb26d62e76920dcb8991c5845e2d8c36893c5c0c0ecb42fc97b3f97e2f9b",
    "inmemorydb.html": "8ae2cc3f0f6deff876a9708e5a8b624c117acdadb62838fc04a63bf08876cd84",
    "json1.html": "ee47a27280b5b543566b0b46ed4d747ba1eb453b4e783ddbe800c7b110081dca",
    "lang_altertable.html": "dcd6c96df5992b57da24ac4d7841663fee393b0934794d95f71b4d13ffc957ac",
    "lang_analyze.html": "3653b66bd679b86d111e301c2f4c220f31fe5565abf6709fe0a5a1c84bf927dc",
    "lang_attach.html": "9f3a542c3ebb8760dd2344cabd7cd02353d00d1a7dd943a49824ad8db2cbbcbc",
    "lang_conflict.html": "ac2e1cd00f15561f81b68c21562c486727dce300d1d67958e25e70d7af05d245",
    "lang_corefunc.html": "42201638f2782361c258add13911dc9de8f6d865198e88166c65858fb8061a37",
    "lang_createtable.html": "615d8881e01c9992bb995503bdf86099632e5f78506b3324fec8530af0f44c58",
    "lang_datefunc.html": "6b7876e4ac368179ba65d1a78ee1cc56ac4072a0100596fc3abb4acd3107f58f",
    "lang_mathfunc.html": "7ff63b79ec8ec432d21a129fb9afd6f8f617c4dc984aae6380277dc2f96b3659",
    "lang_returning.html": "cdd61d1f40eba540500502771f54a0229b6166efaffea8b8ceba13e5ae2aa6cc",
    "lang_savepoint.html": "13267bc8d24b326277aa2fd238b7fdea5723f9145e766177bbf789843ad73e78",
    "lang_transaction.html": "38757a231797717d12c66bedb5c86593d5f859d162e331cefa21361f31eb56a6",
    "lang_upsert.html": "909fee3751c444054435b72e5c5bf5a1c04e283e653c294c3ea5e7a360b27ada",
    "lang_vacuum.html": "a3538f97def4dcb979752ceaf60e3fc3fc7f2fd425ec02987fa76e9c5eba3e31",
    "limits.html": "c8ce36be3280ea10a22db68a99643f5b7eaa0f7064685f301e04b734f4b20cac",
    "partialindex.html": "40eefb6cbdc9fd2d450894e4209f01d2eab49ec3187a464917c9367859347a8e",
    "pragma.html": "0659fa1d83c6a4085b337b719001adc65e72a701136b6313d847fcf269504d4b",
    "quirks.html": "e8a8a6e4045a812b96ecfe45f41d42d412e9e1bfd667fb3ab11d589d02ee136f",
    "stricttables.html": "3111b70e738cfcaaf570e8ccc9676a47b201485a43c1bf17852398913953632b",
    "tempfiles.html": "99f3809abd56c80d4dc5c3cf2cf3380cfe9ddc59946470c07cb8b72e2bb62e90",
    "uri.html": "47b5093c94b518e168a2fcee43e83e59d4431ada82a02c68ebae70005b3fd468",
    "wal.html": "6de416a73b7754fd7a752ec04913eb6423d15b387fe6995f6a78bd148657f36f",
    "windowfunctions.html": "cfff7b5df1ced4a67309e934cdca328655f58f9206765660d7e0e82904ca0920",
    "withoutrowid.html": "614787b7adeb2acab82288357d2fdf284ac17e2c128033d9d6d3a256ed367949",
}

QUESTIONS = "questions.jsonl"

# --------------------------------------------------------------------- visible text of a page

# Not shown as text (Cairn's HTML parser drops the same elements).
_DROP = frozenset({
    "head", "title", "script", "style", "nav", "footer", "noscript", "template", "svg",
    "iframe", "object", "button", "select",
})
# Elements that start or end a block of text.
_BLOCK = frozenset({
    "html", "body", "p", "div", "section", "article", "main", "header", "aside", "blockquote",
    "ul", "ol", "dl", "table", "figure", "address", "details", "fieldset", "hr", "center",
    "li", "tr", "dt", "dd", "caption", "figcaption", "summary", "br", "td", "th", "pre",
    "h1", "h2", "h3", "h4", "h5", "h6",
})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed",
                   "param", "source", "track", "wbr"})


def norm(s):
    """Collapse every run of whitespace to one space (the comparison the check uses)."""
    return re.sub(r"\s+", " ", s).strip()


class _TextBlocks(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks = []
        self._buf = []
        self._drop = []  # stack of open dropped elements

    def _flush(self):
        text = norm("".join(self._buf))
        self._buf = []
        if text:
            self.blocks.append(text)

    def handle_starttag(self, tag, attrs):
        if tag in _DROP:
            if tag not in _VOID:
                self._drop.append(tag)
            return
        if not self._drop and tag in _BLOCK:
            self._flush()

    def handle_startendtag(self, tag, attrs):
        if not self._drop and tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag):
        if tag in _DROP:
            if tag in self._drop:
                while self._drop and self._drop.pop() != tag:
                    pass
            return
        if not self._drop and tag in _BLOCK:
            self._flush()

    def handle_data(self, data):
        if not self._drop:
            self._buf.append(data)


def visible_blocks(html_text):
    """Blocks of visible text of an HTML page, whitespace collapsed, in document order."""
    parser = _TextBlocks()
    parser.feed(html_text)
    parser.close()
    parser._flush()
    return parser.blocks


def read_page(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --------------------------------------------------------------------------- corpus building

def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def check_source(source, manifest):
    """Names of pages that are missing or differ from the manifest, with the reason."""
    problems = []
    for name, want in sorted(manifest.items()):
        path = os.path.join(source, name)
        if not os.path.isfile(path):
            problems.append(f"{name}: missing")
        elif sha256_of(path) != want:
            problems.append(f"{name}: sha256 differs from the manifest")
    return problems


def copy_corpus(source, out_dir, manifest):
    problems = check_source(source, manifest)
    if problems:
        print(f"error: the pages under {source} are not those of {PACKAGE} {PACKAGE_VERSION}:",
              file=sys.stderr)
        for p in problems[:10]:
            print(f"  {p}", file=sys.stderr)
        if len(problems) > 10:
            print(f"  ... and {len(problems) - 10} more", file=sys.stderr)
        print(f"Install the expected package version with\n"
              f"    apt-get install {PACKAGE}={PACKAGE_VERSION}\n"
              f"(Debian 12 bookworm; plain `apt-get install {PACKAGE}` there), or extract\n"
              f"that .deb with `dpkg-deb -x` and pass its usr/share/doc/sqlite3 as --source.\n"
              f"Note: minimal container images often exclude /usr/share/doc via a dpkg\n"
              f"path-exclude rule, which leaves the package installed but its pages absent.",
              file=sys.stderr)
        sys.exit(1)
    os.makedirs(out_dir, exist_ok=True)
    for name in sorted(manifest):
        dst = os.path.join(out_dir, name)
        shutil.copyfile(os.path.join(source, name), dst)
        if sha256_of(dst) != manifest[name]:  # e.g. a full disk
            print(f"error: copy of {name} in {out_dir} is not byte-identical", file=sys.stderr)
            sys.exit(1)
    return len(manifest)


# ------------------------------------------------------------------------- question checking

_REQUIRED = ("id", "question", "answerable")
_ANSWERABLE_REQUIRED = ("topic", "source_file", "answer", "must_contain", "evidence")
_KNOWN = frozenset(_REQUIRED + _ANSWERABLE_REQUIRED + ("also_in",))


def _must_contain_ok(value):
    if not isinstance(value, list) or not value:
        return False
    for entry in value:
        if isinstance(entry, str):
            if not entry.strip():
                return False
        elif isinstance(entry, list):
            if not entry or not all(isinstance(s, str) and s.strip() for s in entry):
                return False
        else:
            return False
    return True


def load_questions(path):
    with open(path, encoding="utf-8") as f:
        return [(n, json.loads(line)) for n, line in enumerate(f, 1) if line.strip()]


def check_record(item, manifest):
    """Problems with one record's shape (not its evidence)."""
    errs = []
    unknown = set(item) - _KNOWN
    if unknown:
        errs.append(f"unknown field(s) {sorted(unknown)}")
    for key in _REQUIRED:
        if key not in item:
            errs.append(f"missing '{key}'")
    if not isinstance(item.get("answerable"), bool):
        errs.append("'answerable' must be true or false")
    if not item.get("answerable"):
        extra = set(item) - set(_REQUIRED)
        if extra:
            errs.append(f"unanswerable record has answer fields {sorted(extra)}")
        return errs
    for key in _ANSWERABLE_REQUIRED:
        if key not in item:
            errs.append(f"missing '{key}'")
    src = item.get("source_file")
    if src is not None and src not in manifest:
        errs.append(f"source_file {src!r} is not a page of the corpus")
    if src is not None and item.get("topic") != os.path.splitext(str(src))[0]:
        errs.append("'topic' must be the source_file name without .html")
    for other in item.get("also_in", []):
        if other not in manifest or other == src:
            errs.append(f"also_in entry {other!r} is not another page of the corpus")
    if "must_contain" in item and not _must_contain_ok(item["must_contain"]):
        errs.append("'must_contain' must be a non-empty list of strings / lists of strings")
    ev = item.get("evidence")
    if not isinstance(ev, str) or not 20 <= len(ev) <= 200:
        errs.append("'evidence' must be a string of 20-200 characters")
    return errs


def check_questions(qa_path, corpus_dir, manifest):
    """Check every record; print a summary; return the number of problems found."""
    records = load_questions(qa_path)
    blocks_cache = {}
    bad_records = 0
    ids = set()
    n = missing = 0
    for lineno, item in records:
        qid = item.get("id", f"line {lineno}")
        errs = check_record(item, manifest)
        if qid in ids:
            errs.append("duplicate id")
        ids.add(qid)
        if errs:
            bad_records += 1
            for e in errs:
                print(f"{qa_path}:{lineno}: {qid}: {e}", file=sys.stderr)
            if not item.get("answerable"):
                continue
        if not item.get("answerable"):
            continue
        n += 1
        src = item.get("source_file")
        if src not in blocks_cache:
            path = os.path.join(corpus_dir, src) if src in manifest else None
            blocks_cache[src] = visible_blocks(read_page(path)) if path else []
        needle = norm(str(item.get("evidence", "")))
        if not needle or not any(needle in block for block in blocks_cache[src]):
            missing += 1
            print(f"evidence of {qid} not found in the visible text of {src}", file=sys.stderr)
    print(f"checked {n} evidence strings: {n - missing} ok, {missing} missing")
    if bad_records:
        print(f"{bad_records} malformed record(s)", file=sys.stderr)
    return missing + bad_records


def main(manifest=MANIFEST, here=None, description=None):
    here = here or os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=description or __doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--source", default=DEFAULT_SOURCE,
                    help=f"folder holding the {PACKAGE} HTML pages (default: {DEFAULT_SOURCE})")
    args = ap.parse_args()

    count = copy_corpus(args.source, args.out_dir, manifest)
    print(f"wrote {count} pages of {PACKAGE} {PACKAGE_VERSION} from {args.source} "
          f"to {args.out_dir} (sha256 verified)")

    qa = os.path.join(here, QUESTIONS)
    if os.path.exists(qa):
        if check_questions(qa, args.out_dir, manifest):
            sys.exit(2)


if __name__ == "__main__":
    main()
