#!/usr/bin/env python3
"""Copy the SQLite *dev-split* manual pages into a folder and check the dev questions against them.

Usage:
    python3 make_corpus.py OUT_DIR [--source DIR]

Same builder as ../heldout_sqlite/make_corpus.py (this script imports it), with its own page
list: 11 HTML pages of Debian's `sqlite3-doc` 3.40.1-2+deb12u2 (installed under
/usr/share/doc/sqlite3/), none of which is part of the held-out corpus. Each page is
sha256-checked against MANIFEST below and copied flat into OUT_DIR; then every record of
questions.jsonl (next to this script) is validated and each answerable question's `evidence`
is looked up in the visible text of its `source_file`. Exit status: 1 if a page is missing or
different (nothing is written), 2 if any evidence is missing or any record is malformed.

This is the dev split: tuning may look at it. The held-out set must not be tuned on.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # leave no __pycache__ in the held-out folder
sys.path.insert(0, os.path.join(HERE, os.pardir, "heldout_sqlite"))

import make_corpus as builder

# page -> sha256 of the file as installed by sqlite3-doc 3.40.1-2+deb12u2
MANIFEST = {
    "csv.html": "bddd47769c7bff0d917ff1aebfc1cdc1e7b27e9d362459852a5a19bddb322d4d",
    "isolation.html": "057ef02b008a8c08ae69e0584676f87b72e930722eddeca99f9b872e66035d90",
    "lang_aggfunc.html": "fccce4b88bc52553bc740028dc93eca9c6a3a086386290ad116cfbe83a5e989a",
    "lang_createindex.html": "28a7e78f08c3a185669fa34570408c0d6cd4d38ff358c788354a169c056be7a9",
    "lang_createtrigger.html": "5e79c87e0f62b2af3468306f6e17cea6bd9cc02909087bb6f902267866fb859f",
    "lang_createview.html": "3e3bd64650441a16e8ed8a8cf1b723fc0a40a2818ac1b8adc9ac96ee04090e01",
    "lang_delete.html": "3b5ed66efa4885e3652a76ba7fa751a13f1ed4ee36e0300b0ce26b5482b2af55",
    "lang_with.html": "80d29de159a25b063e83a46d2b6df2b305f5412cf48b836323e6e48ff8c430de",
    "mmap.html": "0309ffbe8f811ffe6dc5d812e38260c85148aee488b781935118fd22948a2688",
    "printf.html": "7a097dfda60e2e6a2ff486610dbea32c1a5d0becb7e49d8bf919a38dd066aa7b",
    "rowvalue.html": "08f96b98bf41a9e8e97cccb5c7725784addeb3b9b9de2def807ed1bc4c90e721",
}

overlap = set(MANIFEST) & set(builder.MANIFEST)
if overlap:  # the two splits must never share a page
    sys.exit(f"error: dev pages also in the held-out corpus: {sorted(overlap)}")

if __name__ == "__main__":
    builder.main(manifest=MANIFEST, here=HERE, description=__doc__.splitlines()[0])
