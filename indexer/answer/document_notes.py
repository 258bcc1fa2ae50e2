"""Notes with sources: the unit a whole-document answer is built from (map → reduce → text).

A map step turns a window of a file's passages into short notes; each note keeps the chunks it
cites (`SearchHit`s, carrying their page / section anchors), never a bare `[n]`: the numbers a
model writes only mean something inside the prompt it read. A reduce step reads notes numbered
afresh and its reply's markers are mapped back to the notes' sources the same way, so a cited
page survives any number of merges. `render` renumbers every source once, at the end.

Pure functions, no models: the prompts and the parsing of replies, testable on strings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from indexer.answer.citations import (
    attribute_citations,
    check_grounding,
    content_words,
    has_words,
    is_refusal,
    parse_citations,
    repoint_citations,
)
from indexer.answer.passages import redact_instructions
from indexer.records import SearchHit


# Here, not in whole_document, so the window can name it without importing the search stack
# (lancedb, pyarrow) at start-up: tests/desktop_app/test_startup.py checks that.
@dataclass(frozen=True, slots=True)
class DocumentProgress:
    """Where a whole-document answer is: `stage` ("reading" a window of a file, "merging"
    notes, "writing" the result), `step` of `steps` model calls done, and the estimated
    seconds left (None until one call has been timed). `label` names the place being read."""

    stage: Literal["reading", "merging", "comparing", "writing"]
    step: int
    steps: int
    eta_s: float | None
    label: str = ""

_BULLET_RE = re.compile(r"^\s*(?:(?:[-*•]+|\d{1,2}[.)])\s*)+")
_NONE_RE = re.compile(r"^\W*(?:none|n/a|nothing|no (?:items?|points?|facts?))\W*$", re.IGNORECASE)
# A line that only echoes a prompt label, "(from report.pdf p. 1, report.pdf p. 27)" or
# "(source: notes.md:3)": the 0.5B copies them as notes (seen on the held-out minutes).
_LABEL_RE = re.compile(r"^\W*\(\s*(?:from|source:)\s[^()]*\)\W*(?:\[\d+\]\W*)*$", re.IGNORECASE)
_DUPLICATE_OVERLAP = 0.85  # Jaccard of content words from which two notes say the same


@dataclass(frozen=True, slots=True)
class Note:
    """One point of a whole-document answer and the chunks it comes from (document order)."""

    text: str
    sources: tuple[SearchHit, ...]


def note_lines(reply: str) -> list[str]:
    """The lines of a model's reply that are notes: bullets stripped, "none" and refusals out."""
    lines = []
    for raw in reply.splitlines():
        line = _BULLET_RE.sub("", raw).strip()
        if (not line or _NONE_RE.match(line) or _LABEL_RE.match(line) or is_refusal(line)
                or line.endswith(":")):
            continue
        lines.append(line)
    return lines


def parse_notes(reply: str, passages: Sequence[SearchHit], texts: Sequence[str]) -> list[Note]:
    """Notes from a reply over numbered `passages` (their shown `texts`), each with its sources.

    A line without a marker gets the passage that says it (`attribute_citations`); a marker
    that points at the wrong passage is moved to the one that says it (`repoint_citations`);
    a line that no passage supports is dropped — a note without a source is the model's memory.
    """
    notes: list[Note] = []
    for line in note_lines(reply):
        fixed = repoint_citations(attribute_citations(line, texts), texts)
        parsed = parse_citations(fixed, len(passages))
        text = parsed.text
        if not parsed.cited or not content_words(strip_markers(text)):
            continue
        if not all(v.supported for v in check_grounding(text, texts)):
            continue
        notes.append(Note(strip_markers(text), tuple(passages[n - 1] for n in parsed.cited)))
    return notes


def parse_merged(reply: str, notes: Sequence[Note]) -> list[Note]:
    """Notes from a reduce reply over numbered `notes`: markers map to those notes' sources."""
    texts = [n.text for n in notes]
    out: list[Note] = []
    for line in note_lines(reply):
        parsed = parse_citations(attribute_citations(line, texts, min_support=0.4), len(notes))
        if not parsed.cited or not content_words(strip_markers(parsed.text)):
            continue
        sources = [s for n in parsed.cited for s in notes[n - 1].sources]
        out.append(Note(strip_markers(parsed.text), tuple(_unique(sources))))
    return out


def strip_markers(text: str) -> str:
    """The text without `[n]` markers (nor a bullet a leading "[1] - …" left behind), nor an
    echo of a prompt label: the 1.5B ends notes with "(from passage )" or "(source: x.pdf p. 3)".
    """
    text = _LABEL_ECHO_RE.sub("", re.sub(r"\s*\[\d+\]", "", text))
    return _BULLET_RE.sub("", text.strip()).strip()


_LABEL_ECHO_RE = re.compile(
    r"\s*\((?:from|source:?)\s*(?:(?:the\s+)?(?:passages?|notes?)\s*[\d,\s]*"
    r"|[^()]*\.[a-z]{2,4}\b[^()]*)\)(?=\s*(?:[.;,]|\[\d|$))", re.IGNORECASE)


