"""Whole-document answers with fake models: windows within the context, every chunk read,
citations to the right page, progress with an ETA, cancel, @mentions, compare by diff."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.answer.answering import Answer, AnswerToken
from indexer.answer.document_compare import changed_pairs
from indexer.answer.document_notes import Note, dedupe, parse_notes, render
from indexer.answer.whole_document import (
    DocumentAnswerer,
    DocumentProgress,
    DocumentRequest,
    mode_for,
    resolve_names,
    split_mentions,
)
from indexer.errors import UserInputError
from indexer.records import Anchor, SearchHit
from models.generator import GenerationStats, parse_prompt


def hit(n: int, text: str, path: str = "/docs/report.pdf") -> SearchHit:
    start = n * 1000
    return SearchHit(f"c{n}", Anchor(path, page=n, char_start=start, char_end=start + len(text)),
                     text, text[:50], 0.0)


def pages(count: int, path: str = "/docs/report.pdf") -> list[SearchHit]:
    return [hit(n, f"Page {n} says the fact number {n} is called item{n}x. "
                   + " ".join(f"Filler {i} of page {n} says little." for i in range(6)), path)
            for n in range(1, count + 1)]


FIRST_SENTENCE = re.compile(r"(?<=[.!?])\s")


class ScriptedModel:
    """Notes = the first sentence of each numbered passage / note, cited; records prompts."""

    model_id = "scripted"

    def __init__(self, context_size: int = 1024, cancel_after: int | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.context_size = context_size
        self.prompts: list[str] = []
        self.cancel_after = cancel_after
        self.cancel = cancel
        self._stats: GenerationStats | None = None

    @property
    def last_stats(self) -> GenerationStats | None:
        return self._stats

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float,
               cancel: threading.Event | None = None, stop: list[str] | None = None,
               grammar: str | None = None) -> Iterator[str]:
        prompt = "\n".join(m["content"] for m in messages)
        self.prompts.append(prompt)
        assert self.count_tokens(prompt) + max_tokens <= self.context_size
        if self.cancel_after is not None and len(self.prompts) >= self.cancel_after:
            assert self.cancel is not None
            self.cancel.set()
        passages, _ = parse_prompt(messages[-1]["content"])
        lines = [f"- {FIRST_SENTENCE.split(t.strip())[0]} [{n}]"
                 for n, t in sorted(passages.items())]
        self._stats = GenerationStats(self.count_tokens(prompt), 0, 10, 0.0, 0.0, 0.0, "stop")
        yield "\n".join(lines[:6])


def run(answerer: DocumentAnswerer, request: DocumentRequest,
        cancel: threading.Event | None = None) -> tuple[list[object], Answer]:
    items = list(answerer.stream(request, cancel))
    final = items[-1]
    assert isinstance(final, Answer)
    return items, final


def test_summary_reads_every_page_within_the_context_and_cites_pages() -> None:
    doc = pages(30)
    model = ScriptedModel(context_size=2048)  # room for a key point from every page
    answerer = DocumentAnswerer(lambda p: doc, lambda: model, context_size=2048,
                                window_tokens=400, notes_budget=4000, max_points=40)
    items, answer = run(answerer, DocumentRequest(("/docs/report.pdf",)))
    map_prompts = [p for p in model.prompts if "Passages from" in p]
    assert len(map_prompts) > 3  # several windows, not one over-long prompt
    read = " ".join(map_prompts)
    assert all(f"item{n}x" in read for n in range(1, 31))  # every chunk was read
    assert answer.found and "Key points" in answer.text
    for n in (1, 7, 30):  # the point of page n cites page n
        line = next(ln for ln in answer.text.splitlines()
                    if re.search(rf"item{n}x\b", ln) and ln.startswith("- "))
        numbers = [int(x) for x in re.findall(r"\[(\d+)\]", line)]
        assert [answer.citations[k - 1].anchor.page for k in numbers] == [n]
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    progress = [i for i in items if isinstance(i, DocumentProgress)]
    assert progress[0].eta_s is None and progress[-1].eta_s is not None
    assert progress[-1].stage == "writing" and progress[-1].steps >= len(map_prompts)
    assert any(isinstance(i, AnswerToken) for i in items)


def test_notes_over_budget_are_merged_hierarchically_keeping_sources() -> None:
    doc = pages(30)
    model = ScriptedModel(context_size=1024)
    answerer = DocumentAnswerer(lambda p: doc, lambda: model, context_size=1024,
                                window_tokens=400, notes_budget=150, reduce="merge")
    items, answer = run(answerer, DocumentRequest(("/docs/report.pdf",)))
    assert any(isinstance(i, DocumentProgress) and i.stage == "merging" for i in items)
    assert answer.found
    for line in answer.text.splitlines():
        if (m := re.search(r"item(\d+)x", line)) and "[" in line:
            pages_cited = {answer.citations[int(k) - 1].anchor.page
                           for k in re.findall(r"\[(\d+)\]", line)}
            assert int(m.group(1)) in pages_cited


def test_cancel_between_windows_keeps_the_notes_so_far() -> None:
    cancel = threading.Event()
    doc = pages(30)
    model = ScriptedModel(context_size=1024, cancel_after=2, cancel=cancel)
    answerer = DocumentAnswerer(lambda p: doc, lambda: model, context_size=1024,
                                window_tokens=400)
    _, answer = run(answerer, DocumentRequest(("/docs/report.pdf",)), cancel)
    assert answer.stats["cancelled"] is True
    assert len(model.prompts) == 2
    assert "item1x" in answer.text  # the first window's notes are kept


def test_compare_reads_only_the_changed_places_and_cites_both() -> None:
    a = pages(10, "/docs/spec-v1.md")
    b = [SearchHit(h.chunk_id + "b", replace_path(h.anchor, "/docs/spec-v2.md"),
                   h.text.replace("item4x", "item4y"), "", 0.0) for h in a]
    ratio, pairs = changed_pairs(a, b)
    assert ratio > 0.8 and len(pairs) == 1
    model = ScriptedModel(context_size=1024)
    by_path = {"/docs/spec-v1.md": a, "/docs/spec-v2.md": b}
    answerer = DocumentAnswerer(lambda p: by_path[p], lambda: model, context_size=1024)
    _, answer = run(answerer, DocumentRequest(tuple(by_path), "compare"))
    assert len(model.prompts) == 1 and "item4y" in model.prompts[0]
    assert "item1x" not in model.prompts[0]
    assert {c.anchor.path for c in answer.citations} == set(by_path)
    assert "Differences between spec-v1.md and spec-v2.md" in answer.text


def replace_path(anchor: Anchor, path: str) -> Anchor:
    from dataclasses import replace

    return replace(anchor, path=path)


def test_parse_notes_drops_unsupported_and_attributes_unmarked() -> None:
    window = [hit(3, "The budget for 2027 is 4.2 million euros."),
              hit(4, "Alice Moreau leads the migration project.")]
    texts = [h.text for h in window]
    notes = parse_notes("- Alice Moreau leads the migration.\n- The moon is made of cheese [1]\n"
                        "- none", window, texts)
    assert [(n.text, [s.anchor.page for s in n.sources]) for n in notes] == [
        ("Alice Moreau leads the migration.", [4])]


def test_render_numbers_sources_once_in_order_and_dedupe_merges() -> None:
    a, b = hit(1, "x"), hit(2, "y")
    notes = dedupe([Note("The budget is 4.2 million", (b,)), Note("The budget is 4.2 million",
                                                               (a,)), Note("Other point", (a,))])
    text, cited = render([("Key points", notes)], [("Overview here", (a,))])
    assert text.splitlines()[0] == "Overview here. [1]"
    assert "- The budget is 4.2 million. [2][1]" in text and [h.chunk_id for h in cited] == [
        "c1", "c2"]


def test_mentions_and_modes() -> None:
    names, rest = split_mentions('Summarize @report.pdf and @"my notes.md", please?')
    assert names == ["report.pdf", "my notes.md"] and rest.startswith("Summarize")
    assert split_mentions("mail me at a@b.com")[0] == []
    indexed = ["/d/report.pdf", "/d/x/my notes.md", "/d/a/dup.txt", "/d/b/dup.txt"]
    assert resolve_names(["REPORT.PDF", "x/my notes.md", "dup.txt", "nope"], indexed) == (
        ["/d/report.pdf", "/d/x/my notes.md"], ["dup.txt", "nope"])
    assert mode_for("", 1) == ("summarize", "")
    assert mode_for("what changed?", 2)[0] == "compare"
    assert mode_for("list the action items", 1) == ("list", "action items")
    assert mode_for("Who leads the project?", 1) == ("ask", "Who leads the project?")


def test_knowledge_base_routes_mentions_to_whole_documents(indexed_kb, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.md").write_text("# Plan\n\nThe valve must be checked weekly by Dana.\n\n"
                                   "# Budget\n\nThe budget is twelve thousand euros.\n",
                                   encoding="utf-8")
    kb = indexed_kb(docs)
    items = list(kb.stream("Who checks the valve weekly? @notes.md"))
    answer = items[-1]
    assert isinstance(answer, Answer) and "notes.md" in answer.question
    assert any(isinstance(i, DocumentProgress) for i in items)
    with pytest.raises(UserInputError):
        list(kb.stream_documents(["missing.pdf"]))
    summary = list(kb.stream_documents([str(docs / "notes.md")]))[-1]
    assert isinstance(summary, Answer) and summary.stats["mode"] == "summarize"


def test_compare_of_identical_files_says_so_without_the_model() -> None:
    a = pages(3, "/docs/a.md")
    model = ScriptedModel()
    answerer = DocumentAnswerer(lambda p: a, lambda: model, context_size=1024)
    _, answer = run(answerer, DocumentRequest(("/docs/a.md", "/docs/b.md"), "compare"))
    assert answer.text.startswith("No differences") and model.prompts == []


def test_repeated_boilerplate_is_read_once() -> None:
    from indexer.answer.running_text import read_once

    doc = [hit(n, f"Confidential draft. Page {n} point is item{n}x.") for n in range(1, 4)]
    kept = read_once(doc)
    assert [h.text for h in kept] == ["Confidential draft. Page 1 point is item1x.",
                                      "Page 2 point is item2x.", "Page 3 point is item3x."]
    assert [h.anchor.page for h in kept] == [1, 2, 3]


def test_overview_sentences_that_copy_a_key_point_are_left_out() -> None:
    doc = pages(3)
    model = ScriptedModel(context_size=1024)  # its "overview" repeats the notes
    answerer = DocumentAnswerer(lambda p: doc, lambda: model, context_size=1024)
    _, answer = run(answerer, DocumentRequest(("/docs/report.pdf",)))
    assert answer.text.startswith("**Key points**")
    assert answer.text.count("item2x") == 1


def test_a_window_of_short_pages_holds_at_most_window_passages() -> None:
    # Short pages (a line each) all fit one window's tokens; a small model writes notes on a
    # window's first few passages and stops, so a window holds at most `window_passages`.
    doc = [hit(n, f"Page {n} fact is item{n}x.") for n in range(1, 11)]
    model = ScriptedModel()
    answerer = DocumentAnswerer(lambda p: doc, lambda: model, context_size=1024,
                                window_passages=4)
    _, answer = run(answerer, DocumentRequest(("/docs/report.pdf",)))
    assert answer.stats["chunks_windows"] == 3
    assert all(f"item{n}x" in answer.text for n in range(1, 11))
    first = model.prompts[0]
    assert "Write at most 4 notes" in first


def test_a_line_that_only_echoes_a_prompt_label_is_not_a_note() -> None:
    from indexer.answer.document_notes import note_lines

    reply = ("- (from board-minutes.pdf p. 1, board-minutes.pdf p. 27). [1][4][5]\n"
             "- (source: notes.md:3)\n"
             "- From 1 July the fee is 85 euros [2]\n"
             "- (from the board) the fee rises to 85 euros [2]")
    assert note_lines(reply) == ["From 1 July the fee is 85 euros [2]",
                                 "(from the board) the fee rises to 85 euros [2]"]


def test_notes_over_budget_keep_the_distinctive_ones_as_written_without_a_model_call() -> None:
    routine = [f"Page {n}: the team checked the weekly rota as usual." for n in range(1, 21)]
    texts = routine[:]
    texts[6] = "Page 7: the council signed a lease for the Lindholm warehouse."
    texts[14] = "Page 15: membership fees rise to 85 euros in July."
    doc = [hit(n, t) for n, t in enumerate(texts, 1)]
    model = ScriptedModel(context_size=1024)
    answerer = DocumentAnswerer(lambda p: doc, lambda: model, context_size=1024,
                                window_tokens=400, notes_budget=120)
    items, answer = run(answerer, DocumentRequest(("/docs/report.pdf",)))
    assert not any(isinstance(i, DocumentProgress) and i.stage == "merging" for i in items)
    assert not any(p.startswith("Notes:") and "Merge" in p for p in model.prompts)
    for words, page in (("Lindholm warehouse", 7), ("85 euros", 15)):
        line = next(ln for ln in answer.text.splitlines() if words in ln and ln.startswith("- "))
        assert [answer.citations[int(k) - 1].anchor.page
                for k in re.findall(r"\[(\d+)\]", line)] == [page]
    assert answer.text.count("weekly rota") < 20  # cut down to the budget


def test_select_notes_fits_the_budget_and_keeps_document_order() -> None:
    from indexer.answer.document_notes import select_notes

    notes = [Note(f"Routine item {n} was checked by the team.", (hit(n, "x"),))
             for n in range(1, 11)]
    notes.insert(4, Note("Auditor Osei found two unpaid invoices.", (hit(99, "y"),)))
    count = lambda t: len(t.split())
    kept = select_notes(notes, budget=40, count_tokens=count)
    assert sum(count(n.text) + 12 for n in kept) <= 40
    assert notes[4] in kept
    assert kept == [n for n in notes if n in kept]  # document order
    assert select_notes(notes[:2], budget=1000, count_tokens=count) == notes[:2]


def test_a_skipped_distinctive_sentence_is_gleaned_and_long_notes_split() -> None:
    from indexer.answer.document_notes import Rarity, glean, one_point_each

    window = [hit(1, "Staff checked the rota. The council signed a lease for the Lindholm "
                     "warehouse.\nStaff checked the gates."),
              hit(2, "Staff checked the rota again. Auditor Osei found two unpaid invoices."),
              hit(3, "Staff checked the gates on Monday.")]
    rarity = Rarity(["Staff checked the rota.", "Staff checked the gates.",
                     "The council signed a lease for the Lindholm warehouse.",
                     "Staff checked the rota again.", "Auditor Osei found two unpaid invoices.",
                     "Staff checked the gates on Monday."])
    # The model noted routine lines of pages 1 and 3 and nothing of page 2.
    made = [Note("Staff checked the rota.", (window[0],)),
            Note("Staff checked the gates on Monday.", (window[2],))]
    extra = glean(window, made, rarity)
    assert [(n.text, n.sources) for n in extra] == [
        ("The council signed a lease for the Lindholm warehouse.", (window[0],)),
        ("Auditor Osei found two unpaid invoices.", (window[1],))]
    # A passage whose most distinctive sentence is already a note gets nothing more.
    assert glean(window, [*made, *extra], rarity) == []
    split = one_point_each([Note("Dr. Ingrid Falkenrath was appointed. Staff checked the rota.",
                                 (window[0],))])
    assert [n.text for n in split] == ["Dr. Ingrid Falkenrath was appointed.",
                                       "Staff checked the rota."]
    assert all(n.sources == (window[0],) for n in split)


def test_key_points_are_cut_to_what_the_final_prompt_has_room_for() -> None:
    # A small context and a generous notes budget: the final prompt still fits (the
    # ScriptedModel asserts every prompt + reply fits its context).
    doc = pages(30)
    model = ScriptedModel(context_size=700)
    answerer = DocumentAnswerer(lambda p: doc, lambda: model, context_size=700,
                                window_tokens=300, notes_budget=4000, max_points=40)
    _, answer = run(answerer, DocumentRequest(("/docs/report.pdf",)))
    assert answer.found and 0 < answer.text.count("\n- ") < 29


def test_words_the_document_never_uses_add_no_rarity() -> None:
    from indexer.answer.document_notes import Rarity

    doc = ["Leila checked the list for week 6.", "Tomas checked the log for week 9.",
           "Auditor Osei found two unpaid invoices."]
    rarity = Rarity(doc)
    padded = "Leila checked the list, which is crucial for organised and accurate premises."
    assert rarity.score(padded) < rarity.score("Auditor Osei found two unpaid invoices.")
    assert rarity.score(padded) < rarity.score("Leila checked the list for week 6.")


def test_each_key_point_cites_the_sentence_it_copies() -> None:
    # Citations carry the spans of the cited sentences, so the viewer marks the sentence a
    # key point comes from rather than the first words of its page (a running header).
    doc = pages(3)
    model = ScriptedModel(context_size=1024)
    answerer = DocumentAnswerer(lambda p: doc, lambda: model, context_size=1024)
    _, answer = run(answerer, DocumentRequest(("/docs/report.pdf",)))
    assert answer.citations
    for citation in answer.citations:
        assert citation.spans, citation
        assert any(f"item{citation.anchor.page}x" in t for t in citation.cited_texts)
