"""The evaluation harness behind ``qabot eval``: load questions, run them, compute metrics.

Two inputs are understood:

* our JSON Lines format (``question``, ``answers``, ``support``, ``answerable`` per line), asked
  against an already built index (the configured one);
* SQuAD v1.1 / v2.0 JSON: the file's paragraphs become a temporary corpus (one plain-text seed
  file per article, first line the title, one paragraph per line), indexed with the real
  embedder into a temporary folder (or ``cache_dir``), then every sampled question is asked.

Metrics: paragraph Recall@1/@5 and MRR@10 (the gold paragraph among the top distinct
paragraphs), answer-sentence@1 (a gold answer inside ``answer``), span exact match and F1 with
the official SQuAD normalisation, refusal rates on v2.0's unanswerable questions and on
out-of-corpus questions (articles left out of the index), and the answer rate on in-corpus ones.
Nothing here prints; the CLI formats the report.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import random
import re
import shutil
import string
import tempfile
import time
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import corpus
from ..answer import AnswerConfig, Answerer
from ..text import fold
from ..embedding import Embedder
from ..errors import EvalDataError
from ..progress import ProgressFn
from ..index import Generation, IndexStore, build_index
from ..retriever import HybridRetriever, RetrievalConfig
from ..schema import Answer, Hit

if TYPE_CHECKING:
    from ..reader.model import OnnxReader

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_LIMIT = 1000
RECALL_DEPTH = 10


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """One question to ask; ``article``/``paragraph`` locate SQuAD's gold paragraph."""

    id: str
    question: str
    answers: tuple[str, ...]
    answerable: bool
    support: str = ""
    kind: str = ""
    article: int | None = None
    paragraph: int | None = None


@dataclass(frozen=True, slots=True)
class SquadSet:
    """A SQuAD file: article titles with their paragraphs, and the questions."""

    version: str
    articles: tuple[tuple[str, tuple[str, ...]], ...]
    questions: tuple[EvalQuestion, ...]


@dataclass
class EvalReport:
    """Numbers of one evaluation run (``metrics`` values are rates in [0, 1] unless named)."""

    file: str
    kind: str
    metrics: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: The same measures for other answer paths over the same retrieval (e.g. "reader off").
    variants: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON-able data."""
        return {"file": self.file, "kind": self.kind,
                "metrics": {k: round(v, 4) for k, v in self.metrics.items()},
                "variants": {name: {k: round(v, 4) for k, v in metrics.items()}
                             for name, metrics in self.variants.items()},
                "counts": self.counts, "settings": self.settings,
                "seconds": round(self.seconds, 1)}


# --------------------------------------------------------------------------- loading


def load_questions_jsonl(path: Path) -> list[EvalQuestion]:
    """Questions of a qabot eval JSONL file (one object per line)."""
    questions: list[EvalQuestion] = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDataError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question = str(record["question"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalDataError(f"{path}:{number}: not a qabot eval line ({exc})") from exc
        answers = tuple(str(a) for a in record.get("answers") or ())
        questions.append(EvalQuestion(
            id=str(record.get("id", number)), question=question, answers=answers,
            answerable=bool(record.get("answerable", bool(answers))),
            support=str(record.get("support") or ""), kind=str(record.get("kind") or "")))
    if not questions:
        raise EvalDataError(f"{path} holds no questions")
    return questions


def load_squad(path: Path) -> SquadSet:
    """Articles and questions of a SQuAD v1.1 or v2.0 JSON file."""
    try:
        data = json.loads(path.read_text("utf-8"))
        records = data["data"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise EvalDataError(f"{path} is not SQuAD JSON: {exc}") from exc
    articles: list[tuple[str, tuple[str, ...]]] = []
    questions: list[EvalQuestion] = []
    for a, record in enumerate(records):
        paragraphs = []
        for p, paragraph in enumerate(record["paragraphs"]):
            paragraphs.append(paragraph["context"])
            for qa in paragraph["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers = tuple(dict.fromkeys(x["text"] for x in qa.get("answers", [])))
                questions.append(EvalQuestion(
                    id=str(qa["id"]), question=qa["question"], answers=answers,
                    answerable=not impossible and bool(answers), article=a, paragraph=p))
        articles.append((str(record.get("title", f"article {a}")).replace("_", " "),
                         tuple(paragraphs)))
    return SquadSet(version=str(data.get("version", "")), articles=tuple(articles),
                    questions=tuple(questions))


def is_squad_file(path: Path) -> bool:
    """True when ``path`` looks like SQuAD JSON (a JSON object with ``data``), not JSONL."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096)
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDataError(f"cannot read {path}: {exc}") from exc
    return head.lstrip().startswith("{") and '"data"' in head and path.suffix != ".jsonl"


