"""The evaluation harness behind ``qabot eval`` (see ``runner.py``)."""

from .runner import (
    EvalDataError,
    EvalQuestion,
    EvalReport,
    _ask_all,
    _build,
    _threshold_for,
    contains_answer,
    evaluate_jsonl,
    evaluate_squad,
    exact_match,
    f1_score,
    is_squad_file,
    load_questions_jsonl,
    load_squad,
    normalize_answer,
    sample,
)

__all__ = ["EvalDataError", "EvalQuestion", "EvalReport", "_ask_all", "_build", "_threshold_for",
           "contains_answer", "evaluate_jsonl", "evaluate_squad", "exact_match", "f1_score",
           "is_squad_file", "load_questions_jsonl", "load_squad", "normalize_answer", "sample"]
