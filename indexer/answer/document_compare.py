"""Comparing two versions of a document: diff first, then let the model say what changed.

Two versions of a spec share most of their text. Mapping both whole and asking a small model
for "the differences" between two piles of notes loses exactly the small changes that matter
(a limit from 30 to 45 s): the notes of both say "the timeout is …" and the model sees no
difference. So the two files' sentences are aligned (difflib, in document order) and only the
changed places are read: each change is an old/new pair of passages, cited at their pages /
sections, and the model states each change in a line citing both. A change the model did not
mention is still listed, quoted from both files, so no difference is silently dropped.

Documents that are not versions of each other (little shared text, or too many changes) return
None and are compared by the general map-reduce (`whole_document`).
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from indexer.answer.citations import split_sentences
from indexer.answer.document_notes import (
    Note,
    dedupe,
    fit_groups,
    format_numbered,
    parse_notes,
    passage_items,
    render,
)
from indexer.records import SearchHit

if TYPE_CHECKING:
    from indexer.answer.whole_document import (
        DocumentAnswerer,
        DocumentProgress,
        DocumentRequest,
        _Clock,
    )
    from models.generator import Generator as ChatModel

MIN_SHARED = 0.4  # below this share of aligned sentences, the files are not two versions
MAX_CHANGES = 60


def _norm(sentence: str) -> str:
    return re.sub(r"\W+", " ", sentence.lower()).strip()


def sentences_of(passages: Sequence[SearchHit]) -> list[tuple[str, str, SearchHit]]:
    """(normalised, sentence, passage) in document order, each sentence once (chunks overlap)."""
    out: list[tuple[str, str, SearchHit]] = []
    seen: set[str] = set()
    for passage in passages:
        for sentence in split_sentences(passage.text):
            key = _norm(sentence)
            if key and key not in seen:
                seen.add(key)
                out.append((key, sentence, passage))
    return out


def changed_pairs(a: Sequence[SearchHit], b: Sequence[SearchHit]
                  ) -> tuple[float, list[tuple[SearchHit | None, SearchHit | None]]]:
    """How much of the two texts aligns (0..1) and the changes as (old, new) passages whose
    text is only the changed sentences (None for a side that has nothing: added / removed)."""
    sa, sb = sentences_of(a), sentences_of(b)
    matcher = difflib.SequenceMatcher(None, [s[0] for s in sa], [s[0] for s in sb],
                                      autojunk=False)
    pairs: list[tuple[SearchHit | None, SearchHit | None]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        pairs.append((_side(sa[i1:i2]), _side(sb[j1:j2])))
    return matcher.ratio(), pairs


def _side(part: Sequence[tuple[str, str, SearchHit]]) -> SearchHit | None:
    if not part:
        return None
    hit = part[0][2]  # cited at the passage where the change starts
    return replace(hit, text=" ".join(s for _, s, _ in part))


def compare_versions(
    answerer: DocumentAnswerer,
    model: ChatModel,
    request: DocumentRequest,
    plan: Sequence[tuple[str, Sequence[Sequence[SearchHit]]]],
    clock: _Clock,
    cancel: threading.Event | None,
) -> Generator[DocumentProgress, None, tuple[str, list[SearchHit]] | None]:
    """The differences of two versions as cited notes (text, cited hits), or None."""
    (path_a, windows_a), (path_b, windows_b) = plan
    ratio, pairs = changed_pairs([p for w in windows_a for p in w],
                                 [p for w in windows_b for p in w])
    clock.stats["shared_text"] = round(ratio, 3)
    clock.stats["changes"] = len(pairs)
    if ratio < MIN_SHARED or len(pairs) > MAX_CHANGES:
        return None
    if not pairs:
        return "No differences: the two files have the same text.", []
    name_a, name_b = os.path.basename(path_a), os.path.basename(path_b)
    count = model.count_tokens
    task = _task(name_a, name_b)
    budget = answerer._input_budget(model, answerer.note_tokens, task)
    texts = [" ".join(h.text for h in pair if h is not None) for pair in pairs]
    groups = fit_groups(texts, min(budget, answerer.window_tokens), count, overhead=30)
    clock.steps = len(groups)
    notes: list[Note] = []
    for group in groups:
        yield clock.progress("comparing", f"{len(group)} changed places")
        hits: list[SearchHit] = []
        for i in group:
            hits.extend(h for h in pairs[i] if h is not None)
        items, shown = passage_items(hits)
        user = (f"Changed passages of {name_a} (old) and {name_b} (new):\n\n"
                f"{format_numbered(items)}\n\n{task}")
        reply = answerer.complete(model, user, answerer.note_tokens, cancel, clock)
        made = parse_notes(reply, hits, shown)
        notes.extend(made)
        covered = {h.chunk_id + h.text for n in made for h in n.sources}
        for i in group:  # a change the model left out is still listed, quoted
            old, new = pairs[i]
            if any(h is not None and h.chunk_id + h.text in covered for h in (old, new)):
                continue
            notes.append(_quoted(old, new, name_a, name_b))
            clock.stats["quoted_changes"] = int(clock.stats.get("quoted_changes") or 0) + 1
    return render([(f"Differences between {name_a} and {name_b}", dedupe(notes))])


def _task(name_a: str, name_b: str) -> str:
    return (f"Question: What changed from {name_a} to {name_b}? Write one note per change "
            f"saying what {name_a} says and what {name_b} says, citing both passages like "
            "[1][2].")


def _quoted(old: SearchHit | None, new: SearchHit | None, name_a: str, name_b: str) -> Note:
    def cut(text: str) -> str:
        return text if len(text) <= 200 else text[:197] + "…"

    if old is not None and new is not None:
        text = f"{name_a} says \u201c{cut(old.text)}\u201d; {name_b} says \u201c{cut(new.text)}\u201d"
    elif new is not None:
        text = f"Only {name_b} says \u201c{cut(new.text)}\u201d"
    else:
        assert old is not None
        text = f"Only {name_a} says \u201c{cut(old.text)}\u201d"
    return Note(text, tuple(h for h in (old, new) if h is not None))
