"""Token-aware chunking: parsed sections → embeddable passages with exact source anchors.

Chunks are sized for the embedder's window *including* the heading prefix that `Chunk.embed_text`
adds, because a passage the embedder truncates loses its tail from the vector silently.

Rules:
- A chunk never spans two sections with different page / heading path / kind, so every chunk
  keeps one anchor. Consecutive small sections with the same anchor are merged while they fit.
- A long section is split at the best boundary near the size target: paragraph > line > sentence
  > word for prose; for code, blank line before a top-level line > `def`/`class` line > blank
  line > top-level line > line > word. A "word" longer than the budget (a megabyte of base64)
  is cut by characters.
- Consecutive chunks of one section overlap by ~`overlap_tokens` of trailing text, starting at a
  line or sentence boundary, so a fact straddling a cut is whole in at least one chunk.
- Offsets are exact: `chunk.char_start = section.char_start + offset in section.text` (after
  stripping blank edges), so when sections are substrings of the source,
  `source[chunk.char_start:chunk.char_end] == chunk.text`. Lines are the section's `line_start`
  plus the newlines before the chunk.

Cost: `count_tokens` runs a real tokenizer, so sizes are *estimated* from a running
characters-per-token ratio and each candidate chunk is counted once to verify it (rarely twice).
Boundary searches only look at a window around the target, so the work is linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from indexer.records import Chunk, ParsedDocument, Section, SectionKind

CountTokens = Callable[[str], int]

_START_CHARS_PER_TOKEN = 4.0
# No real tokenizer packs more than ~10 characters into a token; the cap bounds chunk length even
# when the counter says a giant "word" is one token.
_MAX_CHARS_PER_TOKEN = 10.0
_MIN_CHARS_PER_TOKEN = 1.0
_AIM = 0.9  # aim below the budget so the first verification usually passes
_MIN_FILL = 0.5  # a preferred boundary must leave the chunk at least this full
_CALIBRATION_CHARS = 64  # a counted piece this long replaces the initial estimate
_TRY_WHOLE = 1.25  # a section estimated within this factor of the budget is counted whole first
_LOOKBEHIND = 256  # boundary regexes start this far before the window (whitespace runs)

# A boundary is `match.end()`: where the next piece may begin (its leading whitespace is trimmed).
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n")
_LINE = re.compile(r"\n")
_SENTENCE = re.compile(r"[.!?…。！？][\"'”’)\]]*\s+")
_WORD = re.compile(r"\s+")
_CODE_BLOCK = re.compile(r"\n[^\S\n]*\n(?=\S)")  # blank line, then an unindented line
_CODE_DEF = re.compile(
    r"\n(?=@|(?:async[ \t]+)?def[ \t]|class[ \t]|(?:pub[ \t]+)?(?:fn|impl|struct|enum|trait)[ \t]"
    r"|func[ \t]|function[ \t]|(?:export[ \t]+)?(?:interface|type)[ \t])"
)
_CODE_TOPLEVEL = re.compile(r"\n(?=\S)")

_TEXT_LEVELS = (_PARAGRAPH, _LINE, _SENTENCE, _WORD)
_CODE_LEVELS = (_CODE_BLOCK, _CODE_DEF, _PARAGRAPH, _CODE_TOPLEVEL, _LINE, _WORD)
_TEXT_OVERLAP = (_LINE, _SENTENCE)
_CODE_OVERLAP = (_LINE,)


def chunk_document(
    doc: ParsedDocument,
    *,
    count_tokens: CountTokens,
    max_tokens: int = 200,
    overlap_tokens: int = 24,
) -> list[Chunk]:
    """Split `doc` into chunks whose `embed_text` is at most `max_tokens` by `count_tokens`.

    `count_tokens` should be the embedder's tokenizer (`Embedder.count_tokens`); any monotone
    counter works (tests use a word counter). A heading path longer than three quarters of the
    budget is the one case where `embed_text` may exceed `max_tokens`: the text still gets a
    quarter of the budget rather than nothing.
    """
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    return _Chunker(count_tokens, max_tokens, max(0, overlap_tokens)).run(doc.sections)


@dataclass(frozen=True, slots=True)
class _Span:
    """Text with one anchor: a section, or consecutive same-anchor sections joined exactly."""

    text: str
    char_start: int
    line_start: int | None
    line_end: int | None
    page: int | None
    heading_path: tuple[str, ...]
    kind: SectionKind

    @classmethod
    def join(cls, group: Sequence[tuple[Section, str]]) -> _Span:
        first, last = group[0][0], group[-1][0]
        text = first.text + "".join(gap + sec.text for sec, gap in group[1:])
        return cls(
            text=text,
            char_start=first.char_start,
            line_start=first.line_start,
            line_end=last.line_end if first.line_start is not None else None,
            page=first.page,
            heading_path=tuple(first.heading_path),
            kind=first.kind,
        )


@dataclass(frozen=True, slots=True)
class _Budget:
    prefix: str  # what `Chunk.embed_text` puts before the text
    prefix_tokens: int
    text_tokens: int  # target size of the text itself
    limit: int  # what a whole `embed_text` may count


class _LineCounter:
    """Newlines before an offset, counted incrementally (queries come in increasing order)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._lines = 0

    def before(self, offset: int) -> int:
        if offset < self._pos:
            self._pos, self._lines = 0, 0
        self._lines += self._text.count("\n", self._pos, offset)
        self._pos = offset
        return self._lines


