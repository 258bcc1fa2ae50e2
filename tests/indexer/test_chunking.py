"""chunk_document: budgets, boundaries, overlap, exact anchors, cost, and a property test.

Most tests count tokens as whitespace-separated words (deterministic, easy to reason about); one
test uses the real MiniLM tokenizer shipped in models/assets.
"""

from __future__ import annotations

import base64
import itertools
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.ingest.chunking import chunk_document
from indexer.records import Chunk, ParsedDocument, Section

WORDS = [
    *("river", "stone", "cairn", "north", "valley", "ridge", "summit", "trail", "marker"),
    *("granite", "lichen", "moss", "cloud", "rain", "wind", "shelter", "path", "climb"),
    *("descent", "map", "compass"),
]


def words(text: str) -> int:
    return len(text.split())


class CallCounter:
    """A word counter that remembers how often it was asked (a tokenizer call is costly)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return len(text.split())


def sentence(rng: random.Random, n: int | None = None) -> str:
    n = n if n is not None else rng.randint(4, 18)
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def prose(rng: random.Random, paragraphs: int, sentences: tuple[int, int] = (1, 6)) -> str:
    return "\n\n".join(
        " ".join(sentence(rng) for _ in range(rng.randint(*sentences))) for _ in range(paragraphs)
    )


def plain_doc(source: str, **kw: object) -> ParsedDocument:
    """What a plain-text parser produces: the whole file as one section."""
    sec = Section(source, line_start=1, line_end=source.count("\n") + 1, **kw)  # type: ignore[arg-type]
    return ParsedDocument((sec,), parser="text")


def assert_exact(source: str, chunks: list[Chunk]) -> None:
    lines = source.split("\n")
    for c in chunks:
        assert source[c.char_start : c.char_end] == c.text
        if c.line_start is not None:
            assert c.line_start == source.count("\n", 0, c.char_start) + 1
            assert c.line_end == c.line_start + c.text.count("\n")
            assert c.text in "\n".join(lines[c.line_start - 1 : c.line_end])


def assert_ordinals(chunks: list[Chunk]) -> None:
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


# --------------------------------------------------------------------------- basics
def test_small_document_is_one_chunk() -> None:
    source = "Cairns mark the trail.\nFollow them north.\n"
    chunks = chunk_document(plain_doc(source), count_tokens=words)
    assert len(chunks) == 1
    c = chunks[0]
    assert c.text == "Cairns mark the trail.\nFollow them north."
    assert (c.char_start, c.char_end, c.line_start, c.line_end) == (0, len(source) - 1, 1, 2)
    assert c.token_count == words(c.embed_text)


def test_rejects_a_tiny_budget() -> None:
    with pytest.raises(ValueError):
        chunk_document(plain_doc("x"), count_tokens=words, max_tokens=4)


def test_blank_edges_are_stripped_with_exact_offsets() -> None:
    source = "# T\n\n\n   Hello world.   \n\n\n"
    sec = Section(source[4:], heading_path=("T",), line_start=2, line_end=7, char_start=4)
    (c,) = chunk_document(ParsedDocument((sec,), parser="md"), count_tokens=words)
    assert c.text == "Hello world."
    assert source[c.char_start : c.char_end] == c.text
    assert c.line_start == c.line_end == 4


def test_code_keeps_the_indentation_of_its_first_line() -> None:
    source = "\n\n    return value\n\n"
    sec = Section(source, kind="code", line_start=1, line_end=5)
    (c,) = chunk_document(ParsedDocument((sec,), parser="code"), count_tokens=words)
    assert c.text == "    return value"
    assert source[c.char_start : c.char_end] == c.text
    assert c.line_start == 3


def test_whitespace_only_sections_produce_nothing() -> None:
    doc = ParsedDocument((Section("  \n\n "), Section("")), parser="t")
    assert chunk_document(doc, count_tokens=words) == []


# --------------------------------------------------------------------------- anchors / merging
def _md_sections(source: str, blocks: list[tuple[str, tuple[str, ...], str]]) -> list[Section]:
    """Sections for `blocks` (text, heading path, kind) found in order inside `source`."""
    out, pos = [], 0
    for text, heading, kind in blocks:
        start = source.index(text, pos)
        pos = start + len(text)
        line = source.count("\n", 0, start) + 1
        out.append(
            Section(
                text,
                heading_path=heading,
                line_start=line,
                line_end=line + text.count("\n"),
                char_start=start,
                kind=kind,
            )  # type: ignore[arg-type]
        )
    return out


def test_consecutive_small_sections_with_the_same_anchor_merge() -> None:
    source = "# Intro\n\nFirst paragraph here.\n\nSecond one.\n- a list item\n\nThird.\n"
    secs = _md_sections(
        source,
        [
            ("First paragraph here.", ("Intro",), "text"),
            ("Second one.\n- a list item", ("Intro",), "text"),
            ("Third.", ("Intro",), "text"),
        ],
    )
    chunks = chunk_document(ParsedDocument(tuple(secs), parser="md"), count_tokens=words)
    assert [c.text for c in chunks] == [
        "First paragraph here.\n\nSecond one.\n- a list item\n\nThird."
    ]
    assert_exact(source, chunks)
    assert (chunks[0].line_start, chunks[0].line_end) == (3, 8)


def test_anchor_changes_are_never_crossed() -> None:
    source = "# A\n\nalpha\n\n## B\n\nbeta\n\n```\ncode()\n```\n\ngamma\n"
    secs = _md_sections(
        source,
        [
            ("alpha", ("A",), "text"),
            ("beta", ("A", "B"), "text"),
            ("code()", ("A", "B"), "code"),
            ("gamma", ("A", "B"), "text"),
        ],
    )
    paged = Section("delta", page=2, char_start=len(source) + 1)
    doc = ParsedDocument((*secs, paged), parser="md")
    chunks = chunk_document(doc, count_tokens=words)
    assert [(c.text, c.heading_path, c.kind, c.page) for c in chunks] == [
        ("alpha", ("A",), "text", None),
        ("beta", ("A", "B"), "text", None),
        ("code()", ("A", "B"), "code", None),
        ("gamma", ("A", "B"), "text", None),
        ("delta", (), "text", 2),
    ]
    assert_ordinals(chunks)


def test_no_merge_when_the_gap_holds_text() -> None:
    """Two sections under equal heading paths with a heading line between them."""
    source = "## Notes\n\none\n\n## Notes\n\ntwo\n"
    secs = _md_sections(source, [("one", ("Notes",), "text"), ("two", ("Notes",), "text")])
    chunks = chunk_document(ParsedDocument(tuple(secs), parser="md"), count_tokens=words)
    assert [c.text for c in chunks] == ["one", "two"]
    assert_exact(source, chunks)


def test_sections_without_lines_merge_across_one_paragraph_break() -> None:
    source = "one\n\ntwo\n\n\n\nthree"
    secs = [
        Section("one", char_start=0),
        Section("two", char_start=5),
        Section("three", char_start=source.index("three")),
    ]
    chunks = chunk_document(ParsedDocument(tuple(secs), parser="docx"), count_tokens=words)
    assert [c.text for c in chunks] == ["one\n\ntwo", "three"]
    assert_exact(source, chunks)


# --------------------------------------------------------------------------- budgets
def test_long_plain_text_has_exact_offsets_and_lines() -> None:
    source = prose(random.Random(1), 120)
    chunks = chunk_document(plain_doc(source), count_tokens=words, max_tokens=80)
    assert len(chunks) > 10
    assert_exact(source, chunks)
    assert_ordinals(chunks)
    assert all(words(c.embed_text) <= 80 for c in chunks)
    assert all(c.token_count == words(c.embed_text) for c in chunks)


def test_budget_includes_the_heading_prefix() -> None:
    heading = ("Chapter one of a very long manual", "Installing on every platform")
    source = prose(random.Random(2), 30)
    doc = ParsedDocument((Section(source, heading_path=heading),), parser="md")
    chunks = chunk_document(doc, count_tokens=words, max_tokens=60)
    prefix = words(" > ".join(heading))
    assert all(words(c.embed_text) <= 60 for c in chunks)
    assert all(words(c.text) <= 60 - prefix for c in chunks)
    assert max(words(c.embed_text) for c in chunks) > 40  # and still reasonably full


def test_a_huge_heading_still_leaves_room_for_text() -> None:
    heading = (" ".join(["word"] * 300),)
    doc = ParsedDocument((Section(prose(random.Random(3), 5), heading_path=heading),), parser="md")
    chunks = chunk_document(doc, count_tokens=words, max_tokens=100)
    assert chunks and all(0 < words(c.text) <= 25 for c in chunks)


# --------------------------------------------------------------------------- boundaries
def test_splits_at_paragraphs_when_it_can() -> None:
    rng = random.Random(4)
    # wrapped paragraphs: a line break inside a paragraph is a worse place to cut than a blank line
    source = "\n\n".join(
        "\n".join(sentence(rng, 9) for _ in range(rng.randint(3, 5))) for _ in range(20)
    )
    chunks = chunk_document(plain_doc(source), count_tokens=words, max_tokens=100, overlap_tokens=0)
    assert len(chunks) > 5
    for c in chunks:
        assert c.char_start == 0 or source[c.char_start - 2 : c.char_start] == "\n\n"
        assert c.char_end == len(source) or source[c.char_end : c.char_end + 2] == "\n\n"


def test_splits_at_lines_without_paragraphs() -> None:
    rng = random.Random(5)
    source = "\n".join(" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(100))
    chunks = chunk_document(plain_doc(source), count_tokens=words, max_tokens=64, overlap_tokens=0)
    assert len(chunks) > 10
    for c in chunks:
        assert c.char_end == len(source) or source[c.char_end] == "\n"
    assert_exact(source, chunks)


def test_splits_at_sentences_within_one_line() -> None:
    rng = random.Random(6)
    source = " ".join(sentence(rng, 8) for _ in range(100))
    chunks = chunk_document(plain_doc(source), count_tokens=words, max_tokens=64, overlap_tokens=0)
    assert len(chunks) > 10
    assert all(c.text.endswith(".") for c in chunks)


def test_never_cuts_a_word_that_fits() -> None:
    rng = random.Random(7)
    source = " ".join(rng.choice(WORDS) for _ in range(3000))
    chunks = chunk_document(plain_doc(source), count_tokens=words, max_tokens=64, overlap_tokens=0)
    for c in chunks:
        assert c.char_end == len(source) or source[c.char_end] == " "
        assert c.char_start == 0 or source[c.char_start - 1] == " "
        assert all(w in WORDS for w in c.text.split())


def test_a_long_word_that_fits_is_kept_whole() -> None:
    rng = random.Random(14)
    url = "https://example.org/" + "a1b2c3d4" * 29  # a 252-character "word", 1 token here
    source = (
        " ".join(rng.choice(WORDS) for _ in range(15))
        + f" {url} "
        + " ".join(rng.choice(WORDS) for _ in range(40))
    )
    chunks = chunk_document(plain_doc(source), count_tokens=words, max_tokens=32, overlap_tokens=0)
    assert any(url in c.text for c in chunks)
    for c in chunks:
        assert c.char_end == len(source) or source[c.char_end] == " "
    assert_exact(source, chunks)


def test_megabyte_line_is_cut_into_bounded_chunks_cheaply() -> None:
    source = base64.b64encode(random.Random(8).randbytes(768 * 1024)).decode()  # 1 MiB, no spaces
    counter = CallCounter()
    chunks = chunk_document(plain_doc(source), count_tokens=counter, max_tokens=200)
    assert len(chunks) > 100
    assert all(len(c.text) <= 200 * 10 for c in chunks)
    assert "".join(c.text for c in chunks) == source  # no overlap without line/sentence breaks
    assert_exact(source, chunks)
    assert counter.calls <= 2 * len(chunks) + 2


def test_code_splits_at_top_level_definitions() -> None:
    rng = random.Random(9)
    blocks = []
    for i in range(30):
        body = "\n".join(
            "    " + " ".join(rng.choice(WORDS) for _ in range(4)) for _ in range(rng.randint(3, 8))
        )
        blocks.append(f"def function_{i}(arg):\n{body}\n    return arg")
    source = "import os\n\n\n" + "\n\n\n".join(blocks) + "\n"
    doc = ParsedDocument((Section(source, kind="code", line_start=1),), parser="code")
    chunks = chunk_document(doc, count_tokens=words, max_tokens=80, overlap_tokens=0)
    assert len(chunks) > 5
    for c in chunks[1:]:
        assert c.text.startswith("def function_")
    assert_exact(source, chunks)


def test_long_code_block_splits_at_lines_keeping_indentation() -> None:
    body = "\n".join(f"    value_{i} = compute({i}, other)" for i in range(200))
    source = f"def big():\n{body}\n"
    doc = ParsedDocument((Section(source, kind="code", line_start=1),), parser="code")
    chunks = chunk_document(doc, count_tokens=words, max_tokens=60, overlap_tokens=0)
    assert len(chunks) > 5
    for c in chunks[1:]:
        assert c.text.startswith("    value_")
        assert source[c.char_start - 1] == "\n"
    assert_exact(source, chunks)


# --------------------------------------------------------------------------- overlap
def test_consecutive_chunks_overlap_at_line_or_sentence_starts() -> None:
    rng = random.Random(10)
    source = "\n".join(sentence(rng, 6) for _ in range(200))
    chunks = chunk_document(plain_doc(source), count_tokens=words, max_tokens=60, overlap_tokens=12)
    assert len(chunks) > 10
    for prev, nxt in itertools.pairwise(chunks):
        shared = prev.char_end - nxt.char_start
        assert shared > 0, "chunks of one section should overlap"
        assert words(source[nxt.char_start : prev.char_end]) <= 2 * 12
        assert shared <= (prev.char_end - prev.char_start) // 2 + 1
        assert source[nxt.char_start - 1] == "\n" or source[nxt.char_start - 2] == "."
    assert_exact(source, chunks)


def test_no_overlap_when_disabled_or_across_sections() -> None:
    rng = random.Random(11)
    source = "\n".join(sentence(rng, 6) for _ in range(100))
    chunks = chunk_document(plain_doc(source), count_tokens=words, max_tokens=60, overlap_tokens=0)
    assert all(a.char_end <= b.char_start for a, b in itertools.pairwise(chunks))
    doc = ParsedDocument((Section("one two", page=1), Section("three four", page=2)), parser="pdf")
    a, b = chunk_document(doc, count_tokens=words, overlap_tokens=24)
    assert (a.text, b.text) == ("one two", "three four")


# --------------------------------------------------------------------------- cost
def test_token_counting_is_linear_in_the_number_of_chunks() -> None:
    rng = random.Random(12)
    sections = [Section(prose(rng, 1500), heading_path=("Big",), char_start=0)]
    offset = len(sections[0].text) + 2
    for i in range(600):  # many small sections under a handful of headings
        text = sentence(rng)
        sections.append(Section(text, heading_path=(f"H{i // 100}",), char_start=offset))
        offset += len(text) + 2
    counter = CallCounter()
    chunks = chunk_document(ParsedDocument(tuple(sections), parser="md"), count_tokens=counter)
    headings = 1 + 6
    assert len(chunks) > 100
    assert counter.calls <= 2 * len(chunks) + headings
    assert all(words(c.embed_text) <= 200 for c in chunks)


# --------------------------------------------------------------------------- real tokenizer
TOKENIZER = (
    Path(__file__).resolve().parents[2]
    / "models"
    / "assets"
    / "all-minilm-l6-v2"
    / "tokenizer.json"
)


@pytest.mark.skipif(not TOKENIZER.exists(), reason="MiniLM tokenizer asset not present")
def test_real_tokenizer_budgets_hold() -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.no_truncation()
    tok.no_padding()

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    rng = random.Random(13)
    code = Path(__file__).read_text(encoding="utf-8")
    noise = base64.b64encode(rng.randbytes(30_000)).decode()
    docs = [
        (prose(rng, 60), Section(prose(rng, 60), heading_path=("Guide", "Setup"))),
        (code, Section(code, kind="code", line_start=1)),
        (noise, Section(noise)),
    ]
    for _, sec in docs:
        chunks = chunk_document(
            ParsedDocument((sec,), parser="t"), count_tokens=count, max_tokens=200
        )
        assert len(chunks) > 3
        assert all(count(c.embed_text) <= 200 for c in chunks)
        assert all(c.token_count == count(c.embed_text) for c in chunks)
        assert sum(c.token_count for c in chunks) / len(chunks) > 100  # not needlessly small
        for c in chunks:
            assert sec.text[c.char_start : c.char_end] == c.text


# --------------------------------------------------------------------------- property
_word = st.text(alphabet=st.characters(categories=("Ll", "Lu", "Nd")), min_size=1, max_size=12)
_piece = st.one_of(
    _word,
    _word,
    _word,
    st.sampled_from([" ", "  ", "\n", "\n\n", ". ", "! ", "\t", "\n    ", " \n \n"]),
    st.text(alphabet="abcdef0123456789+/", min_size=40, max_size=400),
)
_section = st.tuples(
    st.lists(_piece, min_size=1, max_size=150).map("".join),
    st.sampled_from([(), ("A",), ("A", "B c")]),
    st.sampled_from(["text", "code"]),
    st.sampled_from([None, 1, 2]),
    st.sampled_from(["\n\n", "\n", "", "\n\n\n", " x "]),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(_section, min_size=1, max_size=6),
    max_tokens=st.integers(16, 90),
    overlap=st.integers(0, 12),
)
def test_chunks_cover_sections_within_budget_with_exact_anchors(
    specs: list[tuple[str, tuple[str, ...], str, int | None, str]], max_tokens: int, overlap: int
) -> None:
    source = ""
    sections = []
    for i, (text, heading, kind, page, sep) in enumerate(specs):
        if i:
            source += sep
        line = source.count("\n") + 1
        sections.append(
            Section(
                text,
                page=page,
                heading_path=heading,
                line_start=line,
                line_end=line + text.count("\n"),
                char_start=len(source),
                kind=kind,
            )
        )  # type: ignore[arg-type]
        source += text
    chunks = chunk_document(
        ParsedDocument(tuple(sections), parser="t"),
        count_tokens=words,
        max_tokens=max_tokens,
        overlap_tokens=overlap,
    )

    assert_ordinals(chunks)
    assert_exact(source, chunks)
    covered = bytearray(len(source))
    for c in chunks:
        assert words(c.embed_text) <= max_tokens
        assert c.text.strip() and c.text == c.text.rstrip()
        lead = c.text[: len(c.text) - len(c.text.lstrip())]
        assert (c.kind == "code" and "\n" not in lead) or not lead
        assert len(c.text) <= max_tokens * 13
        # one anchor: every section the chunk touches has the chunk's page / headings / kind
        for s in sections:
            if s.char_start < c.char_end and c.char_start < s.char_start + len(s.text):
                assert (s.page, s.heading_path, s.kind) == (c.page, c.heading_path, c.kind)
        covered[c.char_start : c.char_end] = b"\x01" * (c.char_end - c.char_start)
    assert [c.char_start for c in chunks] == sorted(c.char_start for c in chunks)
    for s in sections:
        for m in re.finditer(r"\S", s.text):
            assert covered[s.char_start + m.start()], f"char {m.start()} of a section is lost"
