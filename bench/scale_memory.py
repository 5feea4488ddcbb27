"""Peak memory of a build against corpus size (issue 16): a synthetic corpus of N passages,
built with the fake embedder in a child process, each process reporting its own peak RSS.
Unless ``--faithful`` is given, the build splits sentences on full stops instead of with pysbd
and gives each text one seeded random vector instead of hashing its words: together most of such
a build's time, and not what is measured here (memory), so 1M passages build in minutes rather
than an hour on two shared cores.

    python bench/scale_memory.py --sizes 100000,300000,1000000
    python bench/scale_memory.py --sizes 100000 --code /work/main   # another checkout's code
    python bench/scale_memory.py --engine ray --sizes 50000,200000  # through a local Ray

Each size gets a fresh seeds folder of JSON Lines feeds (200 articles per file, 10 undated
paragraphs of two sentences per article, words drawn from a fixed vocabulary with a fixed seed,
so every passage is distinct), then ``qabot index`` runs in a child process
(``QABOT_ENCODER=fake``, 64-dimension vectors). A ``sitecustomize`` module on the children's
PYTHONPATH, which every Python process of the build imports, installs the quick stand-ins and
makes each process that ends normally report its peak RSS (``VmHWM``). Prints one row per
size: passages, seconds, the build process's CPU seconds and peak RSS, the FAISS file's size,
and RSS minus FAISS.

With ``--engine ray`` the child is ``qabot index --engine ray`` with no address: its Ray driver
(a child process) starts Ray on this machine, inside a network namespace with only loopback
when this user may make one, and parsing and embedding run in Ray's worker processes (with the
same stand-ins). The table adds the driver's peak RSS, the sum of the two, the driver's CPU
seconds, and the largest anonymous and shared-memory parts of the driver's RSS (sampled every
0.2 s): the shared part is Ray's object store, mapped into the driver, whose pages count in its
RSS once read. Ray's own processes (raylet, object store, workers) are the cluster's and are not
counted. Temporary folders are removed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ARTICLES_PER_FILE = 200
PARAGRAPHS_PER_ARTICLE = 10
#: Sentences per paragraph; sentence splitting (pysbd) is most of a fake-embedder build's time.
SENTENCES = 2
MiB = 2**20


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(size)]


def _sentence(rng: random.Random, words: list[str]) -> str:
    chosen = rng.choices(words, k=rng.randint(8, 16))
    return " ".join(chosen).capitalize() + "."


def write_corpus(folder: Path, passages: int, seed: int = 16) -> None:
    """Feeds of ``passages`` one-paragraph passages in ``folder``."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    articles = -(-passages // PARAGRAPHS_PER_ARTICLE)
    folder.mkdir(parents=True)
    for first in range(0, articles, ARTICLES_PER_FILE):
        lines = []
        for number in range(first, min(articles, first + ARTICLES_PER_FILE)):
            paragraphs = [" ".join(_sentence(rng, words) for _ in range(SENTENCES))
                          for _ in range(PARAGRAPHS_PER_ARTICLE)]
            lines.append(json.dumps({"title": f"Synthetic report {number}",
                                     "text": "\n\n".join(paragraphs)}))
        (folder / f"feed-{first // ARTICLES_PER_FILE:05d}.jsonl").write_text(
            "\n".join(lines) + "\n", "utf-8")


#: Installed as ``sitecustomize`` on every Python process of a build (the qabot process, its
#: Ray driver, Ray's workers): the qabot process and the driver, ending normally, write their
#: peak RSS (VmHWM), CPU seconds and multiprocessing name to $QABOT_BENCH_PEAKS/<pid>; with QABOT_BENCH_QUICK=1 sentences are
#: split on full stops instead of by pysbd and the fake embedder's per-word hashing is replaced
#: by one seeded random vector per text.
_SITECUSTOMIZE = """
import atexit, os

def _report_peak():
    import multiprocessing, resource, sys
    name = multiprocessing.current_process().name
    if name != "qabot-ray-driver" and "qabot" not in sys.argv[0]:
        return  # a Ray process: not measured (and it may outlive the bench's folder)
    own = resource.getrusage(resource.RUSAGE_SELF)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            with open(os.path.join(os.environ["QABOT_BENCH_PEAKS"], str(os.getpid())), "w") as fh:
                fh.write(f"{int(line.split()[1]) * 1024} {own.ru_utime + own.ru_stime} {name}")

if os.environ.get("QABOT_BENCH_PEAKS"):
    atexit.register(_report_peak)

if os.environ.get("QABOT_BENCH_QUICK") == "1":
    import re, zlib
    import numpy as np
    from qabot import corpus
    from qabot.embedding import FakeEmbedder

    def sentences(text):
        return [m.span() for m in re.finditer(r"[^.!?\\s][^.!?]*[.!?]?", text)]

    def embed_documents(self, texts, progress=None):
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(
            self.dimension, dtype=np.float32) for t in texts]) if texts else np.zeros(
            (0, self.dimension), dtype=np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True) if len(out) else 1
        if progress is not None:
            progress(len(texts))
        return out

    corpus.sentences = sentences
    FakeEmbedder.embed_documents = embed_documents
"""


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux /proc)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _sample(pid: int, most: dict[str, int], stop: threading.Event) -> None:
    """Until ``stop``: the largest anonymous and shared-memory RSS seen, in bytes, of ``pid``
    (as ``qabot anon``, ``qabot shmem``) and of its multiprocessing children (the Ray driver,
    ``driver anon``, ``driver shmem``). The driver maps Ray's object store: the pages of it
    that it has read count in its RSS as shared memory, but belong to the store."""
    while not stop.wait(0.2):
        for who, process in [("qabot", pid)] + [("driver", c) for c in _children(pid)]:
            try:
                if who == "driver" and b"spawn_main" not in Path(
                        f"/proc/{process}/cmdline").read_bytes():
                    continue
                status = Path(f"/proc/{process}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssShmem"):
                    name = f"{who} {key[3:].lower()}"
                    most[name] = max(most.get(name, 0), int(value.split()[0]) * 1024)


