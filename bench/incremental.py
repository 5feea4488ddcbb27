"""Re-indexing cost on a ~1,000-paragraph corpus, as whole `qabot index` processes.

Writes each article of a SQuAD-format file as one .txt seed (title line, one paragraph per line),
then times, median of --runs each: a full build from nothing, a no-change run, and a run after
two short articles were added. Prints one table with the ratios to the full build.

    .venv/bin/python bench/incremental.py [--squad ../shared/eval/squad/squad-v1.1-dev.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQUAD = ROOT.parent / "shared" / "eval" / "squad" / "squad-v1.1-dev.json"
EXTRA = {
    "zz_floods.txt": "Floods hit the river town of Umbria Vale.\n"
                     "Heavy rain on Tuesday flooded 240 homes in Umbria Vale, officials said.\n"
                     "The mayor asked residents to stay indoors until the water receded.\n",
    "zz_mines.txt": "Copper mine reopens in Northgate.\n"
                    "The Northgate copper mine reopened on Monday after a two-year closure.\n"
                    "About 1,150 miners returned to work, according to the operator.\n",
}


def write_corpus(squad: Path, seeds: Path) -> int:
    """One .txt per SQuAD article; returns the number of paragraphs written."""
    data = json.loads(squad.read_text("utf-8"))["data"]
    paragraphs = 0
    for n, article in enumerate(data):
        lines = [article["title"].replace("_", " ")]
        lines += [" ".join(p["context"].split()) for p in article["paragraphs"]]
        paragraphs += len(article["paragraphs"])
        (seeds / f"{n:03d}.txt").write_text("\n".join(lines) + "\n", "utf-8")
    return paragraphs


def timed(args: list[str]) -> float:
    """Wall time of one whole qabot process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qabot.cli", *args], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - started


def main() -> None:
    """Run the three scenarios and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    if not options.squad.is_file():
        sys.exit(f"SQuAD file not found: {options.squad} (pass --squad)")
    work = Path(tempfile.mkdtemp(prefix="qabot-incremental-"))
    try:
        seeds, index = work / "seeds", work / "indexes"
        seeds.mkdir()
        paragraphs = write_corpus(options.squad, seeds)
        where = ["--seeds", str(seeds), "--index", str(index)]
        full, no_change, add_two = [], [], []
        for _ in range(options.runs):
            shutil.rmtree(index, ignore_errors=True)
            for name in EXTRA:
                (seeds / name).unlink(missing_ok=True)
            full.append(timed(["index", *where]))
            no_change.append(timed(["index", *where]))
            for name, text in EXTRA.items():
                (seeds / name).write_text(text, "utf-8")
            add_two.append(timed(["index", *where]))
        base = statistics.median(full)
        print(f"corpus: {paragraphs} paragraphs in {len(list(seeds.glob('*.txt'))) - 2} "
              f"articles; median of {options.runs} runs; whole processes")
        print(f"{'scenario':<28}{'median s':>10}{'÷ full':>9}{'target':>9}")
        for name, times, target in (("full build", full, ""),
                                    ("no-change run", no_change, "≤ 0.10"),
                                    ("two short articles added", add_two, "≤ 0.25")):
            median = statistics.median(times)
            print(f"{name:<28}{median:>10.2f}{median / base:>9.3f}{target:>9}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
