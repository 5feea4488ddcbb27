"""Scoring the sentences of retrieved passages as answer sentences.

A sentence's score adds its cosine to the question (sentence vectors are precomputed at index
time), the IDF-weighted share of the question's words it holds, alone and with the sentence
before it ("He ..." → the name said before), its passage's retrieval score relative to the best
passage, and whether it holds the kind of thing asked for. The weights were fitted on SQuAD v1.1
dev with ``qabot eval`` (README "How answers are chosen").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .spans import Kind, kind_match
from .terms import QuestionTerms, word_stems

if TYPE_CHECKING:
    import numpy as np

    from ..index import Generation
    from ..reader.model import Span
    from ..schema import Hit

_W_COSINE = 1.0
_W_OVERLAP = 0.6  # question words in the sentence
_W_CONTEXT = 0.4  # ... in the sentence and the one before it ("He" → the name said before)
_IDF_POWER = 2.0  # overlaps weight words by IDF squared: the rare words of a question decide
_W_PASSAGE = 0.5  # the passage's retrieval score relative to the best passage
_W_KIND = 0.2


@dataclass(frozen=True, slots=True)
class Candidate:
    """A scored sentence: its passage, character span and scores."""

    hit: Hit
    start: int
    end: int
    score: float
    cosine: float
    previous: tuple[int, int] | None = None  # the sentence before, for "He ..." answers

    @property
    def text(self) -> str:
        """The sentence itself."""
        return self.hit.passage.text[self.start:self.end]


def score_sentences(generation: Generation, hits: list[Hit], query_vector: np.ndarray,
                    terms: QuestionTerms, kind: Kind) -> dict[int, list[Candidate]]:
    """Every sentence of ``hits`` by passage row, scored (README "How answers are chosen")."""
    spans = generation.sentences([h.passage.row for h in hits])
    top_score = hits[0].score or 1.0
    scored: dict[int, list[Candidate]] = {}
    for hit in hits:
        rows = spans.get(hit.passage.row) or []
        if not rows:
            continue
        vectors = generation.sentence_vectors[[r for r, _, _ in rows]]
        cosines = vectors @ query_vector
        relative = hit.score / top_score if top_score > 0 else 0.0
        stems = [set(word_stems(hit.passage.text[start:end])) for _, start, end in rows]
        found = scored.setdefault(hit.passage.row, [])
        for j, ((_, start, end), cosine) in enumerate(zip(rows, cosines)):
            sentence = hit.passage.text[start:end]
            context = stems[j] | stems[j - 1] if j else stems[j]
            score = (_W_COSINE * float(cosine)
                     + _W_OVERLAP * terms.coverage(stems[j], _IDF_POWER)
                     + _W_CONTEXT * terms.coverage(context, _IDF_POWER)
                     + _W_PASSAGE * relative + _W_KIND * kind_match(sentence, kind))
            previous = (rows[j - 1][1], rows[j - 1][2]) if j else None
            found.append(Candidate(hit, start, end, score, float(cosine), previous))
    return scored


def best_of(scored: dict[int, list[Candidate]]) -> Candidate | None:
    """The highest-scoring sentence of ``scored`` (the first on ties), or None."""
    return max((c for cs in scored.values() for c in cs), key=lambda c: c.score, default=None)


def sentence_holding(hit: Hit, sentences: list[Candidate], span: Span) -> Candidate:
    """The scored sentence of ``hit`` in which ``span`` starts, extended to the end of the
    sentence where it ends should it cross one (the whole passage when the index holds no
    sentence spans for it)."""
    if not sentences:
        return Candidate(hit, 0, len(hit.passage.text), 0.0, hit.dense_score or 0.0)
    first = next((c for c in sentences if span.start < c.end), sentences[-1])
    last = next((c for c in sentences if span.end <= c.end), sentences[-1])
    return dataclasses.replace(first, end=max(first.end, last.end))