def sample(items: Sequence[EvalQuestion], limit: int | None,
           seed: int | None = None) -> list[EvalQuestion]:
    """``limit`` questions spread evenly over ``items`` (or a random sample when ``seed``)."""
    if limit is None or limit <= 0 or limit >= len(items):
        return list(items)
    if seed is not None:
        picked = sorted(random.Random(seed).sample(range(len(items)), limit))
    else:
        picked = [i * len(items) // limit for i in range(limit)]
    return [items[i] for i in picked]


# --------------------------------------------------------------------------- SQuAD scoring


def normalize_answer(text: str) -> str:
    """Official SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    norm = normalize_answer(prediction)
    return float(any(norm == normalize_answer(g) for g in golds))


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Best token-overlap F1 of ``prediction`` against the gold answers (SQuAD's definition)."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        truth = normalize_answer(gold).split()
        common = collections.Counter(pred) & collections.Counter(truth)
        same = sum(common.values())
        if not pred or not truth:
            best = max(best, float(pred == truth))
            continue
        if same == 0:
            continue
        precision, recall = same / len(pred), same / len(truth)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(text: str | None, golds: Sequence[str]) -> bool:
    """True when a gold answer occurs in ``text`` (SQuAD normalisation, accents and "3,800" =
    "3800" folded)."""
    if not text:
        return False
    haystack = _loose(text)
    return any(_loose(g) in haystack for g in golds if _loose(g))


def _loose(text: str) -> str:
    """``text`` folded (accents, quotes, digit groups) and SQuAD-normalised, for containment."""
    return normalize_answer(unicodedata.normalize("NFC", fold(text)))


# --------------------------------------------------------------------------- running


@dataclass
class _Outcome:
    """One asked question: what qabot answered and where the gold paragraph ranked."""

    question: EvalQuestion
    answer: Answer
    ranks: list[tuple[int, int]]  # (article, paragraph) of the top distinct paragraphs


def _ask_all(questions: Sequence[EvalQuestion], generation: Generation,
             answerers: Mapping[str, Answerer], locate: Callable[[Hit], tuple[int, int] | None],
             progress: ProgressFn | None, stage: str) -> dict[str, list[_Outcome]]:
    """Ask every question (embedded in one batch) once per answerer, over the same retrieval;
    ``locate`` maps a hit to its SQuAD paragraph."""
    first = next(iter(answerers.values()))
    embedder = first.retriever.embedder
    vectors = embedder.embed_documents([q.question for q in questions])
    outcomes: dict[str, list[_Outcome]] = {name: [] for name in answerers}
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
            outcomes[name].append(_Outcome(question, answer, ranks))
        if progress is not None and (n % 20 == 0 or n == len(questions)):
            progress(stage, n, len(questions))
    return outcomes


def _share(items: Sequence[T], predicate: Callable[[T], bool]) -> float:
    """The share of ``items`` for which ``predicate`` holds (0.0 for none)."""
    return sum(1 for item in items if predicate(item)) / len(items) if items else 0.0


def _locator(mapping: dict[tuple[str, int], tuple[int, int]]
             ) -> Callable[[Hit], tuple[int, int] | None]:
    """Hit → (article, SQuAD paragraph) through a ``_paragraph_map``."""
    return lambda hit: mapping.get((hit.passage.source, hit.passage.paragraph))


def _squad_metrics(outcomes: Sequence[_Outcome]) -> dict[str, float]:
    """Retrieval, answer-sentence, span and refusal rates of SQuAD outcomes."""
    answerable = [o for o in outcomes if o.question.answerable]
    metrics: dict[str, float] = {}
    if answerable:
        def rank_of(o: _Outcome) -> int | None:
            gold = (o.question.article, o.question.paragraph)
            return o.ranks.index(gold) + 1 if gold in o.ranks else None

        ranks = [rank_of(o) for o in answerable]
        n = len(answerable)
        metrics["recall@1"] = _share(ranks, lambda r: r == 1)
        metrics["recall@5"] = _share(ranks, lambda r: r is not None and r <= 5)
        metrics["mrr@10"] = sum(1 / r for r in ranks if r is not None) / n
        metrics["answer_sentence@1"] = _share(
            answerable, lambda o: contains_answer(o.answer.text, o.question.answers))
        metrics["answer_sentence@1_if_answered"] = _share(answerable, lambda o: contains_answer(
            o.answer.text or o.answer.debug.get("sentence"), o.question.answers))
        # Only the ``span`` field counts: a refusal or an answer without a span scores 0.
        predictions = [o.answer.span or "" for o in answerable]
        metrics["span_em"] = sum(exact_match(p, o.question.answers)
                                 for p, o in zip(predictions, answerable)) / n
        metrics["span_f1"] = sum(f1_score(p, o.question.answers)
                                 for p, o in zip(predictions, answerable)) / n
        metrics["span_given"] = _share(answerable, lambda o: bool(o.answer.span))
        metrics["answered"] = _share(answerable, lambda o: not o.answer.abstained)
    impossible = [o for o in outcomes if not o.question.answerable]
    if impossible:
        metrics["unanswerable_refused"] = _share(impossible, lambda o: o.answer.abstained)
    return metrics


def _threshold_for(confidences: Sequence[float], answer_rate: float) -> float:
    """The highest threshold that still answers ``answer_rate`` of ``confidences``."""
    if not confidences:
        return 0.0
    ordered = sorted(confidences)
    cut = math.floor((1 - answer_rate) * len(ordered))
    return float(ordered[min(cut, len(ordered) - 1)])


def write_squad_seeds(squad: SquadSet, folder: Path,
                      articles: Sequence[int] | None = None) -> dict[str, int]:
    """One plain-text seed per article (title line, one paragraph per line); returns the seed
    file name → article number map."""
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, int] = {}
    for a in (range(len(squad.articles)) if articles is None else articles):
        title, paragraphs = squad.articles[a]
        name = f"a{a:04d}.txt"
        lines = [title] + [" ".join(p.split()) for p in paragraphs]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        names[name] = a
    return names


def _paragraph_map(squad: SquadSet, folder: Path,
                   names: dict[str, int]) -> dict[tuple[str, int], tuple[int, int]]:
    """(seed file, parsed paragraph number) → (article, SQuAD paragraph), matched by text so a
    paragraph the parser reads differently is simply never counted as found."""
    mapping: dict[tuple[str, int], tuple[int, int]] = {}
    seeds = {seed.name: seed for seed in corpus.discover(folder)}
    for name, a in names.items():
        wanted = {_text_key(p): i for i, p in enumerate(squad.articles[a][1])}
        parsed, _ = corpus.read_file(seeds[name])
        for article in parsed:
            for paragraph in article.paragraphs:
                index = wanted.get(_text_key(paragraph.text))
                if index is not None:
                    mapping[(name, paragraph.number)] = (a, index)
    return mapping


def _text_key(text: str) -> str:
    """``text`` without whitespace, invisible or control characters, NFC: how a paragraph is
    recognised after the corpus reader has cleaned it."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", text))


