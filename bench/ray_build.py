"""`make bench-ray`: build throughput through a two-node Ray cluster against the local engine, on
the same cores and the same texts, measured in one run. `make bench` (bench/run.py) prints the
same comparison as one line of its table, on a smaller corpus, through :func:`measure`.

Both builds are the real CLI with `--rebuild` (parse, split, embed every passage and its
sentences with the ONNX encoder, write the generation): `qabot index` (local engine: one process,
ONNX Runtime on every core) and `qabot index --engine ray --ray-address ...` against a head and a
worker node started here with one CPU each (tests/ray_cluster.py: network and PID namespaces of
their own, loopback only), so the cluster has exactly the cores the local engine has. The Ray
figure includes starting the encoder actors (each loads the model) but not starting the nodes.
Throughput = passages / the build's own seconds (the summary line). Runs alternate local, Ray.

    .venv/bin/python bench/ray_build.py [--runs 2] [--squad-articles N] [--articles 0] [--json out.json]

The corpus: the SQuAD v1.1 dev paragraphs of `make bench` (one file per article;
../shared/eval/squad or $QABOT_BENCH_SQUAD; `--squad-articles N`: only the first N articles)
plus `--articles` generated news articles (all generated when SQuAD is absent).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ray_cluster import (  # noqa: E402
    RAY,
    cluster_script,
    namespaces_available,
    run_in_namespaces,
    write_articles,
)

SQUAD = Path(os.environ.get("QABOT_BENCH_SQUAD",
                            ROOT.parent / "shared" / "eval" / "squad" / "squad-v1.1-dev.json"))
SUMMARY = re.compile(r"Indexed [\d,]+ articles?, ([\d,]+) passages?.*; ([\d.]+) s$", re.M)
POOL = re.compile(r"Ray at (?:this machine|\S+): (.*?); (encoder pool of .*)$", re.M)
TARGET = 0.8  # issue 16: Ray's throughput at least 0.8x the local engine's on the same cores


@dataclass
class Comparison:
    """Both engines' builds of one corpus: (passages, seconds) per run, and Ray's pool."""

    corpus: str
    figures: dict[str, list[tuple[int, float]]]
    pool: str

    @property
    def passages(self) -> int:
        return self.figures["local"][0][0]

    def rate(self, engine: str) -> float:
        """Median passages per second of ``engine`` ("local" or "ray")."""
        return statistics.median(p / s for p, s in self.figures[engine])

    @property
    def ratio(self) -> float:
        return self.rate("ray") / self.rate("local")


def unavailable() -> str | None:
    """Why the comparison cannot run here, or None when it can."""
    if importlib.util.find_spec("ray") is None or not RAY.is_file():
        return "Ray is not installed (pip install -e '.[ray]')"
    if not namespaces_available():
        return "needs network and PID namespaces for the local cluster (run as root)"
    return None


def make_corpus(seeds: Path, articles: int, squad_articles: int | None = None) -> str:
    """Write the benchmark's seed files; returns what they are, for the table."""
    seeds.mkdir(parents=True)
    parts = []
    if SQUAD.is_file():
        data = json.loads(SQUAD.read_text("utf-8"))["data"]
        total = len(data)
        data = data[:squad_articles] if squad_articles else data
        for number, article in enumerate(data):
            lines = [article["title"].replace("_", " ")]
            lines += [" ".join(p["context"].split()) for p in article["paragraphs"]]
            (seeds / f"a{number:03d}.txt").write_text("\n".join(lines) + "\n", "utf-8")
        parts.append(f"SQuAD v1.1 dev ({len(data)} of {total} articles)")
    if articles or not parts:
        count = articles or 1000
        write_articles(seeds, count)
        parts.append(f"{count} generated articles")
    return " + ".join(parts)


def measure(runs: int, articles: int = 0, squad_articles: int | None = None) -> Comparison:
    """Alternate ``runs`` local and Ray builds of the corpus inside a fresh two-node cluster;
    raises RuntimeError (with the logs' tails) when a build fails."""
    work = Path(tempfile.mkdtemp(prefix="qrb", dir="/tmp"))  # short: Ray's socket paths
    try:
        corpus = make_corpus(work / "seeds", articles, squad_articles)
        qabot = " ".join(shlex.quote(p) for p in (sys.executable, "-m", "qabot.cli"))
        seeds = f"--seeds {work}/seeds"
        steps = []
        for _ in range(runs):
            steps.append(f"{qabot} index --rebuild {seeds} --index {work}/local "
                         f">>{work}/local.out 2>>{work}/local.err")
            steps.append(f"QABOT_LOG_LEVEL=INFO {qabot} index --rebuild --engine ray "
                         f"--ray-address $ADDRESS {seeds} --index {work}/ray "
                         f">>{work}/ray.out 2>>{work}/ray.err")
        result = run_in_namespaces(cluster_script("\n".join(steps), work / "n"), timeout=3600)
        if result.returncode != 0:
            raise RuntimeError(
                f"the benchmark script failed:\n{result.stdout}\n{result.stderr}\n"
                + "".join((work / f).read_text()[-3000:] for f in ("local.err", "ray.err")
                          if (work / f).exists()))
        figures = {engine: [(int(p.replace(",", "")), float(s)) for p, s in
                            SUMMARY.findall((work / f"{engine}.out").read_text())]
                   for engine in ("local", "ray")}
        pool = POOL.search((work / "ray.err").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Comparison(corpus, figures, pool.group(1) + "; " + pool.group(2) if pool else "?")


def report(result: Comparison, json_path: Path | None) -> None:
    """Print the table: median passages/s per engine and the ratio Ray / local."""
    figures = result.figures
    print(f"corpus: {result.corpus}, {result.passages:,} passages; runs per engine: "
          f"{len(figures['local'])}")
    print(f"cores: {os.cpu_count()}; load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"Ray pool: {result.pool}\n")
    print("| engine | build seconds (each run) | passages/s (median) |")
    print("|---|---|---|")
    print(f"| local (1 process, ONNX on {os.cpu_count()} threads) | "
          f"{', '.join(f'{s:.1f}' for _, s in figures['local'])} | {result.rate('local'):.1f} |")
    print(f"| Ray, 2 nodes x 1 CPU (head + worker) | "
          f"{', '.join(f'{s:.1f}' for _, s in figures['ray'])} | {result.rate('ray'):.1f} |")
    print(f"\nRay / local throughput: {result.ratio:.2f}x (target >= {TARGET}x)")
    if json_path:
        json_path.write_text(json.dumps(
            {"corpus": result.corpus, "pool": result.pool, "runs": figures,
             "passages_per_s": {e: result.rate(e) for e in figures}, "ratio": result.ratio},
            indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="builds per engine (alternating)")
    parser.add_argument("--squad-articles", type=int, default=None,
                        help="only the first N SQuAD articles (default: all)")
    parser.add_argument("--articles", type=int, default=0, help="generated articles to add")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        sys.exit(f"bench/ray_build.py: not measured: {reason}")
    try:
        result = measure(args.runs, args.articles, args.squad_articles)
    except RuntimeError as exc:
        sys.exit(str(exc))
    report(result, args.json)


if __name__ == "__main__":
    main()
