"""Kill `qabot index --rebuild` with SIGKILL at random moments and check the index still answers.

Copies the project's seeds plus some generated articles into a temporary folder, builds them
with the real CLI, times one full rebuild, then 20 times: starts `qabot index --rebuild`, kills
it after a random delay spread over that duration (seeded), and runs
`qabot ask "how many were arrested?"`, which must exit 0 with an answer mentioning 3,800.
Finally a plain `qabot index` must complete. Prints one row per attempt and a summary line.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python bench/kill_rebuild.py [--attempts 20] [--seed 12]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "how many were arrested?"
WORDS = ("river council harbour festival railway museum election budget storm bridge school "
         "hospital market forest airport stadium orchestra library vineyard glacier").split()


def generate_articles(folder: Path, count: int, rng: random.Random) -> None:
    """Synthetic articles, enough to keep a rebuild busy for a few seconds."""
    for n in range(count):
        lines = [f"Report number {n} on {rng.choice(WORDS)} affairs."]
        for p in range(8):
            lines.append(" ".join(rng.choice(WORDS) for _ in range(40)).capitalize()
                         + f" ({n}-{p}) ended on a quiet note.")
        (folder / f"bulk_{n:03d}.txt").write_text("\n".join(lines) + "\n", "utf-8")


def qabot(work: Path, *args: str) -> list[str]:
    """The command line of the real CLI on the temporary seeds and index folders."""
    return [sys.executable, "-m", "qabot.cli", *args, "--seeds", str(work / "seeds"),
            "--index", str(work / "indexes")]


def run(work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion."""
    return subprocess.run(qabot(work, *args), capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)


def ask_ok(work: Path, env: dict[str, str]) -> tuple[bool, str]:
    """Whether `qabot ask` answers the arrests question, and the answer or the error."""
    result = run(work, env, "ask", "--json", QUESTION)
    if result.returncode != 0:
        return False, result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "?"
    answer = json.loads(result.stdout).get("answer") or ""
    return "3,800" in answer, answer[:60]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=20)
    parser.add_argument("--articles", type=int, default=60, help="generated articles")
    parser.add_argument("--seed", type=int, default=12, help="random seed for the kill moments")
    options = parser.parse_args()

    rng = random.Random(options.seed)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    work = Path(tempfile.mkdtemp(prefix="qabot-kill-"))
    try:
        shutil.copytree(ROOT / "seeds", work / "seeds")
        generate_articles(work / "seeds", options.articles, rng)
        first = run(work, env, "index")
        if first.returncode != 0:
            print(f"initial build failed: {first.stderr}", file=sys.stderr)
            return 1
        started = time.perf_counter()
        timed = run(work, env, "index", "--rebuild")
        duration = time.perf_counter() - started
        if timed.returncode != 0:
            print(f"timed rebuild failed: {timed.stderr}", file=sys.stderr)
            return 1
        print(f"corpus: {first.stdout.strip()}")
        print(f"a full `qabot index --rebuild` takes {duration:.1f} s; killing at random moments "
              f"within it (seed {options.seed})\n")

        print(f"{'attempt':>7}  {'kill after s':>12}  {'build':<8}  {'ask ok':<6}  answer")
        failures = 0
        killed = 0
        for attempt in range(1, options.attempts + 1):
            delay = rng.uniform(0.0, duration)
            proc = subprocess.Popen(qabot(work, "index", "--rebuild"), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                state = "killed"
                killed += 1
            else:
                state = "finished"
            proc.wait(timeout=60)
            ok, answer = ask_ok(work, env)
            failures += not ok
            print(f"{attempt:>7}  {delay:>12.2f}  {state:<8}  {'yes' if ok else 'NO':<6}  {answer}")

        final = run(work, env, "index")
        final_ok = final.returncode == 0
        leftovers = sorted(p.name for p in (work / "indexes").glob(".gen-*"))
        print(f"\nfinal `qabot index`: {'ok' if final_ok else 'FAILED'} "
              f"({(final.stdout or final.stderr).strip()})")
        print(f"summary: {options.attempts - failures}/{options.attempts} asks answered "
              f"({killed} builds killed mid-way, {options.attempts - killed} had finished); "
              f"final index {'completed' if final_ok else 'FAILED'}; "
              f"leftover temporary generations: {len(leftovers)}")
        return 0 if failures == 0 and final_ok and not leftovers else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
