"""The composition root: ``build_service(settings)`` wires settings, embedder, index, retriever,
answerer and conversations once, and every front end talks to the resulting ``QabotService``.

Front ends use the service's methods and ``settings`` only; its parts (``embedder``, ``store``,
``retriever``, ``answerer``, ``reader``) stay attributes for tests and the benchmarks.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .answer import AnswerConfig, Answerer
from .answer.terms import with_topic
from .conversation import Conversation
from .config import Settings, prepare_environment
from .embedding import Embedder, OnnxEmbedder, load_embedder
from .errors import IndexCorruptError
from .generation import GeneratedStream, Generator, LlmConfig
from .progress import ProgressFn
from .index import BuildReport, Generation, IndexStore, build_index
from .retriever import HybridRetriever, RetrievalConfig
from .schema import Answer, ArticleFilter, Hit

if TYPE_CHECKING:
    from collections.abc import Collection
    from pathlib import Path

    from .evaluation import EvalReport
    from .distributed import RayEngine
    from .reader.model import OnnxReader

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What ``:stats`` and ``/start`` tell people about the loaded index."""

    articles: int
    passages: int
    sentences: int
    model_id: str
    generation: str
    created_at: str
    newest: str | None  # the newest article's title (the last one indexed when none is dated)
    newest_published: str | None = None  # its publication date (ISO 8601), when known


@dataclass(frozen=True, slots=True)
class ArticleRow:
    """One article as ``qabot stats`` lists it: file, title, publication date, passages."""

    source: str
    title: str
    published: str | None
    passages: int


