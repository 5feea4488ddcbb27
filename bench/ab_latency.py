"""A/B of warm per-question latency between two checkouts on the same machine, interleaved.

Each tree indexes its own seeds/ once, then in every round each tree starts one
``qabot ask --json`` process that answers the seed questions (twice over) from stdin; a question
is timed from writing its line to reading its JSON answer, the first 3 are dropped, and the
round's figure is the median. Prints the per-round p50s and their median for each tree.

    .venv/bin/python bench/ab_latency.py /path/to/old/checkout /path/to/new/checkout
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "seed_dev.jsonl"


def _qabot(tree: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree)}
    return subprocess.Popen([sys.executable, "-m", "qabot.cli", *args], env=env, cwd=tree,
                            text=True, **popen)  # type: ignore[call-overload]


def round_p50(tree: Path, index: Path, questions: list[str]) -> float:
    """Median milliseconds per question over one warm ``qabot ask --json`` process."""
    process = _qabot(tree, "ask", "--json", "--seeds", str(tree / "seeds"), "--index", str(index),
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1)
    assert process.stdin is not None and process.stdout is not None
    times = []
    for number, question in enumerate(questions * 2):
        started = time.perf_counter()
        process.stdin.write(question + "\n")
        process.stdin.flush()
        process.stdout.readline()
        if number >= 3:
            times.append(time.perf_counter() - started)
    process.stdin.close()
    process.wait()
    return statistics.median(times) * 1000


def main() -> None:
    """Index each tree's seeds, then time interleaved rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs=2, type=Path, help="two qabot checkouts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in args.questions.open()]
    with tempfile.TemporaryDirectory() as scratch:
        indexes = {tree: Path(scratch) / f"index{n}" for n, tree in enumerate(args.trees)}
        for tree, index in indexes.items():
            _qabot(tree, "index", "--seeds", str(tree / "seeds"), "--index", str(index),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).wait()
        p50s: dict[Path, list[float]] = {tree: [] for tree in args.trees}
        for _ in range(args.rounds):
            for tree, index in indexes.items():
                p50s[tree].append(round_p50(tree, index, questions))
    for tree, figures in p50s.items():
        print(f"{tree}: p50 per round {[round(f, 1) for f in figures]} ms, "
              f"median {statistics.median(figures):.1f} ms")


if __name__ == "__main__":
    main()
