"""Citation markers and grounding: pure functions, no models, no I/O.

The model is asked to cite passages as `[n]`. `parse_citations` keeps only markers that point at a
passage that was actually given (a hallucinated `[9]` is removed from the text, never shown), and
`check_grounding` verifies each answer sentence against the passages it cites, so an answer that
is not supported by the documents can be flagged or replaced by the honest "couldn't find" reply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

MARKER_RE = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_CODE_SPAN_RE = re.compile(r"(`[^`\n]*`)")  # `[1][2] == (1,2)` is code, not two citations


def sub_markers(repl: str | Callable[[re.Match[str]], str], text: str) -> str:
    """`MARKER_RE.sub` outside inline code spans."""
    parts = _CODE_SPAN_RE.split(text)
    return "".join(p if i % 2 else MARKER_RE.sub(repl, p) for i, p in enumerate(parts))


def find_markers(text: str) -> list[str]:
    """The marker groups ("1", "2, 3") outside inline code spans."""
    return MARKER_RE.findall(_CODE_SPAN_RE.sub(" ", text))
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(\[])|\n{1,}")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_STOP = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "may", "might", "more", "must", "no", "not", "of", "on", "or", "other", "our", "should", "so", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "under", "use", "used", "using", "was", "we", "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would", "you", "your", "also", "only", "just", "any", "each", "both", "either", "one", "all", "some", "very", "yes"]
)

NOT_FOUND_TEXT = "I couldn't find this in your documents."
_NEG = r"(?:could(?:n['’]?t| not)|can(?:['’]?t|not)|(?:am|was|were) unable to|do(?:n['’]?t| not))"
_SOURCES = r"(?:passages?|documents?|context|sources?|texts?|excerpts?|materials?)"
# A refusal talks about the documents or about the assistant's own search, not about the
# subject: "the passages do not mention X" and "I couldn't find X" are refusals, while
# "lambdas cannot contain statements" and "a frozenset does not have add()" are answers.
_REFUSAL_RE = re.compile(
    rf"^\s*i(?:['’]m| am) (?:sorry|afraid)\b"
    rf"|\b(?:i|we) {_NEG}\s+(?:find|locate|see|answer|determine|tell|know|say)\b"
    rf"|\b{_SOURCES}\b[^.]{{0,60}}?\b(?:do(?:es)?(?:n['’]?t| not)|never|fail to)\s+"
    r"(?:contain|mention|provide|include|say|specify|state|cover|answer|discuss|address|"
    r"describe|explain|give|talk about)\b"
    rf"|\bnot (?:mentioned|found|covered|provided|specified|stated|addressed|discussed|"
    rf"described|included|given) (?:in|by) (?:the |your |my |any |these |those )?"
    rf"(?:provided |given |supplied )?{_SOURCES}"
    rf"|\bno (?:information|mention|details?|reference)\b[^.]{{0,80}}?\b(?:{_SOURCES}|provided)\b"
    rf"|\bnone of the {_SOURCES}\b[^.]{{0,40}}?\b(?:contains?|mentions?|answers?|says?|"
    r"provides?|includes?|address(?:es)?|specif(?:y|ies)|covers?)\b"
    r"|^\s*there is no (?:information|mention)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ParsedCitations:
    """The answer with invalid markers removed and the valid passage numbers in first-use order."""

    text: str
    cited: tuple[int, ...]
    dropped: tuple[int, ...]


def parse_citations(text: str, passage_count: int) -> ParsedCitations:
    """Keep `[n]` markers with 1 ≤ n ≤ passage_count; drop the others from the text."""
    cited: list[int] = []
    dropped: list[int] = []

    def repl(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,;]\s*", match.group(1))]
        keep = [n for n in numbers if 1 <= n <= passage_count]
        dropped.extend(n for n in numbers if n not in keep)
        for n in keep:
            if n not in cited:
                cited.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(keep))

    cleaned = sub_markers(repl, text)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return ParsedCitations(cleaned, tuple(cited), tuple(dict.fromkeys(dropped)))


def split_sentences(text: str) -> list[str]:
    """Split an answer into sentences (list items and lines count as sentences)."""
    parts = [p.strip() for p in _SENTENCE_RE.split(text)]
    return [p for p in parts if p and _WORD_RE.search(p)]


def sentence_pieces(text: str) -> list[tuple[str, str]]:
    """(sentence, the separator after it) pairs that join back to `text` exactly: for code that
    drops some sentences and must keep the rest as written (a wrong split, e.g. after "Dr.",
    then costs nothing)."""
    pieces = re.split(f"({_SENTENCE_RE.pattern})", text)
    pieces.append("")
    return [(pieces[i], pieces[i + 1]) for i in range(0, len(pieces) - 1, 2)]


def has_words(text: str) -> bool:
    """Whether `text` has a word or number (not only punctuation / whitespace)."""
    return bool(_WORD_RE.search(text))


def map_sentences(text: str, change: Callable[[str], str]) -> str:
    """Apply `change` to every sentence, keeping the separators (spaces, newlines) as they were."""
    pieces = re.split(f"({_SENTENCE_RE.pattern})", text)
    return "".join(
        piece if i % 2 or not _WORD_RE.search(piece) else change(piece)
        for i, piece in enumerate(pieces)
    )


_FENCE_RE = re.compile(r"^[ \t]*(```|~~~)")


def map_prose_sentences(text: str, change: Callable[[str], str]) -> str:
    """`map_sentences` outside fenced code blocks, which are left exactly as the model wrote them.

    Every line of a code block splits as a "sentence"; giving such lines markers put `[1]` after
    "```python" and into the code itself (seen in dev-19's answer), which breaks the block and
    the code a user copies. An unclosed fence (a cut-off answer) runs to the end.
    """
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        opener = _FENCE_RE.match(line)
        if fence is None:
            if opener is None:
                prose.append(line)
                continue
            out.append(map_sentences("".join(prose), change))
            prose = []
            fence = opener.group(1)
        elif opener is not None and opener.group(1) == fence:
            fence = None
        out.append(line)
    out.append(map_sentences("".join(prose), change))
    return "".join(out)


def _cite_at_end(sentence: str, number: int) -> str:
    """`sentence` without its markers, ending in `[number]` before its final punctuation."""
    stripped = sub_markers("", sentence).rstrip()
    end = stripped[-1] if stripped[-1:] in ".!?" else ""
    body = (stripped[:-1] if end else stripped).rstrip()
    return f"{body} [{number}]{end}"


_LABEL_RE = re.compile(r"[\w.-]+\.[A-Za-z]\w{0,5}\b(?::\d+(?:-\d+)?)?|\bp\.\s*\d+|§[^.\[]*")
_FILLER = frozenset(
    ["this", "that", "is", "mentioned", "stated", "described", "specified", "explained", "found",
     "noted", "shown", "given", "covered", "passage", "passages", "source", "sources", "see",
     "information", "provided", "according", "document", "documents", "here", "above"]
)
# Words of a sentence that points at passages rather than saying something: "This feature is
# specifically mentioned in [1]", "These operators are listed in [3] and [4], respectively."
_POINTING = frozenset(
    ["specifically", "explicitly", "clearly", "directly", "respectively", "listed", "mentions",
     "states", "says", "describes", "explains", "discussed", "refers", "referenced", "both",
     "also", "these", "those", "it", "they", "feature", "features", "behavior", "behaviour",
     "respect", "regarding", "concerning", "related", "relates", "discusses", "talks"]
)


def _is_citation_filler(sentence: str, context: AbstractSet[str] = frozenset()) -> bool:
    """A sentence that only points at passages: "This is stated in the passage from a.md [2]".

    It may name what it points at ("…the passage [1] that mentions the modulo operator"), as
    long as every such word already occurs in `context` (the claim before it and the question):
    then it adds no claim of its own.
    """
    if not find_markers(sentence):
        return False
    words = content_words(_LABEL_RE.sub(" ", sub_markers(" ", sentence)))
    if not (words - _FILLER):
        return True
    refers = bool(words & {"passage", "passages", "source", "sources", "document", "documents"})
    singular = {w.removesuffix("s") for w in context}  # "operators" points at "operator"
    rest = words - _FILLER - _POINTING
    return refers and all(w.removesuffix("s") in singular for w in rest)


def fold_citation_sentences(text: str, question: str = "") -> str:
    """Hand the markers of a filler sentence to the claim before it, and drop the filler.

    Models often write the claim, then "This is mentioned in [3]." Grounding and repointing work
    sentence by sentence, so the marker has to sit on the sentence that makes the claim. When
    that claim already cites, the filler's extra numbers are dropped rather than added: they
    name no claim of their own and would only widen the citations.
    """
    pieces = re.split(f"({_SENTENCE_RE.pattern})", text)
    asked = content_words(question)
    previous: int | None = None
    for i in range(0, len(pieces), 2):
        piece = pieces[i]
        if not _WORD_RE.search(piece):
            continue
        if previous is not None and _is_citation_filler(
            piece, content_words(pieces[previous]) | asked
        ):
            claim = pieces[previous].rstrip()
            if not find_markers(claim):
                markers = "".join(f"[{g}]" for g in find_markers(piece))
                end = claim[-1] if claim[-1:] in ".!?" else ""
                pieces[previous] = f"{(claim[:-1] if end else claim).rstrip()} {markers}{end}"
            pieces[i] = ""
            pieces[i - 1] = ""
            continue
        previous = i
    return "".join(pieces).strip()


def restates_question(answer: str, question: str, min_words: int = 4) -> bool:
    """True when a longer answer adds no content word to the question (an echo, not an answer).

    Terse answers ("Before [1].") are left alone: choosing among the question's own words is a
    real answer.
    """
    answer, question = _LABEL_RE.sub(" ", answer), _LABEL_RE.sub(" ", question)
    words = content_words(answer) - _FILLER
    if _numbers(answer) - _numbers(question):  # "Since 3.7 ..." answers "since which version"
        return False
    return len(words) >= min_words and not (words - content_words(question))


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry meaning (stop words and 1-letter words removed)."""
    words = {w.lower() for w in _WORD_RE.findall(MARKER_RE.sub(" ", text))}
    return {w for w in words if len(w) > 1 and w not in _STOP}


def is_refusal(text: str) -> bool:
    """True if the model said, in any common phrasing, that the documents lack the answer.

    Phrasings about the subject itself are answers: an earlier pattern that matched any
    "cannot contain" / "does not have" turned correct answers into refusals (dev-09's "lambdas
    cannot contain statements or annotations", measured in docs/quality.md).
    """
    head = text.strip()[:200]
    return bool(_REFUSAL_RE.search(head)) or head.lower().startswith("i couldn")


@dataclass(frozen=True, slots=True)
class SentenceVerdict:
    sentence: str
    cited: tuple[int, ...]
    supported: bool
    lexical: float  # share of the sentence's content words found in its cited passages
    semantic: float | None  # cosine with the best cited passage, when an embedder is given


def attribute_citations(answer: str, passages: Sequence[str], min_support: float = 0.5) -> str:
    """Add `[n]` to sentences that cite nothing, pointing at their best-supporting passage.

    Small models often answer from the passages without writing markers; rather than show an
    answer without sources, each unmarked sentence gets the passage that contains most of its
    content words (if that passage covers at least `min_support` of them).
    """
    pools = [content_words(p) for p in passages]

    def attribute(sentence: str) -> str:
        words = content_words(sentence)
        if find_markers(sentence) or not pools or not words:
            return sentence
        scores = [len(words & pool) / len(words) for pool in pools]
        best = max(range(len(scores)), key=scores.__getitem__)
        return _cite_at_end(sentence, best + 1) if scores[best] >= min_support else sentence

    return map_prose_sentences(answer, attribute)


def _lexical_support(words: set[str], passage: str) -> float:
    """Share of `words` found in `passage` (as words, or inside longer tokens for words > 3)."""
    pool, text = content_words(passage), passage.lower()
    return sum(1 for w in words if w in pool or (len(w) > 3 and w in text)) / len(words)


def claim_words(sentence: str, question: str) -> set[str]:
    """The content words a sentence adds to the question (all of them when it adds none)."""
    words = content_words(sentence)
    return (words - content_words(question)) or words


_EXPRESSION_RE = re.compile(r"`([^`\n]+)`")


def code_expressions(text: str) -> set[str]:
    """Inline-code expressions of a text ("`-1**2`", "`[1,2] == (1,2)`"), whitespace collapsed.

    Bare names ("`None`", "`dict.get`", "`__hash__()`") are left out: they occur all over
    technical documents, while an expression occurs where it is explained.
    """
    spans = (" ".join(span.split()) for span in _EXPRESSION_RE.findall(text))
    return {s for s in spans if len(s) >= 5 and not re.fullmatch(r"[\w.]+(?:\(\))?", s)}


def repoint_citations(
    answer: str,
    passages: Sequence[str],
    question: str = "",
    *,
    min_support: float = 0.6,
    min_gain: float = 0.25,
    min_grounded: float = 0.5,
) -> str:
    """Point a sentence's markers at the passage that actually says it, when the model erred.

    Small models often copy a sentence from one passage and cite a neighbour. A sentence whose
    cited passages cover less than `min_support` of its claim words, when another passage covers
    at least that (and `min_gain` more), gets that passage's number instead.

    In technical documents the same words are everywhere ("the types are different"), so words
    alone cannot tell the passage about the question from its neighbour. A code expression the
    question or the sentence quotes (`-1**2`, `[1,2] == (1,2)`) can: when no cited passage
    contains one and another passage does, and supports the sentence's words as well or at least
    enough to ground it (`min_grounded`, the grounding check's bar), the marker moves there; a
    cited passage holding one is not traded for a wordier neighbour that lacks it. Otherwise the
    model's choice stands.
    """
    compact = [" ".join(p.split()) for p in passages]
    asked = code_expressions(question)

    def repoint(sentence: str) -> str:
        numbers = [int(n) for g in find_markers(sentence) for n in re.split(r"\s*[,;]\s*", g)]
        cited = [n for n in numbers if 1 <= n <= len(passages)]
        words = claim_words(sentence, question)
        if not cited or not words:
            return sentence
        scores = [_lexical_support(words, p) for p in passages]
        best = max(range(len(scores)), key=scores.__getitem__)
        cited_best = max(scores[n - 1] for n in cited)
        quoted = asked | code_expressions(sentence)
        holds = [sum(q in text for q in quoted) for text in compact]
        cited_holds = any(holds[n - 1] for n in cited)
        if (cited_best < min_support <= scores[best] and scores[best] - cited_best >= min_gain
                and (holds[best] or not cited_holds)):
            return _cite_at_end(sentence, best + 1)
        if quoted and not cited_holds:
            grounded = min(cited_best, min_grounded)
            better = [i for i, hold in enumerate(holds) if hold and scores[i] >= grounded]
            if better:
                return _cite_at_end(sentence, max(better, key=lambda i: (holds[i], -i)) + 1)
        return sentence

    return map_prose_sentences(answer, repoint)


def _numbers(text: str) -> set[str]:
    """Numbers in a text, ignoring citation markers and list enumerators ("2. ...")."""
    text = re.sub(r"(?m)^\s*\d+[.)]\s", " ", MARKER_RE.sub(" ", text))
    return set(re.findall(r"\d+(?:\.\d+)*", text))


def check_grounding(
    answer: str,
    passages: Sequence[str],
    *,
    question: str = "",
    similarity: Callable[[str, Sequence[str]], list[float]] | None = None,
    lexical_threshold: float = 0.5,
    semantic_threshold: float = 0.6,
) -> list[SentenceVerdict]:
    """Check every sentence against the passages it cites (or all passages when it cites none).

    Support is lexical (enough of the sentence's content words occur in the passages) or
    semantic (cosine ≥ threshold, when `similarity` is given). Words the sentence merely repeats
    from the `question` prove nothing, so only the words it adds are checked (all of them when
    it adds none): "the thresholds are 10, 20 and 30" is judged on 10, 20 and 30. A number that
    neither the question nor the cited passages contain makes a sentence unsupported. Sentences
    with no content words (e.g. "Yes.") are marked supported.
    """
    verdicts: list[SentenceVerdict] = []
    for sentence in split_sentences(answer):
        nums = tuple(
            int(n)
            for group in find_markers(sentence)
            for n in re.split(r"\s*[,;]\s*", group)
            if 1 <= int(n) <= len(passages)
        )
        targets = [passages[n - 1] for n in nums] if nums else list(passages)
        words = claim_words(sentence, question)
        if not words or not targets:
            verdicts.append(SentenceVerdict(sentence, nums, bool(targets) or not words, 1.0, None))
            continue
        lexical = _lexical_support(words, " ".join(targets))
        semantic = None
        if similarity is not None and lexical < lexical_threshold:
            scores = similarity(sub_markers("", sentence), targets)
            semantic = max(scores) if scores else 0.0
        # A number the passages do not contain is the commonest hallucination ("the default
        # is 1000"): no similarity score can vouch for it.
        invented = _numbers(sentence) - _numbers(question) - _numbers(" ".join(targets))
        supported = not invented and (
            lexical >= lexical_threshold or (semantic is not None and semantic >= semantic_threshold)
        )
        verdicts.append(SentenceVerdict(sentence, nums, supported, round(lexical, 3), semantic))
    return verdicts
