"""How retrieved passages are cited in an answer: the answer's passage first, then the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..schema import Citation

if TYPE_CHECKING:
    from ..schema import Hit


def citation_from_hit(hit: Hit, score: float | None = None) -> Citation:
    """How ``hit`` is cited in an answer (with its retrieval score unless ``score`` is given)."""
    p = hit.passage
    return Citation(source=p.source, paragraph=p.paragraph, text=p.text,
                    score=hit.score if score is None else score, title=p.title, section=p.section,
                    published=p.date)


def answer_first(answer_hit: Hit, hits: list[Hit], k: int) -> tuple[Citation, ...]:
    """The top ``k`` citations, best first: the passage holding the answer, then the others by
    retrieval score. The answer step ranked the answer's passage above passages that retrieval
    scored higher, so it carries the best score of the list: the scores read best first, like
    the order (a passage retrieval put first keeps its own score)."""
    others = sorted((h for h in hits if h is not answer_hit), key=lambda h: h.score,
                    reverse=True)
    top = max(h.score for h in hits)
    return (citation_from_hit(answer_hit, score=max(answer_hit.score, top)),
            *(citation_from_hit(h) for h in others[: k - 1]))
