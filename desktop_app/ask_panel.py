"""The Ask panel: question box, the conversation with streamed answers and citation chips.

Enter asks, Shift+Enter adds a line. The answer streams in as formatted Markdown (tables, lists,
code blocks with a Copy link; its tail re-rendered at most 20 times a second, see `Transcript`).
As soon as retrieval is done the passages go to the Sources pane, titled with the question they
are for, and the answer's `[n]` markers are chips numbered like that list, whose tooltips name the
file and place. When the documents do not support an answer, the panel says so plainly and lists
the closest passages instead. Stop (or Esc) sets the generation's cancel Event.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.bridge import Throttle
from desktop_app.history import Conversation, ConversationStore, Source, TurnRecord
from desktop_app.rendering import answer_html, code_blocks, plain_answer, streaming_html
from desktop_app.theme import colors_for
from desktop_app.transcript import Transcript
from indexer.answer.answering import Answer, AnswerSources, AnswerStage, AnswerToken
from indexer.answer.document_notes import DocumentProgress

if TYPE_CHECKING:
    from desktop_app.app import Controller

OPENING_TEXT = "Opening the index… you can ask already: the answer starts when it is open."
STAGE_TEXT = {
    "waiting": "Waiting for the index to open…",
    "retrieving": "Searching your documents…",
    "reading": "Reading the best passages…",
    "writing": "Writing the answer…",
    "checking": "Checking the answer against the sources…",
    "rereading": "Reading the best-matching passage again…",
    "second_part": "Checking the question's second part…",
}
#: The Sources pane's title while the model reads (replaced by the citations when it is done).
READING_TITLE = "Reading passages"
SOURCES_TITLE = "Sources"
CLOSEST_TITLE = "Closest passages"


def sources_title(kind: str, question: str) -> str:
    """The Sources pane's title, naming the question its list belongs to: "Sources for: …"."""
    return f"{kind} for: {question}" if question else kind


