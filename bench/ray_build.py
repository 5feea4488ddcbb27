"""`make bench-ray`: build throughput through a two-node Ray cluster against the local engine, on
the same cores and the same texts, measured in one run.

Both builds are the real CLI with `--rebuild` (parse, split, embed every passage and its
sentences with the ONNX encoder, write the generation): `qabot index` (local engine: one process,
ONNX Runtime on every core) and `qabot index --engine ray --ray-address ...` against a head and a
worker node started here with one CPU each (tests/ray_cluster.py: network and PID namespaces of
their own, loopback only), so the cluster has exactly the cores the local engine has. The Ray
figure includes starting the encoder actors (each loads the model) but not starting the nodes.
Throughput = passages / the build's own seconds (the summary line). Runs alternate local, Ray.

    .venv/bin/python bench/ray_build.py [--runs 2] [--articles 0] [--json out.json]

The corpus: the SQuAD v1.1 dev paragraphs of `make bench` (one file per article;
../shared/eval/squad or $QABOT_BENCH_SQUAD) plus `--articles` generated news articles (all
generated when SQuAD is absent).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ray_cluster import (  # noqa: E402
    cluster_script,
    namespaces_available,
    run_in_namespaces,
    write_articles,
)

SQUAD = Path(os.environ.get("QABOT_BENCH_SQUAD",
                            ROOT.parent / "shared" / "eval" / "squad" / "squad-v1.1-dev.json"))
SUMMARY = re.compile(r"Indexed [\d,]+ articles?, ([\d,]+) passages?.*; ([\d.]+) s$", re.M)
POOL = re.compile(r"embedding \d+ passages on Ray \((.*)\)\s*:? ?(.*)$", re.M)


def make_corpus(seeds: Path, articles: int) -> str:
    """Write the benchmark's seed files; returns what they are, for the table."""
    seeds.mkdir(parents=True)
    parts = []
    if SQUAD.is_file():
        data = json.loads(SQUAD.read_text("utf-8"))["data"]
        for number, article in enumerate(data):
            lines = [article["title"].replace("_", " ")]
            lines += [" ".join(p["context"].split()) for p in article["paragraphs"]]
            (seeds / f"a{number:03d}.txt").write_text("\n".join(lines) + "\n", "utf-8")
        parts.append(f"SQuAD v1.1 dev ({len(data)} articles)")
    if articles or not parts:
        count = articles or 1000
        write_articles(seeds, count)
        parts.append(f"{count} generated articles")
    return " + ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="builds per engine (alternating)")
    parser.add_argument("--articles", type=int, default=0, help="generated articles to add")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    if not namespaces_available():
        sys.exit("bench/ray_build.py needs network and PID namespaces (run as root)")
    work = Path(tempfile.mkdtemp(prefix="qrb", dir="/tmp"))
    try:
        corpus = make_corpus(work / "seeds", args.articles)
        qabot = " ".join(shlex.quote(p) for p in (sys.executable, "-m", "qabot.cli"))
        seeds = f"--seeds {work}/seeds"
        steps = []
        for run in range(args.runs):
            steps.append(f"{qabot} index --rebuild {seeds} --index {work}/local "
                         f">>{work}/local.out 2>>{work}/local.err")
            steps.append(f"QABOT_LOG_LEVEL=INFO {qabot} index --rebuild --engine ray "
                         f"--ray-address $ADDRESS {seeds} --index {work}/ray "
                         f">>{work}/ray.out 2>>{work}/ray.err")
        result = run_in_namespaces(cluster_script("\n".join(steps), work / "n"), timeout=3600)
        if result.returncode != 0:
            sys.exit(f"the benchmark script failed:\n{result.stdout}\n{result.stderr}\n"
                     + "".join((work / f).read_text()[-3000:] for f in ("local.err", "ray.err")
                               if (work / f).exists()))
        figures = {engine: [(int(p.replace(",", "")), float(s)) for p, s in
                            SUMMARY.findall((work / f"{engine}.out").read_text())]
                   for engine in ("local", "ray")}
        pool = POOL.search((work / "ray.err").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(corpus, figures, pool.group(1) + "; " + pool.group(2) if pool else "?", args.json)


def report(corpus: str, figures: dict[str, list[tuple[int, float]]], pool: str,
           json_path: Path | None) -> None:
    """Print the table: median passages/s per engine and the ratio Ray / local."""
    rates = {engine: statistics.median(p / s for p, s in runs) for engine, runs in figures.items()}
    passages = figures["local"][0][0]
    ratio = rates["ray"] / rates["local"]
    print(f"corpus: {corpus}, {passages:,} passages; runs per engine: {len(figures['local'])}")
    print(f"cores: {os.cpu_count()}; load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"Ray pool: {pool}\n")
    print("| engine | build seconds (each run) | passages/s (median) |")
    print("|---|---|---|")
    print(f"| local (1 process, ONNX on {os.cpu_count()} threads) | "
          f"{', '.join(f'{s:.1f}' for _, s in figures['local'])} | {rates['local']:.1f} |")
    print(f"| Ray, 2 nodes x 1 CPU (head + worker) | "
          f"{', '.join(f'{s:.1f}' for _, s in figures['ray'])} | {rates['ray']:.1f} |")
    print(f"\nRay / local throughput: {ratio:.2f}x (target >= 0.8x)")
    if json_path:
        json_path.write_text(json.dumps({"corpus": corpus, "pool": pool, "runs": figures,
                                         "passages_per_s": rates, "ratio": ratio}, indent=1))


if __name__ == "__main__":
    main()