_INVISIBLE = re.compile(r"[\s\x00-\x1f\x7f\u200b-\u200d\u2060\ufeff\u00ad]+")


def _build(squad: SquadSet, work: Path, embedder: Embedder, articles: Sequence[int] | None,
           label: str, progress: ProgressFn | None, reuse_from: Path | None = None
           ) -> tuple[Generation, dict[tuple[str, int], tuple[int, int]]]:
    seeds = work / f"seeds-{label}"
    index_dir = work / f"index-{label}"
    names = write_squad_seeds(squad, seeds, articles)
    if reuse_from is not None and not index_dir.exists() and (reuse_from / "CURRENT").is_file():
        # Start from a copy of a bigger index so unchanged paragraphs are not re-embedded.
        shutil.copytree(reuse_from, index_dir, ignore=shutil.ignore_patterns(".build.lock"))
    build_index(seeds, index_dir, embedder, progress=progress)
    generation = IndexStore(index_dir).open_current(model_id=embedder.model_id)
    return generation, _paragraph_map(squad, seeds, names)


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
        generation, where = _build(squad, work, embedder, None, f"{stem}-all", progress)
        try:
            questions = sample(pool, limit, seed)
            outcomes = _ask_all(questions, generation, answerers, _locator(where), progress,
                                "questions")
        finally:
            generation.close()
        metrics = {name: _squad_metrics(found) for name, found in outcomes.items()}
        first = next(iter(outcomes.values()))
        report.counts.update({
            "articles": len(squad.articles),
            "paragraphs": sum(len(p) for _, p in squad.articles),
            "questions": len(first),
            "answerable": sum(o.question.answerable for o in first),
            "unanswerable": sum(not o.question.answerable for o in first)})
        if out_of_corpus and len(squad.articles) >= 2:
            kept = list(range(0, len(squad.articles), 2))
            kept_set = set(kept)
            half, where_half = _build(squad, work, embedder, kept, f"{stem}-half", progress,
                                      reuse_from=work / f"index-{stem}-all")
            try:
                answerable = [q for q in pool if q.answerable]
                inside = sample([q for q in answerable if q.article in kept_set], limit, seed)
                outside = sample([q for q in answerable if q.article not in kept_set], limit,
                                 seed)
                asked = _ask_all(inside + outside, half, answerers, _locator(where_half),
                                 progress, "out-of-corpus")
            finally:
                half.close()
            for name, found in asked.items():
                metrics[name].update(_out_of_corpus_metrics(
                    [o.answer for o in found[:len(inside)]],
                    [o.answer for o in found[len(inside):]]))
            report.counts.update({"in_corpus_questions": len(inside),
                                  "out_of_corpus_questions": len(outside)})
    report.metrics = metrics.pop(next(iter(answerers)))
    report.variants = metrics
    report.seconds = time.perf_counter() - started
    return report