def build(seeds: Path, index: Path, code: Path, faithful: bool, engine: str,
          work: Path) -> dict[str, float]:
    """Run ``qabot index`` in a child: its seconds, its own CPU seconds (``cpu``) and peak RSS
    (``rss``), its Ray driver's (``driver_cpu``, ``driver``: 0 for the local engine), and the
    largest anonymous and shared RSS each had (``_sample``)."""
    (work / "site").mkdir()
    (work / "site" / "sitecustomize.py").write_text(_SITECUSTOMIZE, "utf-8")
    (work / "peaks").mkdir()
    env = {**os.environ, "QABOT_ENCODER": "fake", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(work / "site"), str(code)]),
           "QABOT_BENCH_PEAKS": str(work / "peaks"), "QABOT_BENCH_QUICK": str(int(not faithful)),
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_BACKEND_LOG_LEVEL": "error"}
    command = [sys.executable, "-m", "qabot.cli", "index", "--seeds", str(seeds), "--index",
               str(index), *(["--engine", "ray"] if engine == "ray" else [])]
    if engine == "ray" and _namespaces():  # exec: the build keeps unshare's process id
        command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    started = time.perf_counter()
    with open(work / "output.txt", "w") as out:  # not a pipe: Ray's processes inherit it
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=code)
    most: dict[str, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(child.pid, most, stop), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    stop.set()
    sampler.join()
    output = (work / "output.txt").read_text()
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the build failed:\n{output}")
    peaks = {int(f.name): f.read_text().split(" ", 2) for f in (work / "peaks").iterdir()}
    rss, cpu = ((int(peaks[child.pid][0]), float(peaks[child.pid][1])) if child.pid in peaks
                else (usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime))
    driver = [(int(peak), float(used)) for peak, used, name in peaks.values()
              if name == "qabot-ray-driver"] or [(0, 0.0)]
    return {"seconds": seconds, "cpu": cpu, "rss": rss, "driver": driver[0][0],
            "driver_cpu": driver[0][1], **most}


def _namespaces() -> bool:
    """True when this user may make a network namespace (then Ray stays on loopback)."""
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True).returncode == 0


def measure(size: int, code: Path, workdir: Path, faithful: bool,
            engine: str) -> dict[str, float]:
    """Generate, build and measure one corpus size; removes its folders afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=f"scale-{size}-", dir=workdir))
    try:
        write_corpus(folder / "seeds", size)
        row = build(folder / "seeds", folder / "indexes", code, faithful, engine, folder)
        generation = folder / "indexes" / (folder / "indexes" / "CURRENT").read_text().strip()
        manifest = json.loads((generation / "manifest.json").read_text())
        faiss_bytes = (generation / "vectors.faiss").stat().st_size
        mib = {k: v / MiB for k, v in row.items() if k not in ("seconds", "cpu", "driver_cpu")}
        return {**row, **mib, "passages": manifest["counts"]["passages"],
                "faiss": faiss_bytes / MiB, "rest": (row["rss"] - faiss_bytes) / MiB}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="build engine; ray: a Ray started on this machine by the build")
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the qabot checkout whose code builds (default: this one)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--faithful", action="store_true",
                        help="split sentences with pysbd and hash words as the fake embedder "
                             "does (most of such a build's time), not the quick stand-ins")
    args = parser.parse_args()
    print(f"code: {args.code}; engine {args.engine}; "
          f"{'faithful' if args.faithful else 'quick'} sentences and vectors")
    ray = args.engine == "ray"
    print(f"{'passages':>10} {'seconds':>9} {'CPU s':>7} {'peak RSS MiB':>13} "
          + (f"{'driver MiB':>11} {'sum MiB':>8} {'driver CPU s':>13} {'driver anon':>12} "
             f"{'driver shmem':>13} " if ray else "")
          + f"{'FAISS MiB':>10} {'RSS-FAISS MiB':>14}", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        row = measure(size, args.code, args.workdir, args.faithful, args.engine)
        print(f"{row['passages']:>10,} {row['seconds']:>9.0f} {row['cpu']:>7.0f} "
              f"{row['rss']:>13.0f} "
              + (f"{row['driver']:>11.0f} {row['rss'] + row['driver']:>8.0f} "
                 f"{row['driver_cpu']:>13.0f} {row.get('driver anon', 0):>12.0f} "
                 f"{row.get('driver shmem', 0):>13.0f} " if ray else "")
              + f"{row['faiss']:>10.1f} {row['rest']:>14.0f}", flush=True)


if __name__ == "__main__":
    main()
