"""The window follows the system colour scheme; rich text re-renders with matching colours."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop_app.rendering import Colors, answer_html, highlight_snippet
from desktop_app.theme import Theme, colors_for, is_dark


def test_follows_dark_scheme_and_back(qtbot, window_factory):
    app = QApplication.instance()
    hints = app.styleHints()
    style, palette, sheet = app.style().name(), app.palette(), app.styleSheet()
    theme = Theme(app)
    window = window_factory()
    changes = []
    theme.changed.connect(changes.append)
    try:
        # The offscreen platform cannot switch its scheme (setColorScheme is a no-op there), so
        # deliver the change the way the platform would: through the hints' signal.
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert is_dark(app.palette()) and changes == [True]
        assert colors_for(app.palette()).chip_bg != Colors().chip_bg
        qtbot.waitUntil(lambda: is_dark(window.ask_panel.transcript.palette()))
        qtbot.waitUntil(lambda: colors_for(app.palette()).muted in window.ask_panel.transcript.toHtml())
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert not is_dark(app.palette()) and changes == [True, False]
    finally:
        theme.dispose()
        app.setStyleSheet(sheet)
        app.setStyle(style)
        app.setPalette(palette)


def test_answer_chips_and_snippet_highlights_are_escaped():
    html = answer_html("Use **70 °C** [1] <script>x</script> [9]", 2, [1], Colors())
    assert 'href="cite:2:1"' in html and "[9]" in html  # only valid markers become chips
    assert "<script>" not in html and "<strong>70 °C</strong>" in html
    code = answer_html("`[1][2] == (1,2)` is False [1]", 0, [1, 2], Colors())
    assert "<code>[1][2] == (1,2)</code>" in code and code.count('href="cite:0:') == 1
    snippet = highlight_snippet("a «match» & <b>", Colors())
    assert "&amp;" in snippet and "&lt;b&gt;" in snippet and "<span" in snippet
    assert highlight_snippet("unbalanced «x", Colors()) == "unbalanced x"


def test_dark_colours_set_every_field_and_code_blocks_follow_the_base():
    """Every colour rich text uses has a dark value (a field added to `Colors` and left out of
    the dark set would keep its light default: a light block on a dark page), and the code-block
    tints sit between the palette's base and text, nearer the base."""
    from dataclasses import fields

    from PySide6.QtGui import QColor, QPalette

    from desktop_app.theme import _dark_palette, _light_palette

    light, dark = Colors(), colors_for(_dark_palette())
    assert not [f.name for f in fields(Colors) if getattr(dark, f.name) == getattr(light, f.name)]
    for palette in (_light_palette(), _dark_palette()):
        colors = colors_for(palette)
        base = palette.color(QPalette.ColorRole.Base).lightness()
        ink = palette.color(QPalette.ColorRole.Text).lightness()
        for tint in (colors.code_bg, colors.code_border):
            step = (QColor(tint).lightness() - base) / (ink - base)
            assert 0.02 < step < 0.3, (tint, step)