def _unique(hits: Sequence[SearchHit]) -> list[SearchHit]:
    seen: dict[str, SearchHit] = {}
    for hit in hits:
        seen.setdefault(hit.chunk_id, hit)
    return list(seen.values())


def dedupe(notes: Sequence[Note]) -> list[Note]:
    """Drop notes that repeat an earlier one (overlapping windows, a point made twice); the
    kept note gains the repeat's sources."""
    kept: list[Note] = []
    words: list[set[str]] = []
    for note in notes:
        w = content_words(note.text)
        twin = next((i for i, k in enumerate(words) if same_point(w, k)), None)
        if twin is None:
            kept.append(note)
            words.append(w)
        else:
            kept[twin] = Note(kept[twin].text, tuple(_unique([*kept[twin].sources,
                                                              *note.sources])))
    return kept


def same_point(a: set[str], b: set[str]) -> bool:
    """One note repeats the other: all of one's content words are in the other, or nearly all
    are shared. "The timeout is 30 s" and "The timeout is 45 s" differ in a word: two points."""
    if not a or not b:
        return False
    return a <= b or b <= a or len(a & b) / len(a | b) >= _DUPLICATE_OVERLAP


class Rarity:
    """How much a text says that the rest of its document does not: the mean IDF of its content
    words over the document's sentences (a word the document never uses counts as nothing).

    Routine lines share their words ("said", "team", "weekly", "checked"); a decision, a figure
    or a name said once has its own. Texts under four content words are scored as if they had
    four, so a two-word fragment does not beat a sentence.
    """

    def __init__(self, sentences: Sequence[str]) -> None:
        self._df: dict[str, int] = {}
        for text in sentences:
            for w in content_words(text):
                self._df[w] = self._df.get(w, 0) + 1
        self._total = max(1, len(sentences))

    def score(self, text: str) -> float:
        # Numbers left out: page and item numbers, week 12 and week 37, make every routine line
        # "rare"; a point worth keeping has rare words around its figure ("85 euros").
        words = {w for w in content_words(text) if not w.isdigit()}
        # A word the document never uses is the model's, not the document's: it adds nothing
        # (but counts in the mean). The 1.5B pads notes ("…, which is important for keeping
        # the premises clean"); counted as rarest, that padding outranked the planted points.
        rarity = sum(math.log(self._total / self._df[w]) for w in words if w in self._df)
        return rarity / max(4, len(words))


def prose_sentences(text: str) -> list[str]:
    """Sentences of a passage as written, lines joined first: PDF text breaks lines mid-sentence
    and `split_sentences` would count each line as one."""
    return [s.strip() for s in _PROSE_BREAK_RE.split(" ".join(text.split())) if has_words(s)]