def _mergeable(a: Section, b: Section) -> bool:
    return a.page == b.page and tuple(a.heading_path) == tuple(b.heading_path) and a.kind == b.kind


def _gap_fill(a: Section, b: Section) -> str | None:
    """The text between two sections in the source, when it can be known; None otherwise.

    Sections say where they start but not what lies between them. A merged chunk must be an exact
    slice of the source, so sections are merged only when the gap is certainly newlines: its
    length matches the line numbers, or (without line numbers) it is one paragraph break at most.
    """
    gap = b.char_start - (a.char_start + len(a.text))
    if gap < 0:
        return None
    if gap == 0:
        return ""
    if a.line_start is not None and b.line_start is not None:
        newlines = b.line_start - (a.line_start + a.text.count("\n"))
        return "\n" * gap if newlines == gap else None
    return "\n" * gap if gap <= 2 else None


def _trim(text: str, start: int, end: int, keep_indent: bool) -> tuple[int, int]:
    """Offsets of `text[start:end]` without blank edges (code keeps its first line's indent)."""
    while end > start and text[end - 1].isspace():
        end -= 1
    first = start
    while first < end and text[first].isspace():
        first += 1
    if keep_indent and first > start:
        nl = text.rfind("\n", start, first)
        first = nl + 1 if nl != -1 else start
    return (first, end) if first < end else (start, start)


def _skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    return pos


def _last_boundary(rx: re.Pattern[str], text: str, lo: int, hi: int) -> int | None:
    """The last boundary `b` of `rx` with lo <= b <= hi."""
    best = None
    for m in rx.finditer(text, max(0, lo - _LOOKBEHIND), min(len(text), hi + 1)):
        b = m.end()
        if lo <= b <= hi:
            best = b
    return best


def _first_boundary(rx: re.Pattern[str], text: str, lo: int, hi: int) -> int | None:
    """The first boundary `b` of `rx` with lo <= b <= hi."""
    for m in rx.finditer(text, max(0, lo - _LOOKBEHIND), min(len(text), hi + 1)):
        b = m.end()
        if b > hi:
            return None
        if b >= lo:
            return b
    return None


