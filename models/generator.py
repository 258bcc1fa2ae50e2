"""Chat generators: llama.cpp for real answers and a deterministic fake for unit tests.

Both satisfy `Generator`, the seam the answering code streams from. On the machines Cairn targets
the wait before the first token is set by prompt length, not by decoding speed (PERFORMANCE.md),
so the real generator keeps one `Llama` object for the whole process: llama-cpp-python then
reuses the KV cache of the longest common token prefix with the previous call, and a fixed
system prompt is evaluated once, not per question. `last_stats` reports how much was reused.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from models.errors import ModelError, ModelLoadError

Messages = list[dict[str, str]]
FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class GenerationStats:
    """What one `stream()` call cost; the GUI's trace view and the benchmarks read it."""

    prompt_tokens: int
    cached_prompt_tokens: int  # of prompt_tokens, reused from the previous call's KV cache
    completion_tokens: int
    prefill_seconds: float
    generate_seconds: float
    time_to_first_token: float | None  # None when no text was produced
    finish_reason: FinishReason | None = None


@runtime_checkable
class Generator(Protocol):
    """A chat model that streams text.

    `stream` yields text pieces as they are produced; consume it to the end or close it (a
    `with contextlib.closing(...)`), because the model stays locked while it is open. `cancel`
    is checked between tokens (and, for llama.cpp, between slices of a long prompt evaluation);
    cancelling ends the iteration normally with `last_stats.finish_reason == "cancelled"`.
    `grammar` (llama.cpp GBNF) constrains what may be generated, e.g. quote-first answers.
    """

    model_id: str
    context_size: int

    @property
    def last_stats(self) -> GenerationStats | None: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]: ...


def physical_cores() -> int:
    """Physical cores available to this process: llama.cpp decodes no faster on SMT siblings.

    Linux: distinct (physical id, core id) pairs in /proc/cpuinfo. Apple Silicon has no SMT.
    Elsewhere: half the logical CPUs when there are 4 or more (assuming SMT), else all of them.
    Capped by CPU affinity.
    """
    logical = os.cpu_count() or 1
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        available = logical
    cores: set[tuple[str, str]] = set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for block in text.split("\n\n"):
        fields = {
            k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in block.splitlines())
        }
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    physical = len(cores)
    if physical <= 0 and sys.platform == "darwin" and platform.machine() == "arm64":
        physical = logical
    if physical <= 0:
        physical = logical // 2 if logical >= 4 else logical
    return max(1, min(physical, available))


def gpu_offload_supported() -> bool:
    """Whether the installed llama-cpp-python was built with a GPU backend (CUDA, Metal, …)."""
    try:
        import llama_cpp
    except ImportError:
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())


class _PrefillCancelled(Exception):
    """Raised inside llama-cpp-python's generate loop to stop a prompt evaluation early."""


# Prompt tokens evaluated between two looks at the cancel Event. Measured (0.5B, 1 thread, CPU
# time, vs one unsliced eval): slices of 64 cost 12 % of prefill speed, 128 cost ~3 %, 256 none.
# 128 tokens is ~1 s of prefill on a fast laptop, ~7 s for the 1.5B on 2 slow cores.
_PREFILL_STEP = 128


