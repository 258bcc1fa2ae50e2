"""Answer and snippet text → the HTML subset QTextBrowser/QLabel render (Qt-free).

Answers are Markdown from the model: rendered with markdown-it-py (raw HTML disabled, so a
document quoting `<script>` cannot inject markup; GFM tables and strikethrough on, since models
write them), then each valid `[n]` marker becomes a clickable citation chip (`cite:<turn>:<n>`
link) whose tooltip names the source's file and place. QTextDocument knows no CSS padding,
rounded boxes or `pre` backgrounds that span the width, so tables get explicit cell borders and a
fenced code block becomes a one-cell-wide table: a header row (language, a `code:<turn>:<k>`
Copy link) over the code in monospace on a tinted background. `code_blocks()` gives the same
blocks' exact text for the Copy link, from the Markdown itself rather than from the HTML.
Snippets from search mark matched words with « »; those become highlighted spans. Colours come
from the caller (the current palette).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)
_CODE_TOKENS = ("fence", "code_block")
_MARKER_RE = re.compile(r"\[(\d{1,2})\]")
_CODE_HTML_RE = re.compile(r"(<code[^>]*>.*?</code>|<pre[^>]*>.*?</pre>)", re.DOTALL)


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
    code_bg: str = "#f3f4f6"  # fenced code blocks and table headers: a light tint of the base
    code_border: str = "#d4d7dd"



def chip_html(turn: int, number: int, colors: Colors, label: str = "") -> str:
    """Chip `number`; `label` (the source's `Anchor.label()`, e.g. "guide.pdf p. 3") becomes
    its tooltip (QTextDocument turns `title` into the characters' tooltip)."""
    title = f' title="{html.escape(label)}"' if label else ""
    return (
        f'<a href="cite:{turn}:{number}"{title} style="background-color:{colors.chip_bg};'
        f'color:{colors.chip_fg};text-decoration:none;font-weight:600;">'
        f"&nbsp;{number}&nbsp;</a>"
    )


def code_blocks(text: str) -> list[str]:
    """The fenced and indented code blocks of Markdown `text`, in order, exactly as written
    (without the newline that ends the last line): what the k-th Copy link copies."""
    return [t.content.removesuffix("\n") for t in _md.parse(text or "") if t.type in _CODE_TOKENS]


def _render_code(tokens: Sequence[Token], idx: int, _options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    colors: Colors = env["colors"]
    k = env["codes"]
    env["codes"] = k + 1
    language = html.escape(token.info.strip().split(" ")[0]) if token.info.strip() else "code"
    code = html.escape(token.content.removesuffix("\n"), quote=False)
    copy = (
        f'<a href="code:{env["turn"]}:{k}" title="Copy this code" '
        f'style="text-decoration:none;">Copy</a>'
        if env["turn"] is not None else ""
    )
    # The header row's cells are tinted with the border colour, so the rule Qt draws between
    # them (a bordered table borders every cell) disappears into the bar.
    head = f"background-color:{colors.code_border};color:{colors.muted};"
    return (
        f'<table width="100%" border="1" cellspacing="0" cellpadding="5" '
        f'style="border-collapse:collapse;border-style:solid;border-color:{colors.code_border};'
        f'background-color:{colors.code_bg};margin-top:4px;margin-bottom:8px;">'
        f'<tr><td style="{head}"><small>{language}</small></td>'
        f'<td align="right" style="{head}"><small>{copy}</small></td></tr>'
        f'<tr><td colspan="2"><pre style="font-family:monospace;margin:0px;line-height:120%;">{code}</pre>'
        "</td></tr></table>\n"
    )


def _render_table_open(
    tokens: Sequence[Token], idx: int, _options: Any, env: dict[str, Any]
) -> str:
    colors: Colors = env["colors"]
    return (
        f'<table border="1" cellspacing="0" cellpadding="5" style="border-collapse:collapse;'
        f'border-style:solid;border-color:{colors.code_border};margin-top:4px;'
        f'margin-bottom:8px;">\n'
    )


def _render_th_open(tokens: Sequence[Token], idx: int, _options: Any, env: dict[str, Any]) -> str:
    colors: Colors = env["colors"]
    align = str(tokens[idx].attrGet("style") or "").replace("text-align:", "")
    where = f' align="{html.escape(align)}"' if align else ' align="left"'
    return f'<th{where} style="background-color:{colors.code_bg};">'


def _render_td_open(tokens: Sequence[Token], idx: int, _options: Any, env: dict[str, Any]) -> str:
    align = str(tokens[idx].attrGet("style") or "").replace("text-align:", "")
    return f'<td align="{html.escape(align)}">' if align else "<td>"


for _name, _rule in (("fence", _render_code), ("code_block", _render_code),
                     ("table_open", _render_table_open), ("th_open", _render_th_open),
                     ("td_open", _render_td_open)):
    # markdown-it calls a rule as rule(tokens, idx, options, env) on the renderer instance
    _md.add_render_rule(_name, lambda self, *a, _r=_rule: _r(*a))


def _markdown(text: str, turn: int | None, colors: Colors) -> str:
    return _md.render(text or "", {"colors": colors, "turn": turn, "codes": 0})


def answer_html(
    text: str,
    turn: int,
    valid: Iterable[int],
    colors: Colors,
    labels: Mapping[int, str] | None = None,
) -> str:
    """Markdown answer → HTML with `[n]` markers (only those in `valid`) as chips, each with its
    source's label from `labels` as tooltip, and a `code:<turn>:<k>` Copy link per code block."""
    valid_set = set(valid)
    names = labels or {}
    body = _markdown(text, turn, colors)

    def chip(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return chip_html(turn, n, colors, names.get(n, "")) if n in valid_set else m.group(0)

    parts = _CODE_HTML_RE.split(body)  # `[1][2]` inside code is code, not two citations
    return "".join(p if i % 2 else _MARKER_RE.sub(chip, p) for i, p in enumerate(parts))


def streaming_html(
    text: str,
    colors: Colors | None = None,
    turn: int | None = None,
    labels: Mapping[int, str] | None = None,
) -> str:
    """Partial answer while tokens arrive: Markdown too (cheap at ≤ 20 renders per second).

    With `labels` (the passages the model is reading, by number) its markers are chips already,
    so the answer and the Sources pane are paired while it is written."""
    if labels:
        return answer_html(text, turn if turn is not None else -1, labels, colors or Colors(),
                           labels)
    return _markdown(text, turn, colors or Colors())


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