class _Chunker:
    def __init__(self, count_tokens: CountTokens, max_tokens: int, overlap_tokens: int) -> None:
        self._count = count_tokens
        self._max = max_tokens
        self._overlap = overlap_tokens
        self._cpt = _START_CHARS_PER_TOKEN
        self._calibrated = False
        self._budgets: dict[tuple[str, ...], _Budget] = {}
        self.chunks: list[Chunk] = []

    def run(self, sections: Sequence[Section]) -> list[Chunk]:
        # Blank sections stay in the sequence: one with another anchor still separates its
        # neighbours, one with the same anchor is just part of the gap between them.
        i = 0
        while i < len(sections):
            run: list[tuple[Section, str]] = [(sections[i], "")]
            i += 1
            while i < len(sections) and _mergeable(sections[i - 1], sections[i]):
                gap = _gap_fill(sections[i - 1], sections[i])
                if gap is None:
                    break
                run.append((sections[i], gap))
                i += 1
            if any(sec.text.strip() for sec, _ in run):
                self._chunk_run(run)
        return self.chunks

    # ------------------------------------------------------------------ estimates
    def _estimate(self, n_chars: int) -> float:
        return n_chars / self._cpt

    def _learn(self, n_chars: int, n_tokens: int) -> None:
        """Update the chars-per-token estimate from a counted piece (the first sizeable one
        replaces the initial guess outright)."""
        ratio = n_chars / max(1, n_tokens)
        ratio = min(_MAX_CHARS_PER_TOKEN, max(_MIN_CHARS_PER_TOKEN, ratio))
        if not self._calibrated and n_chars >= _CALIBRATION_CHARS:
            self._cpt = ratio
            self._calibrated = True
        else:
            self._cpt = 0.5 * self._cpt + 0.5 * ratio

    def _calibrate(self, text: str, budget: _Budget) -> None:
        """Measure the ratio on the start of the first long text, so the first cut is placed
        as well as the later ones (one extra count per document)."""
        sample = text[: int(budget.text_tokens * _START_CHARS_PER_TOKEN * 2)]
        if len(sample.strip()) >= _CALIBRATION_CHARS:
            self._learn(len(sample), self._count(sample))

    def _budget(self, heading_path: tuple[str, ...]) -> _Budget:
        budget = self._budgets.get(heading_path)
        if budget is None:
            head = " > ".join(heading_path)
            prefix = head + "\n" if heading_path else ""
            prefix_tokens = self._count(head) if heading_path else 0
            text_tokens = max(self._max - prefix_tokens, max(4, self._max // 4))
            limit = max(self._max, prefix_tokens + text_tokens)
            budget = _Budget(prefix, prefix_tokens, text_tokens, limit)
            self._budgets[heading_path] = budget
        return budget

    # ------------------------------------------------------------------ merging
    def _chunk_run(self, run: list[tuple[Section, str]]) -> None:
        """Pack a run of same-anchor sections into groups that fit; split the big ones."""
        budget = self._budget(tuple(run[0][0].heading_path)).text_tokens
        group: list[tuple[Section, str]] = []
        group_chars = 0
        for sec, gap in run:
            est = self._estimate(len(sec.text.strip()))
            if est > budget * _AIM:
                self._flush(group)
                group, group_chars = [], 0
                single = [(sec, "")]
                if est <= budget * _TRY_WHOLE:
                    self._flush(single)
                else:
                    self._split(_Span.join(single))
                continue
            added = len(gap) + len(sec.text) if group else len(sec.text)
            if group and self._estimate(group_chars + added) > budget * _AIM:
                self._flush(group)
                group, group_chars, added = [], 0, len(sec.text)
            group.append((sec, gap if group else ""))
            group_chars += added
        self._flush(group)

    def _flush(self, group: list[tuple[Section, str]]) -> None:
        """Emit a group as one chunk if it fits; otherwise halve it (or split a lone section)."""
        if not group:
            return
        span = _Span.join(group)
        budget = self._budget(span.heading_path)
        s, e = _trim(span.text, 0, len(span.text), span.kind == "code")
        if s == e:
            return
        tokens = self._count(budget.prefix + span.text[s:e])
        self._learn(e - s, tokens - budget.prefix_tokens)
        if tokens <= budget.limit:
            self._emit(span, s, e, tokens, _LineCounter(span.text))
        elif len(group) > 1:
            mid = len(group) // 2
            self._flush(group[:mid])
            self._flush([(group[mid][0], ""), *group[mid + 1 :]])
        else:
            self._split(span)

    # ------------------------------------------------------------------ splitting
    def _split(self, span: _Span) -> None:
        """Cut one span into chunks at the best boundaries, with overlap between them."""
        text = span.text
        n = len(text)
        code = span.kind == "code"
        levels = _CODE_LEVELS if code else _TEXT_LEVELS
        budget = self._budget(span.heading_path)
        lines = _LineCounter(text)
        if not self._calibrated:
            self._calibrate(text, budget)
        pos = _skip_space(text, 0)  # everything before `pos` is in a chunk already
        start = pos  # where the next chunk begins (before `pos` when overlapping)
        while pos < n:
            cap = int(budget.text_tokens * _MAX_CHARS_PER_TOKEN)
            end = self._choose_end(
                text, start, self._target_chars(budget), pos + 1, levels, reach=start + cap
            )
            while True:
                s, e = _trim(text, start, end, code)
                if s == e:
                    tokens = 0
                    break
                tokens = self._count(budget.prefix + text[s:e])
                text_tokens = max(1, tokens - budget.prefix_tokens)
                self._learn(e - s, text_tokens)
                if tokens <= budget.limit or e - s <= 1:
                    break
                want = int((end - start) * budget.text_tokens / text_tokens * _AIM)
                want = max(1, min(want, end - start - 1))
                if start < pos and start + want <= pos:
                    start = pos  # the overlap alone is too big: drop it
                    want = max(1, min(want, end - start - 1))
                end = self._choose_end(text, start, want, pos + 1, levels)
            if s < e:
                self._emit(span, s, e, tokens, lines)
            pos = _skip_space(text, end)
            if pos >= n:
                break
            start = self._overlap_start(text, s, e, end, code) if s < e else pos
            start = min(start, pos)

    def _target_chars(self, budget: _Budget) -> int:
        want = int(budget.text_tokens * self._cpt * _AIM)
        return max(1, min(want, int(budget.text_tokens * _MAX_CHARS_PER_TOKEN)))

    @staticmethod
    def _choose_end(
        text: str,
        start: int,
        want: int,
        min_end: int,
        levels: Sequence[re.Pattern[str]],
        reach: int = 0,
    ) -> int:
        """Where a chunk starting at `start` should end: the best boundary in
        [start + want·MIN_FILL, start + want], never before `min_end`.

        Without one: the last word boundary before the window (a short chunk beats a cut word),
        else the end of the word running past the window if it ends by `reach` (the caller's
        count decides whether it fits), else a cut by characters: one "word" over the budget.
        """
        n = len(text)
        hard = start + want
        if hard >= n:
            return n
        if hard <= min_end:
            return min_end
        lo = max(min_end, start + int(want * _MIN_FILL))
        for rx in levels:
            b = _last_boundary(rx, text, lo, hard)
            if b is not None:
                return b
        b = _last_boundary(_WORD, text, min_end, hard)
        if b is not None:
            return b
        if reach > hard:
            m = _WORD.search(text, hard, min(n, reach))
            if m is not None:
                return m.start()
            if reach >= n:
                return n
        return hard

    def _overlap_start(self, text: str, s: int, e: int, end: int, code: bool) -> int:
        """Start of the next chunk: a line/sentence start ~overlap_tokens before the previous
        chunk's end (never more than half of it), or `end` when there is none."""
        if self._overlap <= 0:
            return end
        lo = max(s + (e - s) // 2 + 1, e - int(self._overlap * self._cpt))
        best = None
        for rx in _CODE_OVERLAP if code else _TEXT_OVERLAP:
            b = _first_boundary(rx, text, lo, e - 1)
            if b is not None and (best is None or b < best):
                best = b
        if best is None or not text[best:e].strip():
            return end
        return best

    # ------------------------------------------------------------------ output
    def _emit(self, span: _Span, s: int, e: int, tokens: int, lines: _LineCounter) -> None:
        text = span.text[s:e]
        line_start = line_end = None
        if span.line_start is not None:
            line_start = span.line_start + lines.before(s)
            line_end = line_start + text.count("\n")
            if span.line_end is not None and line_end > span.line_end >= span.line_start:
                line_end = span.line_end  # the parser's line info disagrees with its text
                line_start = min(line_start, line_end)
        self.chunks.append(
            Chunk(
                text=text,
                ordinal=len(self.chunks),
                page=span.page,
                heading_path=span.heading_path,
                line_start=line_start,
                line_end=line_end,
                char_start=span.char_start + s,
                char_end=span.char_start + e,
                kind=span.kind,
                token_count=tokens,
            )
        )
