"""Answer and snippet text → the HTML subset QTextBrowser/QLabel render (Qt-free).

Answers are Markdown from the model: rendered with markdown-it-py (raw HTML disabled, so a
document quoting `<script>` cannot inject markup), then each valid `[n]` marker becomes a
clickable citation chip (`cite:<turn>:<n>` link). Snippets from search mark matched words with
« »; those become highlighted spans. Colours come from the caller (the current palette).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_MARKER_RE = re.compile(r"\[(\d{1,2})\]")
_CODE_HTML_RE = re.compile(r"(<code>.*?</code>|<pre>.*?</pre>)", re.DOTALL)


@dataclass(frozen=True)
class Colors:
    """Palette-derived colours (CSS strings) used inside rich text."""

    chip_bg: str = "#dbe7ff"
    chip_fg: str = "#1a3d8f"
    mark_bg: str = "#ffe58a"
    mark_fg: str = "#000000"
    muted: str = "#666666"
    notice_bg: str = "#fff4e0"
    notice_fg: str = "#5c3b00"
    error_fg: str = "#b00020"


def chip_html(turn: int, number: int, colors: Colors) -> str:
    return (
        f'<a href="cite:{turn}:{number}" style="background-color:{colors.chip_bg};'
        f'color:{colors.chip_fg};text-decoration:none;font-weight:600;">'
        f"&nbsp;{number}&nbsp;</a>"
    )


def answer_html(text: str, turn: int, valid: Iterable[int], colors: Colors) -> str:
    """Markdown answer → HTML with `[n]` markers (only those in `valid`) as chips."""
    valid_set = set(valid)
    body = _md.render(text or "")

    def chip(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return chip_html(turn, n, colors) if n in valid_set else m.group(0)

    parts = _CODE_HTML_RE.split(body)  # `[1][2]` inside code is code, not two citations
    return "".join(p if i % 2 else _MARKER_RE.sub(chip, p) for i, p in enumerate(parts))


def streaming_html(text: str) -> str:
    """Partial answer while tokens arrive: Markdown too (cheap at ≤ 20 renders per second)."""
    return _md.render(text or "")


def highlight_snippet(snippet: str, colors: Colors) -> str:
    """Escape `snippet` and turn «matched» words into highlighted spans."""
    if snippet.count("«") != snippet.count("»"):
        snippet = snippet.replace("«", "").replace("»", "")
    escaped = html.escape(snippet)
    escaped = escaped.replace(
        "«", f'<span style="background-color:{colors.mark_bg};color:{colors.mark_fg};">'
    ).replace("»", "</span>")
    return escaped.replace("\n", " ")


def plain_snippet(snippet: str) -> str:
    return snippet.replace("«", "").replace("»", "")


def plain_answer(text: str, sources: Iterable[tuple[int, str]]) -> str:
    """Answer text plus a numbered source list, for the clipboard."""
    lines = [text.strip()]
    listed = [f"[{n}] {label}" for n, label in sources]
    if listed:
        lines += ["", "Sources:", *listed]
    return "\n".join(lines)
