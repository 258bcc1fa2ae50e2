"""A conversation as Markdown, with each citation a link to its file and place (Qt-free).

Cairn has no conversation store outside the window (`history.py`), so export lives here. Links
use `file://` URIs, which every Markdown viewer can open: a PDF citation links to its page
(`#page=N`, honoured by browsers' and most desktop PDF viewers), other files link to the file
and say the line span or heading in the link text, since there is no portable fragment for a
line of a text file. `[n]` markers in an answer become links to the same place as source n.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from desktop_app.history import Conversation, Source, TurnRecord
from indexer.answer.citations import MARKER_RE

SNIPPET_CHARS = 240


def source_link(source: Source) -> str:
    """`file:///…/report.pdf#page=3` for a PDF page, else the file's URI."""
    a = source.anchor
    try:
        uri = Path(a.path).absolute().as_uri()
    except ValueError:  # not a local path (e.g. a shared index's key)
        return a.path
    if a.page is not None and a.path.lower().endswith(".pdf"):
        return f"{uri}#page={a.page}"
    return uri


def source_place(source: Source) -> str:
    """Where in the file, in words: "p. 3", "lines 10–24", "§ Setup > Linux" (joined)."""
    a = source.anchor
    parts = []
    if a.page is not None:
        parts.append(f"p. {a.page}")
    if a.line_start is not None:
        end = a.line_end if a.line_end and a.line_end != a.line_start else None
        parts.append(f"line {a.line_start}" if end is None else f"lines {a.line_start}–{end}")
    if a.heading_path:
        parts.append("§ " + " > ".join(a.heading_path))
    return ", ".join(parts)


def _md_text(text: str) -> str:
    """Text safe inside a link's brackets / a table-free line."""
    return text.replace("[", "\\[").replace("]", "\\]")


def _linked_markers(answer: str, turn: TurnRecord) -> str:
    def repl(match: re.Match[str]) -> str:
        out = []
        for number in re.split(r"\s*[,;]\s*", match.group(1)):
            source = turn.source(int(number))
            out.append(f"[\\[{number}\\]]({source_link(source)})" if source else f"[{number}]")
        return "".join(out)

    return MARKER_RE.sub(repl, answer)


def turn_to_markdown(turn: TurnRecord, index: int) -> str:
    lines = [f"## {index}. {' '.join(turn.question.split())}", ""]
    if turn.error:
        lines += [f"*No answer: {turn.error}*", ""]
    elif turn.answer:
        lines += [_linked_markers(turn.answer.strip(), turn), ""]
        if turn.cancelled:
            lines += ["*(stopped before the end)*", ""]
    if turn.sources:
        lines.append("**Sources**" if turn.found else "**Closest passages** (not enough to answer)")
        lines.append("")
        for s in turn.sources:
            name = Path(s.anchor.path).name
            place = source_place(s)
            label = _md_text(f"{name} {place}".strip())
            snippet = " ".join(s.snippet.replace("«", "").replace("»", "").split())
            if len(snippet) > SNIPPET_CHARS:
                snippet = snippet[: SNIPPET_CHARS - 1] + "…"
            quote = f" — “{snippet}”" if snippet else ""
            lines.append(f"{s.number}. [{label}]({source_link(s)}){quote}")
        lines.append("")
    return "\n".join(lines)


def conversation_to_markdown(conversation: Conversation, now: float | None = None) -> str:
    """The whole conversation: title, when it was exported, every turn with its sources."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(now if now is not None else
                                                           time.time()))
    head = [f"# {conversation.display_title}", "",
            (f"*Exported from Cairn on {stamp}. Links open the cited file at its page "
             "(PDF) or name the lines / section.*"), ""]
    body = [turn_to_markdown(t, i) for i, t in enumerate(conversation.turns, 1)]
    return "\n".join(head + body).rstrip() + "\n"


def export_file_name(conversation: Conversation) -> str:
    """A file name from the title: letters, digits, dashes; `.md`."""
    slug = re.sub(r"[^\w-]+", "-", conversation.display_title.lower()).strip("-")[:60]
    return f"{slug or 'conversation'}.md"