def _out_of_corpus_metrics(in_answers: Sequence[Answer],
                           out_answers: Sequence[Answer]) -> dict[str, float]:
    """Answered share in corpus, refused share out of corpus, and the calibration aid: the
    threshold that would answer 95 % in corpus and what it would refuse outside."""
    if not in_answers or not out_answers:  # both halves must hold answerable questions
        return {}
    suggested = _threshold_for([a.confidence for a in in_answers], 0.95)
    return {"in_corpus_answered": _share(in_answers, lambda a: not a.abstained),
            "out_of_corpus_refused": _share(out_answers, lambda a: a.abstained),
            "threshold_for_95%_answered": suggested,
            "out_of_corpus_refused_at_that_threshold": _share(
                out_answers, lambda a: a.confidence < suggested)}


def evaluate_jsonl(path: Path, generation: Generation, answerer: Answerer, *,
                   limit: int | None = None, seed: int | None = None,
                   progress: ProgressFn | None = None) -> EvalReport:
    """Ask a qabot eval JSONL file's questions against ``generation`` and score them."""
    started = time.perf_counter()
    questions = sample(load_questions_jsonl(path), limit, seed)
    outcomes = _ask_all(questions, generation, {"qabot": answerer}, lambda hit: None, progress,
                        "questions")["qabot"]
    answerable = [o for o in outcomes if o.question.answerable]
    impossible = [o for o in outcomes if not o.question.answerable]
    report = EvalReport(file=str(path), kind="qabot jsonl", settings={
        "limit": limit, "seed": seed,
        "reader": "on" if answerer.reader else "off"})
    if answerable:
        report.metrics["answered_correctly"] = _share(answerable, lambda o: (
            not o.answer.abstained and contains_answer(
                f"{o.answer.text} {o.answer.span or ''}", o.question.answers)))
        report.metrics["support_cited"] = _share(answerable, lambda o: (
            not o.answer.abstained and bool(o.question.support)
            and any(_loose(o.question.support) in _loose(c.text)
                    for c in o.answer.citations[:1])))
        report.metrics["span_given"] = _share(answerable, lambda o: bool(o.answer.span))
        report.metrics["answered"] = _share(answerable, lambda o: not o.answer.abstained)
    if impossible:
        report.metrics["out_of_corpus_refused"] = _share(impossible, lambda o: o.answer.abstained)
    report.counts.update({"questions": len(outcomes), "answerable": len(answerable),
                          "unanswerable": len(impossible)})
    report.seconds = time.perf_counter() - started
    return report