class _Meter:
    """Per-call counters and the cancel Event, shared with the hooks of the Llama subclass."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel = cancel
        self.start = time.perf_counter()
        self.cached: int | None = None
        self.evaluated = 0
        self.prefill_end: float | None = None
        self.sampled = 0
        self.last_was_eog = False

    def stats(self, first_piece: float | None, finish: FinishReason | None) -> GenerationStats:
        end = time.perf_counter()
        prefill_end = self.prefill_end if self.prefill_end is not None else end
        cached = self.cached or 0
        return GenerationStats(
            prompt_tokens=cached + self.evaluated,
            cached_prompt_tokens=cached,
            completion_tokens=max(0, self.sampled - (1 if self.last_was_eog else 0)),
            prefill_seconds=prefill_end - self.start,
            generate_seconds=end - prefill_end,
            time_to_first_token=first_piece,
            finish_reason=finish,
        )


_LLAMA_CLASS: Any = None


def _metered_llama_class() -> Any:
    """`llama_cpp.Llama` with two thin hooks that measure each call and make prefill cancellable.

    `generate()` evaluates the uncached prompt suffix in one `eval()` call, after dropping the
    KV entries past the common prefix; so at that first call `n_tokens` is exactly the number of
    reused prompt tokens and the batch is the rest. Each `sample()` is one completion token.
    When a cancel Event is attached, that first `eval()` is fed in slices with a look at the
    Event between them, so Stop works during a long prefill too; `n_tokens` stays exact, and the
    part already evaluated is reused by the next call. With no meter attached the hooks do
    nothing.
    """
    global _LLAMA_CLASS
    if _LLAMA_CLASS is None:
        import llama_cpp

        class MeteredLlama(llama_cpp.Llama):  # type: ignore[misc]
            meter: _Meter | None = None

            def eval(self, tokens: Sequence[int]) -> None:
                meter = self.meter
                if meter is None or meter.cached is not None:
                    super().eval(tokens)
                    return
                meter.cached, meter.evaluated = self.n_tokens, len(tokens)
                cancel = meter.cancel
                if cancel is None or len(tokens) <= _PREFILL_STEP:
                    super().eval(tokens)
                else:
                    for i in range(0, len(tokens), _PREFILL_STEP):
                        if cancel.is_set():
                            raise _PrefillCancelled
                        super().eval(tokens[i : i + _PREFILL_STEP])
                meter.prefill_end = time.perf_counter()

            def sample(self, *args: Any, **kwargs: Any) -> int:
                token: int = super().sample(*args, **kwargs)
                meter = self.meter
                if meter is not None:
                    meter.sampled += 1
                    meter.last_was_eog = bool(
                        llama_cpp.llama_vocab_is_eog(self._model.vocab, token)
                    )
                return token

        _LLAMA_CLASS = MeteredLlama
    return _LLAMA_CLASS


class LlamaCppGenerator:
    """A GGUF chat model run by llama-cpp-python in this process.

    Loads lazily on first use. llama.cpp contexts are not thread-safe, so one lock guards every
    use of the `Llama` object, including token counting; a stream holds it until it ends.
    """

    def __init__(
        self,
        model_path: Path,
        n_ctx: int = 4096,
        n_threads: int = 0,
        n_gpu_layers: int = -1,
        chat_format: str | None = None,
        verbose: bool = False,
        *,
        model_id: str | None = None,
        n_batch: int = 512,
    ) -> None:
        self.model_path = Path(model_path)
        self.model_id = model_id or self.model_path.stem
        self.context_size = n_ctx
        self.n_threads = n_threads or physical_cores()
        self.n_gpu_layers = n_gpu_layers
        self.chat_format = chat_format
        self.verbose = verbose
        self.n_batch = n_batch
        self._lock = threading.Lock()
        self._llm: Any = None
        self._last_stats: GenerationStats | None = None
        self._grammars: dict[str, Any] = {}

    @property
    def last_stats(self) -> GenerationStats | None:
        return self._last_stats

    # -- loading --------------------------------------------------------------------------

    def _ensure_loaded(self) -> Any:
        if self._llm is not None:
            return self._llm
        try:
            llama_class = _metered_llama_class()
        except ImportError as exc:
            raise ModelLoadError(
                "The llama_cpp backend is not installed.",
                hint="Install Cairn with its default dependencies (`uv sync`; llama-cpp-python "
                "compiles from source), or use generator_backend='fake' for tests.",
            ) from exc
        try:
            affinity = len(os.sched_getaffinity(0))
        except AttributeError:
            affinity = os.cpu_count() or self.n_threads
        try:
            llm = llama_class(
                model_path=str(self.model_path),
                n_ctx=self.context_size,
                n_batch=min(self.n_batch, self.context_size),
                n_threads=self.n_threads,
                # prefill is compute-bound and does use SMT siblings; decode is not
                n_threads_batch=max(self.n_threads, affinity),
                n_gpu_layers=self.n_gpu_layers if gpu_offload_supported() else 0,
                chat_format=self.chat_format,
                verbose=self.verbose,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load {self.model_path.name}: {exc}",
                hint="The file may be damaged or from a newer llama.cpp; try another .gguf.",
            ) from exc
        if self.chat_format is None and "tokenizer.chat_template" not in llm.metadata:
            # No template in the file: ChatML is what most instruction-tuned GGUFs expect,
            # and better than llama-cpp-python's own fallback (llama-2).
            llm.chat_format = "chatml"
        self._llm = llm
        return llm

    def load(self) -> None:
        """Load now instead of on first use (the hub calls this to report state early)."""
        with self._lock:
            self._ensure_loaded()

    def close(self) -> None:
        """Free the model (hundreds of MB to GBs); a later call loads it again."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    # -- tokens ---------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        with self._lock:
            llm = self._ensure_loaded()
            return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    # -- generation -----------------------------------------------------------------------

    def _grammar(self, text: str) -> Any:
        """The compiled llama.cpp grammar for `text` (parsed once per distinct grammar)."""
        compiled = self._grammars.get(text)
        if compiled is None:
            import llama_cpp

            compiled = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
            self._grammars[text] = compiled
        return compiled

    def _acquire(self, cancel: threading.Event | None) -> bool:
        """Wait for the model, giving up if `cancel` is set meanwhile."""
        while not self._lock.acquire(timeout=0.1):
            if cancel is not None and cancel.is_set():
                return False
        return True

    def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        if not self._acquire(cancel):
            self._last_stats = GenerationStats(0, 0, 0, 0.0, 0.0, None, "cancelled")
            return
        if cancel is not None and cancel.is_set():  # cancelled before it started
            self._lock.release()
            self._last_stats = GenerationStats(0, 0, 0, 0.0, 0.0, None, "cancelled")
            return
        try:
            llm = self._ensure_loaded()
            meter = _Meter(cancel)
            llm.meter = meter
            first_piece: float | None = None
            finish: FinishReason | None = None
            chunks = llm.create_chat_completion(
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=stop or [],
                stream=True,
                grammar=self._grammar(grammar) if grammar else None,
            )
            try:
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        finish = "cancelled"
                        break
                    choice = chunk["choices"][0]
                    piece = choice["delta"].get("content")
                    if piece:
                        if first_piece is None:
                            first_piece = time.perf_counter() - meter.start
                        yield piece
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if cancel is not None and cancel.is_set():
                        finish = "cancelled"
                        break
            except _PrefillCancelled:
                finish = "cancelled"
            except ValueError as exc:  # raised lazily, on the first chunk
                if "context window" in str(exc):
                    raise ModelError(
                        f"The prompt does not fit the model's context: {exc}",
                        hint="Use fewer or shorter passages, or a larger n_ctx.",
                    ) from exc
                raise
            finally:
                chunks.close()
                llm.meter = None
                self._last_stats = meter.stats(first_piece, finish)
        finally:
            self._lock.release()


