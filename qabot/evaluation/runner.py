"""Running an evaluation: every question through retrieval and the answer path, once per answer
path over the same retrieval, into an ``EvalReport``.

* Our JSON Lines questions are asked against an already built index (the configured one).
* A SQuAD v1.1 / v2.0 file's paragraphs become a temporary corpus (``squad_index.py``), indexed
  with the real embedder into a temporary folder (or ``cache_dir``), then every sampled question
  is asked.

Metrics (``report.py``): paragraph Recall@1/@5 and MRR@10 (the gold paragraph among the top
distinct paragraphs), answer-sentence@1 (a gold answer inside ``answer``), span exact match and F1
with the official SQuAD normalisation, refusal rates on v2.0's unanswerable questions and on
out-of-corpus questions (articles left out of the index), and the answer rate on in-corpus ones.
Nothing here prints; the CLI formats the report.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..answer import Answerer
from ..errors import EvalDataError
from ..retriever import HybridRetriever
from .data import load_questions_jsonl, load_squad, sample
from .report import EvalReport, Outcome, jsonl_metrics, out_of_corpus_metrics, squad_metrics
from .squad_index import build_squad_index, locator

if TYPE_CHECKING:
    from ..answer import AnswerConfig
    from ..embedding import Embedder
    from ..index import Generation
    from ..progress import ProgressFn
    from ..reader.model import OnnxReader
    from ..retriever import RetrievalConfig
    from ..schema import Hit
    from .data import EvalQuestion, SquadSet

DEFAULT_LIMIT = 1000
RECALL_DEPTH = 10


def ask_all(questions: Sequence[EvalQuestion], generation: Generation,
            answerers: Mapping[str, Answerer], locate: Callable[[Hit], tuple[int, int] | None],
            progress: ProgressFn | None, stage: str) -> dict[str, list[Outcome]]:
    """Ask every question (embedded in one batch) once per answerer, over the same retrieval;
    ``locate`` maps a hit to its SQuAD paragraph."""
    first = next(iter(answerers.values()))
    embedder = first.retriever.embedder
    vectors = embedder.embed_documents([q.question for q in questions])
    outcomes: dict[str, list[Outcome]] = {name: [] for name in answerers}
    for n, (question, vector) in enumerate(zip(questions, vectors), start=1):
        wording = first.check_wording(generation, question.question)
        if wording.corrections:
            vector = embedder.embed_query(wording.text)
        hits = first.retriever.search(generation, wording.text, k=RECALL_DEPTH,
                                      query_vector=vector)
        ranks = [loc for loc in (locate(h) for h in hits) if loc is not None]
        for name, answerer in answerers.items():
            answer = answerer.answer(generation, question.question, query_vector=vector,
                                     hits=hits, wording=wording)
            outcomes[name].append(Outcome(question, answer, ranks))
        if progress is not None and (n % 20 == 0 or n == len(questions)):
            progress(stage, n, len(questions))
    return outcomes


def evaluate_squad(path: Path, embedder: Embedder, retrieval: RetrievalConfig,
                   answering: AnswerConfig, *, reader: OnnxReader | None = None,
                   articles: Collection[str] | None = None,
                   limit: int | None = DEFAULT_LIMIT, seed: int | None = None,
                   out_of_corpus: bool = True, cache_dir: Path | None = None,
                   progress: ProgressFn | None = None) -> EvalReport:
    """Index ``path``'s paragraphs, ask its (sampled) questions and score them.

    Retrieval always runs over every article of the file; with ``articles`` (titles) only
    questions about those are asked, e.g. the ones the reader never saw. With a ``reader`` the
    answers come from it, and ``report.variants["reader off"]`` holds the pattern path's figures
    over the same retrieval. With ``out_of_corpus``, a second index holds every other article
    only; questions from the articles left out must be refused while those from the indexed
    ones are still answered.
    """
    started = time.perf_counter()
    squad = load_squad(path)
    retriever = HybridRetriever(embedder, retrieval)
    answerers = {"reader on" if reader else "reader off": Answerer(retriever, answering, reader)}
    if reader is not None:
        answerers["reader off"] = Answerer(retriever, answering)
    wanted = set(articles) if articles is not None else None
    pool = [q for q in squad.questions
            if wanted is None or squad.articles[q.article or 0][0] in wanted]
    if not pool:
        raise EvalDataError(f"{path} holds no questions about the articles asked for",
                            hint="pass --articles all")
    report = EvalReport(file=str(path), kind=f"squad {squad.version}".strip(), settings={
        "limit": limit, "seed": seed, "fusion": retrieval.fusion,
        "candidates": retrieval.candidates, "reader": "on" if reader else "off",
        "articles": "all" if wanted is None else f"{len(wanted & {t for t, _ in squad.articles})}"
                                                 " chosen",
        "threshold": answering.reader_threshold if reader else answering.abstain_threshold})
    with tempfile.TemporaryDirectory(prefix="qabot-eval-") as tmp:
        work = cache_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"\W+", "-", path.stem)
        generation, where = build_squad_index(squad, work, embedder, None, f"{stem}-all",
                                              progress)
        try:
            outcomes = ask_all(sample(pool, limit, seed), generation, answerers, locator(where),
                               progress, "questions")
        finally:
            generation.close()
        metrics = {name: squad_metrics(found) for name, found in outcomes.items()}
        first = next(iter(outcomes.values()))
        report.counts.update({
            "articles": len(squad.articles),
            "paragraphs": sum(len(p) for _, p in squad.articles),
            "questions": len(first),
            "answerable": sum(o.question.answerable for o in first),
            "unanswerable": sum(not o.question.answerable for o in first)})
        if out_of_corpus and len(squad.articles) >= 2:
            report.counts.update(_ask_out_of_corpus(squad, pool, answerers, metrics, work, stem,
                                                    limit, seed, progress))
    report.metrics = metrics.pop(next(iter(answerers)))
    report.variants = metrics
    report.seconds = time.perf_counter() - started
    return report


def _ask_out_of_corpus(squad: SquadSet, pool: Sequence[EvalQuestion],
                       answerers: Mapping[str, Answerer], metrics: dict[str, dict[str, float]],
                       work: Path, stem: str, limit: int | None, seed: int | None,
                       progress: ProgressFn | None) -> dict[str, int]:
    """Ask answerable questions over an index of every other article (built from a copy of the
    whole file's index): those about indexed articles must be answered, the others refused.
    Adds the measures to ``metrics`` (per answerer) and returns the question counts."""
    embedder = next(iter(answerers.values())).retriever.embedder
    kept = list(range(0, len(squad.articles), 2))
    kept_set = set(kept)
    half, where_half = build_squad_index(squad, work, embedder, kept, f"{stem}-half", progress,
                                         reuse_from=work / f"index-{stem}-all")
    try:
        answerable = [q for q in pool if q.answerable]
        inside = sample([q for q in answerable if q.article in kept_set], limit, seed)
        outside = sample([q for q in answerable if q.article not in kept_set], limit, seed)
        asked = ask_all(inside + outside, half, answerers, locator(where_half), progress,
                        "out-of-corpus")
    finally:
        half.close()
    for name, found in asked.items():
        metrics[name].update(out_of_corpus_metrics([o.answer for o in found[:len(inside)]],
                                                   [o.answer for o in found[len(inside):]]))
    return {"in_corpus_questions": len(inside), "out_of_corpus_questions": len(outside)}


def evaluate_jsonl(path: Path, generation: Generation, answerer: Answerer, *,
                   limit: int | None = None, seed: int | None = None,
                   progress: ProgressFn | None = None) -> EvalReport:
    """Ask a qabot eval JSONL file's questions against ``generation`` and score them."""
    started = time.perf_counter()
    questions = sample(load_questions_jsonl(path), limit, seed)
    outcomes = ask_all(questions, generation, {"qabot": answerer}, lambda hit: None, progress,
                       "questions")["qabot"]
    answerable = sum(o.question.answerable for o in outcomes)
    report = EvalReport(file=str(path), kind="qabot jsonl", settings={
        "limit": limit, "seed": seed,
        "reader": "on" if answerer.reader else "off"}, metrics=jsonl_metrics(outcomes))
    report.counts.update({"questions": len(outcomes), "answerable": answerable,
                          "unanswerable": len(outcomes) - answerable})
    report.seconds = time.perf_counter() - started
    return report