def describe_error(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    hint = getattr(exc, "hint", None)
    return f"{message} — {hint}" if hint else message


class QuestionEdit(QPlainTextEdit):
    """Multi-line question box: Enter submits, Shift+Enter inserts a newline.

    Signals:
        submitted(): Enter was pressed.
    """

    submitted = Signal()

    def event(self, event: QEvent) -> bool:
        # On X11 Ctrl+K means "delete to end of line" in text widgets; leave it to the window's
        # "Search documents" shortcut so Ctrl+K works from the question box too.
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) and (
            event.key() == Qt.Key.Key_K
            and event.modifiers() == Qt.KeyboardModifier.ControlModifier
        ):
            event.ignore()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class AskPanel(QWidget):
    """Asks questions in the current conversation and shows the answers.

    Signals:
        sources_shown(object, str): (list of Source, title) for the Sources pane.
        citation_activated(object, int): (list of Source of that turn, number) a chip was clicked.
        answer_started(): generation began (the window enables Stop / Esc).
        answer_finished(object): the TurnRecord just added to the conversation.
        conversation_changed(object): the Conversation was created, extended or switched.
    """

    sources_shown = Signal(object, str)
    citation_activated = Signal(object, int)
    answer_started = Signal()
    answer_finished = Signal(object)
    conversation_changed = Signal(object)

    def __init__(
        self, controller: Controller, store: ConversationStore, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._store = store
        self.conversation = Conversation()
        self.generating = False
        self._pending_question = ""
        self._stream_text = ""
        self._stage = ""
        self._stopping = False
        self._ready = False
        self._not_ready_reason = ""
        self._reading: list[Source] = []  # the passages the model reads for the live answer
        self._render_throttle = Throttle(50, lambda _v: self._render_live(), self)

        self.transcript = Transcript(self)
        self.transcript.setObjectName("transcript")
        self.transcript.setOpenLinks(False)
        self.transcript.anchorClicked.connect(self._on_anchor_clicked)
        self.stage_label = QLabel(self)
        self.stage_label.setObjectName("stageLabel")
        self.server_notice = QLabel(self)  # shown when answers come from a team model server
        self.server_notice.setObjectName("serverNotice")
        self.server_notice.setWordWrap(True)
        self.server_notice.setAccessibleName("Where answers are written")
        self.server_notice.hide()
        self.question = QuestionEdit(self)
        self.question.setObjectName("questionEdit")
        self.question.setPlaceholderText(
            "Ask a question about your documents — Enter to ask, Shift+Enter for a new line"
        )
        line = self.question.fontMetrics().lineSpacing()
        self.question.setFixedHeight(int(line * 3.6))
        self.question.submitted.connect(self.ask)
        self.ask_button = QPushButton("Ask", self)
        self.ask_button.setObjectName("askButton")
        self.ask_button.setDefault(True)
        self.ask_button.clicked.connect(self._on_ask_clicked)
        self.copy_button = QPushButton("Copy answer", self)
        self.copy_button.clicked.connect(self.copy_last_answer)
        self.copy_button.setEnabled(False)

        buttons = QVBoxLayout()
        buttons.addWidget(self.ask_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.question, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.server_notice)
        layout.addWidget(self.transcript, 1)
        layout.addWidget(self.stage_label)
        layout.addLayout(row)
        self.set_ready(False)
        self._render()

    # ------------------------------------------------------------------ state
    def set_ready(self, ready: bool, reason: str = "") -> None:
        """Enable asking (the controller queues a question until the index is open)."""
        self._ready = ready
        self._not_ready_reason = "" if ready else reason
        self.ask_button.setEnabled(ready or self.generating)
        if self.generating:
            return
        if not ready:
            self.stage_label.setText(reason or "Loading models…")
        else:
            self.stage_label.setText(OPENING_TEXT if self._controller.kb is None else "")

    def set_model_server(self, address: str | None) -> None:
        """Say, before the first question, that answers come from another machine and what is
        sent there; hidden when answers are written on this one."""
        if not address:
            self.server_notice.hide()
            return
        self.server_notice.setText(
            f"⚠ Answers come from the model server at <b>{html.escape(address)}</b>: each question "
            "and the passages Cairn finds for it in your documents are sent there. Nothing "
            "else leaves this machine. (Settings → Models, or `cairn models endpoint --off`.)"
        )
        self.server_notice.setToolTip(
            "Configured with chat_endpoint; Cairn's network guard lets only this host and port "
            "through. `cairn privacy` shows it."
        )
        self.server_notice.show()

    def set_conversation(self, conversation: Conversation) -> None:
        if self.generating:
            self.stop()
        self.conversation = conversation
        self._render()
        last = conversation.turns[-1] if conversation.turns else None
        self.copy_button.setEnabled(bool(last and last.answer))
        if last is not None:
            self._show_turn_sources(len(conversation.turns) - 1)
        else:  # an empty conversation has no sources: the last one's must not stay on screen
            self.sources_shown.emit([], "Sources")
        self.conversation_changed.emit(conversation)

    def new_conversation(self) -> None:
        self.set_conversation(Conversation())
        self.question.setFocus()

    # ------------------------------------------------------------------ asking
    @Slot()
    def _on_ask_clicked(self) -> None:
        if self.generating:
            self.stop()
        else:
            self.ask()

    def ask(self, question: str | None = None) -> bool:
        """Ask `question` (default: the text in the box). False if nothing was started."""
        text = (question if question is not None else self.question.toPlainText()).strip()
        if not text or self.generating or not self._ready:
            return False
        history = self.conversation.history()
        cancel = self._controller.ask(
            text, history, self._on_stream_item, self._on_answer_done, self._on_answer_failed
        )
        if cancel is None:
            return False
        self.generating = True
        self._stopping = False
        self._pending_question = text
        self._stream_text = ""
        self._reading = []
        self._stage = STAGE_TEXT["waiting" if self._controller.kb is None else "retrieving"]
        self.question.clear()
        self.ask_button.setText("Stop")
        self.ask_button.setToolTip("Stop generating (Esc)")
        self.ask_button.setEnabled(True)
        self.stage_label.setText(self._stage)
        self._render(follow=True)
        self.answer_started.emit()
        return True

    @Slot()
    def stop(self) -> None:
        """Stop the running generation (keeps what was written so far)."""
        if self.generating and not self._stopping:
            self._stopping = True
            self._controller.stop_answer()
            self.ask_button.setText("Stopping…")
            self.ask_button.setEnabled(False)

    def _on_stream_item(self, item: Any) -> None:
        if not self.generating:
            return
        if isinstance(item, AnswerStage):
            self._stage = STAGE_TEXT.get(item.stage, item.stage)
            self.stage_label.setText(self._stage)
            if item.stage == "rereading":  # the first look's refusal is void: start over
                self._stream_text = ""
                self._reading = []  # one passage, numbered afresh: no chips until the end
                self._render_throttle.push()
        elif isinstance(item, AnswerToken):
            self._stream_text += item.text
            self._render_throttle.push()
        elif isinstance(item, DocumentProgress):  # a whole-document answer: step i/n, time left
            from desktop_app.summary_actions import progress_text

            self._stage = progress_text(item)
            self.stage_label.setText(self._stage)
        elif isinstance(item, AnswerSources):  # before the model's first token: show them now
            self._reading = [Source(n, h.anchor, h.text, h.snippet)
                             for n, h in enumerate(item.passages, 1)]
            self.sources_shown.emit(self._reading,
                                    sources_title(READING_TITLE, self._pending_question))

    def _finish(self, turn: TurnRecord) -> None:
        self._render_throttle.cancel()
        self.generating = False
        self._stopping = False
        self._pending_question = ""
        self._stream_text = ""
        self._reading = []
        self.ask_button.setText("Ask")
        self.ask_button.setToolTip("")
        self.ask_button.setEnabled(self._ready)
        self.set_ready(self._ready, self._not_ready_reason)  # stage label: empty, or why not
        self._store.add_turn(self.conversation, turn)
        self._render(follow=True)
        self.copy_button.setEnabled(bool(turn.answer))
        self._show_turn_sources(len(self.conversation.turns) - 1)
        self.conversation_changed.emit(self.conversation)
        self.answer_finished.emit(turn)

    def _on_answer_done(self, answer: Answer | None) -> None:
        if not self.generating:
            return
        if not isinstance(answer, Answer):
            self._on_answer_failed(RuntimeError("No answer was produced."))
            return
        cancelled = bool(answer.stats.get("cancelled")) if answer.stats else False
        self._finish(TurnRecord.from_answer(answer, cancelled=cancelled or self._stopping))

    def _on_answer_failed(self, exc: BaseException) -> None:
        if not self.generating:
            return
        cancelled = self._stopping or type(exc).__name__ == "Cancelled"
        turn = TurnRecord(
            question=self._pending_question,
            answer=self._stream_text if cancelled else "",
            error="" if cancelled else describe_error(exc),
            cancelled=cancelled,
        )
        self._finish(turn)

    # ------------------------------------------------------------------ sources & links
    def _show_turn_sources(self, index: int) -> None:
        if not 0 <= index < len(self.conversation.turns):
            return
        turn = self.conversation.turns[index]
        self.sources_shown.emit(turn.sources, self._turn_title(turn))

    @staticmethod
    def _turn_title(turn: TurnRecord) -> str:
        return sources_title(SOURCES_TITLE if turn.found else CLOSEST_TITLE, turn.question)

    @Slot(QUrl)
    def _on_anchor_clicked(self, url: QUrl) -> None:
        kind, _, rest = url.toString().partition(":")
        parts = rest.split(":")
        try:
            turn_index = int(parts[0])
            number = int(parts[1]) if len(parts) > 1 else None
        except ValueError:
            return
        live = self.generating and turn_index == len(self.conversation.turns)
        if live:  # a chip or Copy link of the answer being written
            if kind == "cite" and number is not None:
                self.citation_activated.emit(self._reading, number)
            elif kind == "code" and number is not None:
                self.copy_code(self._stream_text, number)
            return
        if not 0 <= turn_index < len(self.conversation.turns):
            return
        turn = self.conversation.turns[turn_index]
        if kind in ("cite", "passage") and number is not None:
            self.activate_citation(turn_index, number)
        elif kind == "code" and number is not None:
            self.copy_code(turn.answer, number)
        elif kind == "copy":
            self.copy_turn(turn)

    def activate_citation(self, turn_index: int, number: int) -> None:
        """What a click on chip [number] of turn `turn_index` does: show and open that source."""
        turn = self.conversation.turns[turn_index]
        self.sources_shown.emit(turn.sources, self._turn_title(turn))
        self.citation_activated.emit(turn.sources, number)

    @staticmethod
    def copy_code(answer: str, index: int) -> bool:
        """Put code block `index` of `answer` on the clipboard: its text as written, without the
        chips, the HTML or the fence. False if there is no such block."""
        blocks = code_blocks(answer)
        if not 0 <= index < len(blocks):
            return False
        QGuiApplication.clipboard().setText(blocks[index])
        return True

    def copy_turn(self, turn: TurnRecord) -> None:
        QGuiApplication.clipboard().setText(
            plain_answer(turn.answer, [(s.number, s.label) for s in turn.sources])
        )

    @Slot()
    def copy_last_answer(self) -> None:
        answered = [t for t in self.conversation.turns if t.answer]
        if answered:
            self.copy_turn(answered[-1])

    # ------------------------------------------------------------------ rendering
    def _turn_html(self, index: int, turn: TurnRecord) -> str:
        colors = colors_for(self.palette())
        out = [f"<p><b>{html.escape(turn.question)}</b></p>"]
        if turn.error:
            out.append(f"<p style='color:{colors.error_fg};'>{html.escape(turn.error)}</p>")
        elif not turn.found:
            out.append(
                f"<table width='100%' cellpadding='6' style='background-color:{colors.notice_bg};"
                f"color:{colors.notice_fg};'><tr><td>{html.escape(turn.answer)}"
                + (" Here are the closest passages:" if turn.sources else "")
                + "</td></tr></table>"
            )
            if turn.sources:
                items = "".join(
                    f"<li><a href='passage:{index}:{s.number}'>{html.escape(s.label)}</a></li>"
                    for s in turn.sources
                )
                out.append(f"<ul>{items}</ul>")
        else:
            labels = {s.number: s.label for s in turn.sources}
            out.append(answer_html(turn.answer, index, labels, colors, labels))
        footer = []
        if turn.cancelled:
            footer.append("stopped")
        if turn.answer and turn.found:
            footer.append(f"<a href='copy:{index}'>Copy</a>")
            n = len(turn.sources)
            footer.append(f"{n} source{'s' if n != 1 else ''}" if n else "no citations")
        if footer:
            out.append(f"<p style='color:{colors.muted};'><small>{' · '.join(footer)}</small></p>")
        return "".join(out)

    def _render(self, follow: bool = False) -> None:
        """Everything: the finished turns, and the question being answered with its live tail."""
        colors = colors_for(self.palette())
        parts = [self._turn_html(i, t) for i, t in enumerate(self.conversation.turns)]
        if self.generating:
            parts.append(f"<p><b>{html.escape(self._pending_question)}</b></p>")
        if not parts:
            parts.append(
                f"<p style='color:{colors.muted};'>Ask anything about the documents in your "
                "folders. Answers cite the exact file and page, line or heading they come from; "
                "click a number to open the source.</p>"
            )
        self.transcript.show_html("<hr/>".join(parts), follow=follow, live=self.generating)
        if self.generating:
            self._render_live()

    def _render_live(self) -> None:
        """Only the answer being written (the transcript's tail): the rest stays where it is."""
        if not self.generating:
            return
        colors = colors_for(self.palette())
        if self._stream_text:
            labels = {s.number: s.label for s in self._reading}
            body = streaming_html(self._stream_text, colors, len(self.conversation.turns), labels)
        else:
            body = f"<p style='color:{colors.muted};'><i>{html.escape(self._stage)}</i></p>"
        self.transcript.set_live(body)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:  # light/dark switch: re-render rich text
            self.refresh_theme()
        super().changeEvent(event)

    def refresh_theme(self) -> None:
        self._render()

    @property
    def streamed_text(self) -> str:
        return self._stream_text

    def turn_sources(self, index: int) -> list[Source]:
        return self.conversation.turns[index].sources
