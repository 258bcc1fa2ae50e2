"""Citation parsing and the grounding check, on hand-made cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.answer.citations import (
    NOT_FOUND_TEXT,
    check_grounding,
    is_refusal,
    parse_citations,
    split_sentences,
)


def test_valid_markers_kept_in_first_use_order() -> None:
    parsed = parse_citations("B is true [2]. A is true [1]. Again [2].", passage_count=3)
    assert parsed.cited == (2, 1)
    assert parsed.dropped == ()
    assert parsed.text == "B is true [2]. A is true [1]. Again [2]."


def test_markers_pointing_nowhere_are_dropped_from_text() -> None:
    parsed = parse_citations("Fact one [1]. Invented [7]. Zero [0].", passage_count=2)
    assert parsed.cited == (1,)
    assert parsed.dropped == (7, 0)
    assert "[7]" not in parsed.text and "[0]" not in parsed.text
    assert parsed.text == "Fact one [1]. Invented. Zero."


def test_grouped_markers_are_split_and_filtered() -> None:
    parsed = parse_citations("Both [1, 3] and [2;9].", passage_count=3)
    assert parsed.cited == (1, 3, 2)
    assert parsed.dropped == (9,)
    assert parsed.text == "Both [1][3] and [2]."


def test_bracketed_non_numbers_untouched() -> None:
    text = "Use a[i] and list[int] here [1]."
    assert parse_citations(text, 1).text == text


def test_split_sentences_handles_lists_and_periods() -> None:
    assert split_sentences("First one. Second one!\n- item three") == [
        "First one.",
        "Second one!",
        "- item three",
    ]


def test_supported_sentence_passes_and_unsupported_fails() -> None:
    passages = [
        "The -O option removes assert statements and sets __debug__ to False.",
        "Bananas are yellow fruit grown in tropical regions.",
    ]
    verdicts = check_grounding(
        "The -O option removes assert statements [1]. Python was created in Antarctica by "
        "penguins in 1802 [1].",
        passages,
    )
    assert [v.supported for v in verdicts] == [True, False]
    assert verdicts[0].cited == (1,)


def test_sentence_checked_against_its_cited_passage_only() -> None:
    passages = ["Cats purr when content.", "Dogs bark at strangers loudly."]
    ok, wrong = check_grounding("Dogs bark at strangers [2]. Dogs bark at strangers [1].", passages)
    assert ok.supported and not wrong.supported


def test_semantic_similarity_can_rescue_a_paraphrase() -> None:
    passages = ["Leading zeros in non-zero decimal numbers are not allowed."]
    sentence = "Python rejects 0755 written that way [1]."
    question = "Why is 0755 not a valid decimal literal?"
    lexical_only = check_grounding(sentence, passages, question=question)
    assert not lexical_only[0].supported
    rescued = check_grounding(
        sentence, passages, question=question, similarity=lambda s, ps: [0.8] * len(ps)
    )
    assert rescued[0].supported and rescued[0].semantic == 0.8


@pytest.mark.parametrize("text", [
    NOT_FOUND_TEXT,
    "The passages do not mention the GIL.",
    "I cannot find information about that.",
    "The provided passages do not contain information about the GIL switch interval.",
    "I'm sorry, but the documents don't mention this.",
    "There is no information about gc thresholds in the passages.",
    "This is not mentioned in the provided passages.",
    "The context doesn't specify the default recursion limit.",
    "I don't know, the passages never say.",
    "None of the passages answer this question.",
    "No information on this is given in the documents.",
])
def test_refusals_are_recognised(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "The -O flag removes asserts [1].",
    "Lambdas cannot contain statements or annotations. [1]",
    "A function created with a lambda expression cannot contain statements or annotations [1].",
    "A frozenset does not have an add() method [2].",
    "You can't use the variable after the except block: it is deleted to avoid a cycle [1].",
    "Python doesn't know the type until run time [1].",
    "The right operand's type must not be a subclass of the left operand's type [1].",
    "A bare raise with no active exception raises RuntimeError; it does not find a handler [1].",
])
def test_answers_about_what_something_cannot_do_are_not_refusals(text: str) -> None:
    assert not is_refusal(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=0, max_value=12))
def test_parse_citations_never_keeps_an_invalid_marker(text: str, count: int) -> None:
    parsed = parse_citations(text, count)
    assert all(1 <= n <= count for n in parsed.cited)
    reparsed = parse_citations(parsed.text, count)
    assert reparsed.dropped == ()
    assert set(reparsed.cited) <= set(parsed.cited)


def test_attribution_adds_markers_to_unmarked_sentences() -> None:
    from indexer.answer.citations import attribute_citations

    passages = ["Cats purr when they are content.", "The -O option removes assert statements."]
    out = attribute_citations("The -O option removes assert statements. Cats purr.", passages)
    assert out == "The -O option removes assert statements [2]. Cats purr [1]."
    assert attribute_citations("Bananas are blue.", passages) == "Bananas are blue."


def test_words_repeated_from_the_question_are_not_support() -> None:
    passages = ["Objects are never explicitly destroyed; garbage collection reclaims them."]
    question = "What are the default collection thresholds of the garbage collector?"
    answer = "The default garbage collection thresholds are 700, 10 and 10 [1]."
    (verdict,) = check_grounding(answer, passages, question=question)
    assert not verdict.supported


def test_a_number_the_passages_lack_is_unsupported_whatever_the_similarity() -> None:
    passages = ["The recursion limit is the maximum depth of the Python interpreter stack."]
    (invented,) = check_grounding(
        "The default recursion limit is 1000 [1].", passages,
        question="What is the default recursion limit?", similarity=lambda s, ps: [0.95],
    )
    assert not invented.supported
    (quoted,) = check_grounding(
        "The maximum depth of the stack is the limit [1].", passages, question="What is 1000?"
    )
    assert quoted.supported  # numbers only count when the sentence adds them


def test_repoint_moves_a_marker_to_the_passage_that_says_it() -> None:
    from indexer.answer.citations import repoint_citations

    passages = [
        ("Names listed in a nonlocal statement must not collide with pre-existing bindings in "
        "the local scope."),
        ("Names listed in a global statement must not be used in the same code block textually "
        "preceding that global statement."),
    ]
    question = "What requirement applies to names declared with nonlocal?"
    wrong = "They must not collide with pre-existing bindings in the local scope [2]."
    assert repoint_citations(wrong, passages, question).endswith("local scope [1].")
    # A sentence its cited passage supports keeps the model's choice.
    right = "They must not be used in the same code block before the global statement [2]."
    assert repoint_citations(right, passages, question) == right
    # Layout survives: list items stay on their own lines.
    listed = "Rules:\n- must not collide with pre-existing bindings in the local scope [2]\n- ok"
    assert repoint_citations(listed, passages, question).count("\n") == 2


def test_brackets_inside_inline_code_are_code_not_citations() -> None:
    from indexer.answer.citations import repoint_citations

    answer = "The list `[1][2]` is not the tuple `(1,2)` [2]."
    parsed = parse_citations(answer, 3)
    assert parsed.cited == (2,) and "`[1][2]`" in parsed.text
    passages = ["A list is never equal to a tuple.", "Dictionaries map keys to values."]
    repointed = repoint_citations("The list `[1][2]` is never equal to a tuple [2].", passages)
    assert "`[1][2]`" in repointed and repointed.endswith("[1].")


def test_fenced_code_gets_no_markers_and_prose_around_it_still_does() -> None:
    from indexer.answer.citations import attribute_citations, repoint_citations

    passages = ["Multiple pdb commands may be entered on one line, separated by two semicolons.",
                "(Pdb) commands 1\n(com) continue\n(com) next\n(Pdb)"]
    answer = ("Separate pdb commands with two semicolons.\n\n```python\n(Pdb) commands 1\n"
              "(com) continue\n```\n\nMultiple commands may be entered on one line.")
    out = attribute_citations(answer, passages)
    assert "```python\n(Pdb) commands 1\n(com) continue\n```" in out  # the block, untouched
    assert out.startswith("Separate pdb commands with two semicolons [1].")
    assert out.endswith("may be entered on one line [1].")
    cut_off = "Like this:\n~~~\n(Pdb) commands 1 [1]\n(com) next"  # an unclosed fence
    assert repoint_citations(cut_off, passages) == cut_off
    assert attribute_citations(cut_off, passages) == cut_off


def test_code_expressions_are_quoted_expressions_not_bare_names() -> None:
    from indexer.answer.citations import code_expressions

    text = "Why is `[1,2]  == (1,2)` false, and what do `None`, `dict.get`, `__hash__()` and `f(x)` do?"
    assert code_expressions(text) == {"[1,2] == (1,2)"}


def test_repoint_follows_the_code_expression_the_question_asks_about() -> None:
    from indexer.answer.citations import repoint_citations

    passages = [
        ('Sequences compare equal only when their types match: "[1,2] == (1,2)" is false '
        "because the type is not the same."),
        "Ranges and tuples are different types; ranges are immutable sequences of numbers.",
    ]
    question = "Why does `[1,2] == (1,2)` evaluate to False?"
    neighbour = "The elements are the same, but the types are different [2]."
    assert repoint_citations(neighbour, passages, question).endswith("different [1].")
    # The expression can come from the sentence as well as from the question.
    quoted = 'So `"[1,2] == (1,2)"` compares types [2].'
    assert repoint_citations(quoted, passages).endswith("types [1].")
    # A cited passage that holds the expression keeps the model's choice ...
    assert repoint_citations("The types differ [1].", passages, question) == "The types differ [1]."
    # ... and so does one when the expression's passage does not support the sentence.
    other = "Ranges are immutable sequences of numbers [2]."
    assert repoint_citations(other, passages, question) == other


def test_filler_sentence_hands_its_marker_to_the_claim_before_it() -> None:
    from indexer.answer.citations import fold_citation_sentences

    folded = fold_citation_sentences(
        "Parenthesised context managers arrived in 3.10. This is mentioned in [3]."
    )
    assert folded == "Parenthesised context managers arrived in 3.10 [3]."
    labelled = fold_citation_sentences(
        "The result takes the sign of the second operand. This is described in the passage "
        "from binary.md:48-54 [2].\n\n- next item"
    )
    assert labelled.startswith("The result takes the sign of the second operand [2].")
    assert labelled.endswith("\n\n- next item")
    # A sentence with its own claim keeps its marker.
    kept = "Modulo is defined for floats. The sign follows the divisor [2]."
    assert fold_citation_sentences(kept) == kept
    own_claim = "Modulo is defined for floats. The passage [2] says the sign follows the divisor."
    assert fold_citation_sentences(own_claim) == own_claim


def test_pointing_sentence_adds_no_citation_to_a_claim_that_already_cites() -> None:
    from indexer.answer.citations import fold_citation_sentences

    question = "With Python's modulo operator `%`, which operand determines the sign?"
    claim = "The sign of the result is determined by the second operand [1]."
    # Names only what the claim and the question already said: a pointer, folded away.
    assert fold_citation_sentences(
        f"{claim} This is stated in the passage from [1] that mentions the modulo operator and "
        "its behavior with respect to the sign of the result.", question) == claim
    # Extra numbers on a pointer are dropped when the claim cites already, kept when it does not.
    both = "Only the power operator and conditional expressions group right to left"
    pointer = "These operators are listed in the passage from [3] and [4], respectively."
    assert fold_citation_sentences(f"{both} [1]. {pointer}") == f"{both} [1]."
    assert fold_citation_sentences(f"{both}. {pointer}") == f"{both} [3][4]."


def test_an_echo_of_the_question_is_not_an_answer() -> None:
    from indexer.answer.citations import restates_question

    q = "What are the default thresholds of CPython's cyclic garbage collector (gc.get_threshold())?"
    assert restates_question("The default thresholds of the cyclic garbage collector are [1].", q)
    assert not restates_question("The defaults are 700, 10 and 10 [1].", q)
    assert not restates_question("Before [1].", "Is a[i] looked up before or after f(x)?")
