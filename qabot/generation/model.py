"""The chat model the ``llm`` settings name, built on first use: LangChain and the provider's
package are imported here and nowhere else, so with ``llm`` unset none of them is loaded.

``llm_base_url`` set: langchain-openai's ``ChatOpenAI`` against that OpenAI-compatible server
(llama.cpp, vLLM, LM Studio, Ollama's /v1), ``llm`` naming the model it serves. Else ``llm`` is a
provider string for ``langchain.chat_models.init_chat_model`` ("ollama:llama3.2",
"openai:gpt-4o-mini"). The API key comes from the environment or .env (``config.Settings``),
and is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import GenerationError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

# What an OpenAI-compatible server is sent when it needs no key (the client insists on one).
NO_KEY = "not-needed"


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """The model settings (``service.llm_config`` reads them): ``model`` is the ``llm`` setting,
    ``base_url`` an OpenAI-compatible server; the key never shows in a repr."""

    model: str = ""
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0

    @property
    def configured(self) -> bool:
        """True when a model is named (generated answers are possible)."""
        return bool(self.model or self.base_url)


def model_label(config: LlmConfig) -> str:
    """The model as people read it: "llama3.2 at http://127.0.0.1:8080/v1", "ollama:llama3.2"."""
    if config.base_url:
        return f"{_served_name(config)} at {config.base_url}"
    return config.model


def _served_name(config: LlmConfig) -> str:
    # llama.cpp's server answers whatever the model is called; others need the name they serve.
    return config.model.removeprefix("openai:") or "default"


_CLIENT_GRACE_S = 5.0


def load_chat_model(config: LlmConfig) -> BaseChatModel:
    """The configured chat model; ``GenerationError`` when its package is missing or it cannot
    be built (the caller falls back to the extractive answer)."""
    key = config.api_key
    # One try, bounded: a retry would only make people wait longer for the extractive answer.
    # The client's own timeout is a backstop a little beyond qabot's deadline, which times the
    # whole reply and so always fires first with one message ("did not finish within N s").
    common: dict[str, Any] = {"timeout": config.timeout_s + _CLIENT_GRACE_S, "max_retries": 0}
    try:
        if config.base_url:
            from langchain_openai import ChatOpenAI

            return ChatOpenAI(model=_served_name(config), base_url=config.base_url,
                              api_key=key or NO_KEY, **common)  # type: ignore[arg-type]
        from langchain.chat_models import init_chat_model

        provider = config.model.partition(":")[0]
        if provider == "ollama":  # ChatOllama has no timeout or retries; qabot's deadline holds
            common = {}
        if key:
            common["api_key"] = key
        return init_chat_model(config.model, **common)
    except ImportError as exc:  # langchain's own message names the package to install
        hint = "; pip install 'qabot[llm]' or the provider's langchain package" if exc.name \
            else ""
        raise GenerationError(f"the model's package is missing: {one_line_reason(exc)}{hint}"
                              ) from None
    except Exception as exc:  # noqa: BLE001  (any provider's own error: one line, no key)
        raise GenerationError(f"the model {model_label(config)!r} cannot be set up: "
                              f"{one_line_reason(exc, key)}") from None


def one_line_reason(exc: BaseException, secret: str | None = None, limit: int = 160) -> str:
    """``exc`` as a short line for a note: its type and first line, ``secret`` masked."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if secret:
        text = text.replace(secret, "***")
    text = f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
    return text if len(text) <= limit else text[:limit - 1] + "…"
