"""``Generator``: turns qabot's extractive ``Answer`` into a generated one, or gives it back with
a note. Refusals never reach the model; any failure (too slow, unreachable, an error, a bad or
missing citation) gives the extractive answer and a one-line ``note``, never an exception.

``generate`` returns the final answer; ``stream`` yields the reply as it is written and holds the
final answer (generated, or extractive with a note) once it is exhausted. The model runs in a
worker thread so ``llm_timeout_s`` holds whatever the provider does.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import GenerationError
from .citations import check_citations, first_invalid
from .model import LlmConfig, load_chat_model, model_label, one_line_reason
from .prompt import prompt_inputs

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from ..schema import Answer

log = logging.getLogger(__name__)
T = TypeVar("T")
MODES = ("extractive", "llm")


def within(seconds: float, produce: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The items of ``produce()``, made in a worker thread; ``GenerationError`` once ``seconds``
    have passed. Closing this iterator tells the worker to stop at its next item."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def work() -> None:
        try:
            source = produce()
            for item in source:
                if stop.is_set():
                    getattr(source, "close", lambda: None)()
                    return
                items.put(("item", item))
            items.put(("end", None))
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer)
            items.put(("error", exc))

    threading.Thread(target=work, name="qabot-llm", daemon=True).start()
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                kind, value = items.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise GenerationError(f"the model did not finish within {seconds:g} s") from None
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


class GeneratedStream:
    """A generated answer as it is written: iterate for text chunks; ``answer`` afterwards.

    With nothing to generate (a refusal, or extractive mode) it yields nothing and ``answer``
    is the extractive one. A chunk that would complete an invalid citation is not yielded: the
    reply stops there and ``answer`` is the extractive one with a note.
    """

    def __init__(self, extractive: Answer, chunks: Iterator[str] | None = None,
                 fail: Callable[[Answer, BaseException], Answer] | None = None) -> None:
        self.extractive = extractive
        self.generating = chunks is not None
        self._chunks = chunks
        self._fail = fail
        self._answer: Answer | None = None if chunks is not None else extractive

    def __iter__(self) -> Iterator[str]:
        if self._chunks is None or self._answer is not None:
            return
        passages = len(self.extractive.citations)
        text = ""
        try:
            for chunk in self._chunks:
                if first_invalid(text + chunk, passages) is not None:
                    check_citations(text + chunk, passages)  # raises, saying what is wrong
                text += chunk
                yield chunk
            self._answer = generated(self.extractive, check_citations(text, passages))
        except Exception as exc:  # noqa: BLE001  (every failure: the extractive answer)
            if self._fail is None:
                raise
            self._answer = self._fail(self.extractive, exc)
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()

    @property
    def answer(self) -> Answer:
        """The final answer; reading it before the end consumes the rest of the reply."""
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None
        return self._answer


def generated(extractive: Answer, text: str) -> Answer:
    """The generated answer: the model's ``text``, the same numbered citations."""
    return replace(extractive, text=text, span=None, mode="llm", note=None)


class Generator:
    """Generated answers from the configured chat model (or an injected one, for tests)."""

    def __init__(self, config: LlmConfig | None = None,
                 model: BaseChatModel | None = None) -> None:
        self.config = config or LlmConfig()
        self._model = model
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        """True when a model is set up (``llm`` or ``llm_base_url``, or one was injected)."""
        return self._model is not None or self.config.configured

    def label(self) -> str:
        """The model as people read it ("" when none is configured)."""
        if self.config.configured:
            return model_label(self.config)
        return type(self._model).__name__ if self._model is not None else ""

    def chat_model(self) -> BaseChatModel:
        """The chat model, built on first use and kept."""
        with self._lock:
            if self._model is None:
                self._model = load_chat_model(self.config)
            return self._model

    def generate(self, answer: Answer) -> Answer:
        """The generated answer for ``answer``, or ``answer`` itself: unchanged when it is a
        refusal or no model is configured, with a ``note`` when the model's reply failed."""
        if answer.abstained or not answer.citations or not self.configured:
            return answer
        try:
            from .chain import answer_chain

            # built before the clock starts: importing a provider's package is not the model's
            # slowness (warm_up does it ahead of the first question)
            chain = answer_chain(self.chat_model(), len(answer.citations))
            inputs = prompt_inputs(answer, answer.citations)
            (text,) = list(within(self.config.timeout_s,
                                  lambda: iter([chain.invoke(inputs)])))
            return generated(answer, text)
        except Exception as exc:  # noqa: BLE001  (every failure: the extractive answer)
            return self.fallback(answer, exc)

    def stream(self, answer: Answer) -> GeneratedStream:
        """``answer`` generated chunk by chunk (nothing to iterate for refusals, or when no
        model is configured)."""
        if answer.abstained or not answer.citations or not self.configured:
            return GeneratedStream(answer)
        try:
            from .chain import text_chain

            chain = text_chain(self.chat_model())  # before the clock starts, as in generate
        except Exception as exc:  # noqa: BLE001  (e.g. the provider's package is missing)
            return GeneratedStream(self.fallback(answer, exc))
        inputs = prompt_inputs(answer, answer.citations)
        return GeneratedStream(answer, within(self.config.timeout_s,
                                              lambda: chain.stream(inputs)), self.fallback)

    def warm_up(self) -> None:
        """Build the configured chat model now (imports included), so the first generated
        answer does not wait for it; a failure is left for the first answer to note."""
        if self.configured:
            try:
                self.chat_model()
            except GenerationError as exc:
                log.info("the chat model is not ready: %s", exc.message)

    def fallback(self, answer: Answer, exc: BaseException) -> Answer:
        """``answer`` (extractive) with the one-line note saying why the model's was not used."""
        reason = (exc.message if isinstance(exc, GenerationError)
                  else one_line_reason(exc, self.config.api_key))
        # INFO, not WARNING: the note already tells the person; no traceback (it may hold a key)
        log.info("generated answer not used: %s", reason)
        return replace(answer, note=f"generated answer not used: {reason}; this is the "
                                    "extractive answer")
