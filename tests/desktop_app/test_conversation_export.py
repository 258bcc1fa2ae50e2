"""Conversation export to Markdown, without Qt widgets: citations become file links to the page
(PDF) or name the lines / section; `[n]` in answers link to source n."""

from __future__ import annotations

from desktop_app.conversation_export import (
    conversation_to_markdown,
    export_file_name,
    source_link,
)
from desktop_app.history import Conversation, Source, TurnRecord
from indexer.records import Anchor


def conversation() -> Conversation:
    pdf = Source(1, Anchor("/docs/my report.pdf", page=4), "text", "budget «7.3» million")
    md = Source(2, Anchor("/docs/notes.md", heading_path=("Plan", "Q3"), line_start=10,
                          line_end=14), "text", "Dana checks the valve")
    return Conversation(title="Harbour report", turns=[
        TurnRecord("Summarize @my report.pdf", "The budget is 7.3 million [1]. Dana [1, 2].",
                   True, [pdf, md]),
        TurnRecord("Who is the mayor?", "I couldn't find this in your documents.", False,
                   [Source(1, Anchor("/docs/notes.md", line_start=3), "x", "")]),
        TurnRecord("Broken", error="The model is missing."),
    ])


def test_markdown_has_links_to_file_and_place() -> None:
    text = conversation_to_markdown(conversation(), now=0)
    assert text.startswith("# Harbour report\n")
    assert "## 1. Summarize @my report.pdf" in text
    assert "The budget is 7.3 million [\\[1\\]](file:///docs/my%20report.pdf#page=4)." in text
    assert "[\\[1\\]](file:///docs/my%20report.pdf#page=4)[\\[2\\]](file:///docs/notes.md)" in text
    assert ("1. [my report.pdf p. 4](file:///docs/my%20report.pdf#page=4) — “budget 7.3 million”"
            in text)
    assert "2. [notes.md lines 10–14, § Plan > Q3](file:///docs/notes.md)" in text
    assert "**Closest passages** (not enough to answer)" in text
    assert "*No answer: The model is missing.*" in text


def test_links_and_file_names() -> None:
    assert source_link(Source(1, Anchor("/a/b.txt", page=None), "", "")) == "file:///a/b.txt"
    assert export_file_name(conversation()) == "harbour-report.md"
    assert export_file_name(Conversation()) == "new-conversation.md"