class QabotService:
    """One qabot instance: answers questions and rebuilds its index.

    The live generation is swapped in between questions when ``CURRENT`` changes; a question in
    flight keeps the generation it started with.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or load_embedder(settings.model, batch_size=settings.batch_size,
                                                    encoder=settings.encoder,
                                                    cache_dir=settings.cache_dir,
                                                    threads=settings.encoder_threads)
        self.store = IndexStore(settings.index_dir)
        self.retriever = HybridRetriever(self.embedder, RetrievalConfig(
            candidates=settings.candidates, fusion=settings.fusion, rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight, sentence_weight=settings.sentence_weight))
        self.reader = load_reader(settings)
        self.answerer = Answerer(self.retriever, answer_config(settings), reader=self.reader)
        self.generator = Generator(llm_config(settings))  # the chat model loads on first use
        self._generation: Generation | None = None
        self._lock = threading.Lock()

    def generation(self) -> Generation:
        """The live generation, reopened if a newer build has replaced it since the last call."""
        current = self.store.current_name()
        with self._lock:
            if self._generation is None or current != self._generation.name:
                fresh = self.store.open_current(model_id=self.embedder.model_id)
                if self._generation is not None:
                    log.info("switching from %s to %s", self._generation.name, fresh.name)
                self._generation = fresh
            return self._generation

    def check_index(self) -> None:
        """Open the live index now: raises the domain error (no index, another model, damaged)
        before a front end starts waiting on input."""
        self.generation()

    def live_generation_name(self) -> str | None:
        """The name ``CURRENT`` points at now (None before the first build)."""
        return self.store.current_name()

    def article_passage_counts(self) -> list[tuple[str, str, int]]:
        """``(file, title, passages)`` for every article of the live index."""
        return self.generation().article_passage_counts()

    def article_rows(self) -> list[ArticleRow]:
        """Every article of the live index with its publication date and passage count, newest
        first (undated ones last)."""
        return [ArticleRow(a.source, a.title, a.date, a.passages)
                for a in self.generation().article_summaries()]

    def prepare(self) -> Path | None:
        """Export the ONNX encoder now (cached) and return its file; None when the encoder
        needs no preparation (torch, or a model ONNX cannot run)."""
        if isinstance(self.embedder, OnnxEmbedder):
            return self.embedder.prepare()
        return None

    def warm_up(self) -> None:
        """Open the index and load the model now, so the first question is answered at full speed."""
        self.generation()
        self.embedder.embed_query("warm up")
        if self.reader is not None:
            self.reader.warm_up()
        self.generator.warm_up()  # nothing to do unless a chat model is configured

    def has_index(self) -> bool:
        """True once a build has produced a live generation (False while ``CURRENT`` is
        damaged, so front ends that build a missing index also repair it)."""
        try:
            return self.store.current_name() is not None
        except IndexCorruptError:
            return False

    @property
    def llm_configured(self) -> bool:
        """True when generated answers are possible (a chat model is configured)."""
        return self.generator.configured

    def default_mode(self) -> str:
        """The answer mode a new conversation starts in: "llm" when a model is configured."""
        return "llm" if self.generator.configured else "extractive"

    def ask(self, question: str, k: int | None = None,
            conversation: Conversation | None = None,
            article_filter: ArticleFilter | None = None, mode: str = "extractive") -> Answer:
        """Answer one question (a follow-up when ``conversation`` holds a live topic), from the
        articles ``article_filter`` lets through (``NoArticlesMatchError`` when none). With
        ``mode="llm"`` the model writes it from the cited passages (see ``generation``)."""
        answer = self._extractive(question, k, conversation, article_filter)
        return self.generator.generate(answer) if mode == "llm" else answer

    def ask_streaming(self, question: str, k: int | None = None,
                      conversation: Conversation | None = None,
                      article_filter: ArticleFilter | None = None,
                      mode: str = "llm") -> GeneratedStream:
        """``ask`` with the model's reply as it is written: the extractive answer is found here,
        the model runs while the stream is iterated (nothing to iterate in "extractive" mode or
        for a refusal: the stream's ``answer`` is the extractive one)."""
        answer = self._extractive(question, k, conversation, article_filter)
        return self.generator.stream(answer) if mode == "llm" else GeneratedStream(answer)

    def _extractive(self, question: str, k: int | None, conversation: Conversation | None,
                    article_filter: ArticleFilter | None) -> Answer:
        # Undecodable input arrives as lone surrogates, which the tokenizer refuses; a "?" in
        # their place keeps the rest of the question answerable.
        question = question.encode("utf-8", "replace").decode("utf-8")
        generation = self.generation()
        wording = self.answerer.check_wording(generation, question)
        topic = conversation.topic(wording.text) if conversation else None
        answer = self.answerer.answer(generation, question, k=k, topic=topic,
                                      wording=wording, article_filter=article_filter)
        if conversation is not None and wording.english:
            conversation.remember(wording.text, with_topic(wording.text, topic), answer)
        return answer

    def search(self, query: str, k: int = 4,
               article_filter: ArticleFilter | None = None) -> list[Hit]:
        """The best ``k`` passages for ``query`` (no answer extraction)."""
        return self.retriever.search(self.generation(), query, k=k, article_filter=article_filter)

    def index(self, rebuild: bool = False, progress: ProgressFn | None = None,
              lock_wait_seconds: float | None = None) -> BuildReport:
        """Bring the index up to date with the seeds folder (incremental unless ``rebuild``)."""
        def build(engine: RayEngine | None = None) -> BuildReport:
            return build_index(
                self.settings.seeds_dir, self.settings.index_dir, self.embedder,
                rebuild=rebuild, max_file_bytes=int(self.settings.max_file_mb * 2**20),
                progress=progress, lock_wait_seconds=lock_wait_seconds,
                follow_external_links=self.settings.follow_external_links,
                vector_source=engine.vectors if engine else None,
                seed_parser=engine.parse if engine else None)

        if self.settings.build_engine == "local":
            return build()
        with self._ray_engine() as engine:
            return build(engine)

    def _ray_engine(self) -> RayEngine:
        """The Ray cluster the settings name, where new files are parsed and new vectors
        computed."""
        from .distributed import EncoderSpec, RayEngine, RayOptions

        s = self.settings
        return RayEngine(
            RayOptions(address=s.ray_address, actors=s.ray_actors, actor_cpus=s.ray_actor_cpus,
                       batch_passages=s.ray_batch_passages,
                       connect_timeout_s=s.ray_connect_timeout_s,
                       window_files=s.ray_window_files,
                       window_passages=s.ray_window_passages),
            EncoderSpec(model=s.model, batch_size=s.batch_size, encoder=s.encoder,
                        cache_dir=s.cache_dir, model_id=self.embedder.model_id,
                        pools_sentences=self.embedder.pools_sentences))

    def stats(self) -> IndexStats:
        """Counts, model and generation of the live index."""
        generation = self.generation()
        manifest = generation.manifest
        articles = generation.articles()
        dated = [a for a in articles if a[2]]
        newest = (dated[0] if dated else articles[-1]) if articles else None
        return IndexStats(articles=manifest["counts"]["articles"],
                          passages=manifest["counts"]["passages"],
                          sentences=manifest["counts"]["sentences"],
                          model_id=manifest["model_id"], generation=generation.name,
                          created_at=manifest["created_at"],
                          newest=newest[1] if newest else None,
                          newest_published=newest[2] if newest else None)

    def evaluate_questions(self, path: Path, *, limit: int | None = None,
                           seed: int | None = None,
                           progress: ProgressFn | None = None) -> EvalReport:
        """Score qabot's eval JSONL ``path`` against the live index (``limit`` questions evenly
        spread, or sampled with ``seed``; None asks them all)."""
        from .evaluation import evaluate_jsonl

        return evaluate_jsonl(path, self.generation(), self.answerer, limit=limit, seed=seed,
                              progress=progress)

    def evaluate_squad(self, path: Path, *, articles: Collection[str] | None = None,
                       limit: int | None = None, seed: int | None = None,
                       out_of_corpus: bool = True, cache_dir: Path | None = None,
                       progress: ProgressFn | None = None) -> EvalReport:
        """Index SQuAD ``path``'s paragraphs in a temporary folder with this service's model,
        retrieval and answer settings, and score its questions (``limit``: None asks them all;
        the rest as ``evaluate.evaluate_squad``)."""
        from .evaluation import evaluate_squad

        return evaluate_squad(path, self.embedder, self.retriever.config, self.answerer.config,
                              reader=self.reader, articles=articles, limit=limit, seed=seed,
                              out_of_corpus=out_of_corpus, cache_dir=cache_dir,
                              progress=progress)


def answer_config(settings: Settings) -> AnswerConfig:
    """The answer-selection knobs of ``settings``."""
    return AnswerConfig(abstain_threshold=settings.abstain_threshold, top_k=settings.top_k,
                        reader_passages=settings.reader_passages,
                        reader_threshold=settings.reader_threshold, spelling=settings.spelling)


def llm_config(settings: Settings) -> LlmConfig:
    """The language-model settings of ``settings`` (generated answers; off when unnamed)."""
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return LlmConfig(model=settings.llm, base_url=settings.llm_base_url, api_key=key,
                     timeout_s=settings.llm_timeout_s)


def load_reader(settings: Settings) -> OnnxReader | None:
    """The reader ``settings`` ask for (checksum-checked), or None with ``reader = "off"``."""
    if settings.reader == "off":
        return None
    from .config import DEFAULT_MODEL
    from .embedding import resolve_model_dir
    from .reader.model import SHIPPED_READER_DIR, OnnxReader

    # The reader was trained on all-MiniLM-L6-v2's word pieces, whatever encodes the index.
    return OnnxReader(settings.reader_dir or SHIPPED_READER_DIR,
                      resolve_model_dir(DEFAULT_MODEL) / "tokenizer.json")


def build_service(settings: Settings, embedder: Embedder | None = None) -> QabotService:
    """Wire a service from settings (heavy resources still load lazily). Logging is the front
    end's to configure (``render.configure_logging``)."""
    prepare_environment()
    return QabotService(settings, embedder=embedder)
