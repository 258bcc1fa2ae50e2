"""Text a whole-document answer should not read twice: running headers and footers, boilerplate.

A small model asked for "the most important points" of a window of pages is drawn to whatever
fills the window. In a real report most of that is page furniture — "Annual report 2026 · page
7", "Confidential" — and, once the furniture is gone, sentences the document repeats. Seen with
the 0.5B on the generated 30-page report: with "Harbour annual report, part N" heading every
page, a window was fourteen headers and one fact, and the model wrote notes about "the report"
instead of the fact (2 of 5 planted points lost). Removing the furniture leaves the model the
text that says something, and fewer, fuller windows (fewer model calls).

Pure functions over the file's chunks in document order; a chunk left empty is dropped, its
anchor (page, section) is never changed, so a citation still opens the right place.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from indexer.answer.citations import has_words, sentence_pieces
from indexer.records import SearchHit

#: A running line has at most this many words: headers and footers are short, a sentence that
#: merely starts two pages alike ("The committee met on 3 May …") is not furniture.
RUNNING_LINE_WORDS = 12
#: …and it opens or closes at least this many pages, and this share of them.
RUNNING_LINE_MIN_PAGES = 3
RUNNING_LINE_MIN_SHARE = 0.3


def _line_key(line: str) -> str:
    """A line with numbers made alike ("page 7 of 30" ≡ "page 8 of 30"), case and punctuation
    ignored: running headers differ only in their page number."""
    words = re.findall(r"\w+", line.lower())
    return " ".join("#" if w.isdigit() or _ROMAN_RE.fullmatch(w) else w for w in words)


_ROMAN_RE = re.compile(r"[ivxlc]+")


def _edge_lines(text: str) -> tuple[str, str]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[0], lines[-1]) if lines else ("", "")


def running_lines(hits: Sequence[SearchHit]) -> set[str]:
    """Keys (`_line_key`) of the lines that open or close many pages: headers and footers.

    Only paged files have them (PDFs, slides); a file without pages has none. A page's first
    line is the first line of its first chunk, its last line the last of its last chunk.
    """
    firsts: dict[int, str] = {}
    lasts: dict[int, str] = {}
    for hit in hits:
        page = hit.anchor.page
        if page is None:
            continue
        first, last = _edge_lines(hit.text)
        firsts.setdefault(page, first)
        lasts[page] = last
    if len(firsts) < RUNNING_LINE_MIN_PAGES:
        return set()
    counts: Counter[str] = Counter()
    for page, first in firsts.items():
        edge = {_line_key(first), _line_key(lasts[page])}
        counts.update(k for k in edge if k and len(k.split()) <= RUNNING_LINE_WORDS)
    need = max(RUNNING_LINE_MIN_PAGES, RUNNING_LINE_MIN_SHARE * len(firsts))
    return {key for key, n in counts.items() if n >= need}


def strip_running_lines(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """The hits without their running headers/footers (`running_lines`), empty hits dropped.

    Only a line at a page's edge goes: the same words inside a page are the text itself.
    """
    keys = running_lines(hits)
    if not keys:
        return list(hits)
    out: list[SearchHit] = []
    seen_pages: set[int] = set()
    for i, hit in enumerate(hits):
        page = hit.anchor.page
        lines = hit.text.splitlines()
        body = [n for n, ln in enumerate(lines) if ln.strip()]
        drop: set[int] = set()
        if body and page is not None:
            opens_page = page not in seen_pages
            nxt = hits[i + 1].anchor.page if i + 1 < len(hits) else None
            closes_page = nxt != page
            if opens_page and _line_key(lines[body[0]]) in keys:
                drop.add(body[0])
            if closes_page and _line_key(lines[body[-1]]) in keys:
                drop.add(body[-1])
            seen_pages.add(page)
        if not drop:
            out.append(hit)
            continue
        text = "\n".join(ln for n, ln in enumerate(lines) if n not in drop).strip()
        if has_words(text):
            out.append(replace(hit, text=text))
    return out


def read_once(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """Hits with every sentence an earlier hit already said removed (hits left empty dropped).

    A repeated sentence adds nothing to a summary but prefill time, and a small model asked for
    "the most important points" of pages that repeat a boilerplate line picks that line over
    the one point made once (seen with the 1.5B on the generated 50-page report: 3 of 5 planted
    points kept). Chunk overlap is not a repeat: only sentences seen in a hit that does not
    overlap this one's span are removed. What is kept keeps its own separators, so "Dr. Ingrid
    Falkenrath" is not torn at the sentence splitter's guess after "Dr.".
    """
    seen: dict[str, int] = {}  # normalised sentence → char_end of the hit that said it
    out: list[SearchHit] = []
    for hit in hits:
        kept: list[str] = []
        dropped = False
        for sentence, sep in sentence_pieces(hit.text):
            key = " ".join(re.findall(r"\w+", sentence.lower()))
            said_at = seen.get(key) if key else None
            if said_at is not None and said_at <= hit.anchor.char_start:
                dropped = True
                continue
            if key:
                seen.setdefault(key, hit.anchor.char_end)
            kept.append(sentence + sep)
        if not dropped:
            out.append(hit)
            continue
        text = "".join(kept).strip()
        if has_words(text):
            out.append(replace(hit, text=text))
    return out


def readable(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """What a whole-document answer reads of a file: furniture off, repeats once."""
    return read_once(strip_running_lines(hits))