# A sentence ends at . ! ? before a capital, not after a title or common abbreviation.
_PROSE_BREAK_RE = re.compile(
    r"(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bSt\.)(?<!\bNo\.)(?<!\bMrs\.)(?<!\bFig\.)"
    r"(?<!\bProf\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def one_point_each(notes: Sequence[Note]) -> list[Note]:
    """Notes of several sentences split into one note per sentence, each keeping the sources.

    The 0.5B copies two or three passage sentences into one note; the one that matters is then
    ranked (`select_notes`) together with routine lines it happened to be written next to.
    """
    out: list[Note] = []
    for note in notes:
        parts = prose_sentences(note.text)
        if len(parts) <= 1:
            out.append(note)
            continue
        out.extend(Note(p, note.sources) for p in parts if len(content_words(p)) >= 2)
    return out


def glean(window: Sequence[SearchHit], notes: Sequence[Note], rarity: Rarity) -> list[Note]:
    """For each passage of the window, its most distinctive sentence when no note says it and
    it is more distinctive than every note the model took from that passage; as notes citing it.

    A small model asked for the points of a few passages copies some sentences, and which ones
    is close to chance: the one odd fact among routine lines was kept in one run and dropped in
    the next (0.5B, board minutes), and the 1.5B noted one of the four pages of a window and
    skipped three planted points (50-page report; docs/performance.md). This adds, without a
    model call, the sentence the map step was most likely wrong to skip, per passage (a page
    or section); `select_notes` later keeps it or not on the same rarity as every other note.
    """
    said = [content_words(n.text) for n in notes]
    out: list[Note] = []
    for hit in window:
        kept = [rarity.score(n.text) for n in notes if hit in n.sources]
        best: tuple[float, str] | None = None
        for sentence in prose_sentences(hit.text):
            words = content_words(sentence)
            if len(words) < 3 or any(_covers(w, words) for w in said):
                continue
            score = rarity.score(sentence)
            if best is None or score > best[0]:
                best = (score, sentence)
        if best is not None and best[0] > max(kept, default=0.0):
            out.append(Note(best[1], (hit,)))
    return out


def _covers(note_words: set[str], sentence_words: set[str]) -> bool:
    return len(note_words & sentence_words) >= 0.7 * len(sentence_words)


def select_notes(notes: Sequence[Note], budget: int, count_tokens: Callable[[str], int],
                 rarity: Rarity | None = None, overhead: int = 12,
                 max_notes: int | None = None) -> list[Note]:
    """See `_select`; a note costs its text's tokens plus its label's ("from x.pdf p. 3, …"),
    as the final prompt shows it, plus `overhead` for the number and separators."""
    def cost(note: Note) -> int:
        return count_tokens(note.text) + count_tokens(_pages(note.sources)) + overhead

    return _select(notes, budget, cost, rarity, max_notes)


def _select(notes: Sequence[Note], budget: int, cost: Callable[[Note], int],
            rarity: Rarity | None, max_notes: int | None) -> list[Note]:
    """The notes that say the most the others do not, fitting `budget` tokens, in their order.

    Why not let the model merge them: a 0.5B/1.5B merging notes mixes them up — seen on the
    board minutes, "Jonas Berg said the shop team…" came out of a note about Ana Petrov — and
    drops the odd fact among many routine ones. Picking is extractive: every kept note is one
    the map step checked against its passage (or a sentence copied from it), cited to it, and
    no model call is spent. Notes are ranked by `rarity` (the document's; by default the
    notes' own).
    """
    costs = [cost(n) for n in notes]
    fits = sum(costs) <= budget
    if fits and (max_notes is None or len(notes) <= max_notes):
        return list(notes)
    rank = rarity or Rarity([n.text for n in notes])
    chosen: list[int] = []
    used = 0
    scores = [rank.score(n.text) for n in notes]
    for i in sorted(range(len(notes)), key=lambda i: (-scores[i], i)):
        if max_notes is not None and len(chosen) >= max_notes:
            break
        if used + costs[i] <= budget:
            chosen.append(i)
            used += costs[i]
    return [notes[i] for i in sorted(chosen)]


def format_numbered(items: Sequence[tuple[str, str]]) -> str:
    """`[n] (label)\\ntext` blocks, the passage format the answer prompts and FakeGenerator use."""
    return "\n\n".join(f"[{n}] ({label})\n{text.strip()}"
                       for n, (label, text) in enumerate(items, 1))


def passage_items(passages: Sequence[SearchHit]) -> tuple[list[tuple[str, str]], list[str]]:
    """Labels and redacted texts of passages as the model reads them."""
    texts = [redact_instructions(p.text).replace("\n\n", "\n") for p in passages]
    return [(f"source: {p.anchor.label()}", t) for p, t in zip(passages, texts, strict=True)], texts


def note_items(notes: Sequence[Note]) -> list[tuple[str, str]]:
    return [(f"from {_pages(n.sources)}", n.text) for n in notes]


def _pages(hits: Sequence[SearchHit]) -> str:
    return ", ".join(dict.fromkeys(h.anchor.label() for h in hits))


def render(parts: Sequence[tuple[str, Sequence[Note]]],
           prose: Sequence[tuple[str, Sequence[SearchHit]]] = ()) -> tuple[str, list[SearchHit]]:
    """Markdown text with `[n]` markers and the cited chunks, numbered 1..n in order of use.

    `prose`: sentences (e.g. an overview) with their sources, written first as one paragraph;
    `parts`: (heading, notes) sections of bullet points, a heading "" for none.
    """
    numbers: dict[str, int] = {}
    cited: list[SearchHit] = []

    def marks(sources: Sequence[SearchHit]) -> str:
        out = []
        for hit in sources:
            if hit.chunk_id not in numbers:
                numbers[hit.chunk_id] = len(cited) + 1
                cited.append(hit)
            out.append(f"[{numbers[hit.chunk_id]}]")
        return "".join(dict.fromkeys(out))

    blocks: list[str] = []
    if prose:
        blocks.append(" ".join(f"{_sentence(text)} {marks(src)}".strip() for text, src in prose))
    for heading, notes in parts:
        if not notes:
            continue
        lines = [f"- {_sentence(n.text)} {marks(n.sources)}" for n in notes]
        blocks.append((f"**{heading}**\n" if heading else "") + "\n".join(lines))
    return "\n\n".join(blocks), cited


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?:;" else text + "."


def fit_groups(items: Sequence[str], budget: int, count_tokens: Callable[[str], int],
               overhead: int = 12, max_items: int | None = None) -> list[list[int]]:
    """Indices of `items` in consecutive groups whose token counts fit `budget`, of at most
    `max_items` each (an item longer than the budget is a group of its own: the caller cuts
    it)."""
    groups: list[list[int]] = []
    used = 0
    for i, item in enumerate(items):
        cost = count_tokens(item) + overhead
        room = max_items is None or (bool(groups) and len(groups[-1]) < max_items)
        if groups and room and used + cost <= budget:
            groups[-1].append(i)
            used += cost
        else:
            groups.append([i])
            used = cost
    return groups