# ----------------------------------------------------------------------------------- fake

# "[n] (label) text": the label may hold one level of parentheses, e.g. "(source: a (1).md)"
_PASSAGE = re.compile(r"^\[(\d+)\]\s?(?:\((?:[^()\n]|\([^()\n]*\))*\)\s*)?(.*)$")
_QUESTION = re.compile(r"^\s*question\s*:\s*(.*)$", re.IGNORECASE)
_WORDS = re.compile(r"\w+")
_TOKENS = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_STOPWORD_TEXT = """
the and for are but not you all any can had her was one our out has his how its may new now old
see two who did get got him let say she too use what when where which while with this that these
those from into than then them they there their does have been were will would should could about
your yours also only just some such very more most other over under why whom whose here each both
few own same
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _content_words(text: str) -> set[str]:
    return {w for w in _WORDS.findall(text.lower()) if len(w) >= 3 and w not in _STOPWORDS}


def parse_prompt(text: str) -> tuple[dict[int, str], str]:
    """Split a user message into numbered passages and the question (FakeGenerator's contract).

    A passage starts on a line `[n] text`, `[n] (source) text` or `[n] (source: label)` with its
    text on the following lines; it runs until the next passage line or a `Question:` line. The
    question is the rest of the last `Question:` line (a prompt may ask it before and after the
    passages; other lines after it, e.g. instructions, are ignored); without one, the last
    non-empty line before the first passage.
    """
    passages: dict[int, list[str]] = {}
    current: int | None = None
    question = ""
    preamble: list[str] = []
    for line in text.splitlines():
        q = _QUESTION.match(line)
        if q:
            question = q.group(1).strip()
            current = None
            continue
        p = _PASSAGE.match(line)
        if p:
            current = int(p.group(1))
            passages[current] = [p.group(2)]
        elif current is not None:
            passages[current].append(line)
        elif line.strip() and not question:
            preamble.append(line.strip())
    if not question and preamble:
        question = preamble[-1]
    return {n: "\n".join(lines).strip() for n, lines in passages.items()}, question


class FakeGenerator:
    """Deterministic stand-in for a chat model, for fast unit tests of the answering path.

    Reads the numbered passages and the question from the last user message (see
    `parse_prompt`) and answers with the first sentence of the passage sharing the most content
    words with the question, followed by its `[n]` marker; with fewer than 2 shared words it
    answers `NOT_FOUND`. Streams word by word, honours `max_tokens` (words), `stop` and
    `cancel`. `piece_delay` (seconds per word) lets GUI tests watch a stream arrive.
    """

    NOT_FOUND = "I couldn't find this in your documents."

    def __init__(
        self, context_size: int = 4096, model_id: str = "fake-generator", piece_delay: float = 0.0
    ) -> None:
        self.model_id = model_id
        self.context_size = context_size
        self.piece_delay = piece_delay
        self.calls = 0
        self._previous_prompt: list[str] = []
        self._last_stats: GenerationStats | None = None

    @property
    def last_stats(self) -> GenerationStats | None:
        return self._last_stats

    def count_tokens(self, text: str) -> int:
        return len(_TOKENS.findall(text))

    def answer(self, messages: Messages) -> str:
        """The full answer `stream` would produce, for tests that want to compare."""
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        passages, question = parse_prompt(user)
        wanted = _content_words(question)
        best, best_overlap = None, 1
        for n in sorted(passages):
            overlap = len(wanted & _content_words(passages[n]))
            if overlap > best_overlap:
                best, best_overlap = n, overlap
        if best is None:
            return self.NOT_FOUND
        first = _SENTENCE_END.split(passages[best].strip(), maxsplit=1)[0].strip()
        return f"{first} [{best}]"

    def quoted(self, answer: str) -> str:
        """`answer` in the quote-first shape a grammar asks for (the fake does not parse it)."""
        found = re.match(r"^(.*) \[(\d+)\]$", answer, re.DOTALL)
        if found is None:
            return f"Quotes: none\nAnswer: {answer}"
        sentence = found.group(1).replace('"', "'").replace("\n", " ")
        return f'Quotes:\n[{found.group(2)}] "{sentence}"\nAnswer: {answer}'

    def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        self.calls += 1
        start = time.perf_counter()
        prompt = _TOKENS.findall("\n".join(m.get("content", "") for m in messages))
        cached = 0
        for a, b in zip(prompt, self._previous_prompt, strict=False):
            if a != b:
                break
            cached += 1
        self._previous_prompt = prompt
        text = self.answer(messages)
        system = " ".join(m.get("content", "") for m in messages if m.get("role") == "system")
        if grammar or "Quotes:" in system:  # asked for the quote-first shape (answer.quotes)
            text = self.quoted(text)
        for s in stop or []:
            if s and s in text:
                text = text[: text.index(s)]
        pieces = re.findall(r"\S+\s*", text)
        finish: FinishReason = "stop"
        if len(pieces) > max_tokens:
            pieces, finish = pieces[:max_tokens], "length"
        produced, first = 0, None
        try:
            for piece in pieces:
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                if self.piece_delay:
                    time.sleep(self.piece_delay)
                if first is None:
                    first = time.perf_counter() - start
                produced += 1
                yield piece
        finally:
            self._last_stats = GenerationStats(
                prompt_tokens=len(prompt),
                cached_prompt_tokens=cached,
                completion_tokens=produced,
                prefill_seconds=0.0,
                generate_seconds=time.perf_counter() - start,
                time_to_first_token=first,
                finish_reason=finish,
            )
