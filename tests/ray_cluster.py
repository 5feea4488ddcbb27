"""A two-node Ray cluster on this machine for the Ray build tests and ``bench/ray_build.py``:
a head and a worker node, each with its own CPUs, temporary folder and ports, started inside a
network namespace with only loopback (so Ray uses 127.0.0.1 throughout and no traffic leaves
the machine) and a PID namespace of its own (so the cluster dies with the script, even when
the test fails or times out), plus a generated corpus of news-like articles."""

from __future__ import annotations

import os
import random
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAY = Path(sys.executable).parent / "ray"
PORT = 6390
ADDRESS = f"127.0.0.1:{PORT}"

_PLACES = ["Umbria Vale", "Northgate", "Marsk", "Veloria", "Castel Brano", "Oster Bay",
           "Kelmont", "Rivabella", "Dunmore", "Santa Lira", "Harrowfield", "Port Evia"]
_PEOPLE = ["Carla Benedetti", "Tomas Reyes", "Anika Sorensen", "Malik Osei", "Ines Duarte",
           "Pavel Novak", "Grace Whitlock", "Hiro Tanaka", "Leila Haddad", "Owen Pryce"]
_THINGS = ["the copper mine", "the new bridge", "the harbour", "the central library",
           "the wind farm", "the rail line", "the water plant", "the city hospital"]
_VERBS = ["reopened", "was closed", "was sold", "was flooded", "was expanded", "was inspected"]


def write_articles(folder: Path, count: int, seed: int = 16, start: int = 0) -> list[Path]:
    """``count`` generated news articles (title, three to nine sentences with names, places,
    figures and days) as ``gen_NNNN.txt`` in ``folder``; the same ``seed`` gives the same text."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(start, start + count):
        place, person, thing = rng.choice(_PLACES), rng.choice(_PEOPLE), rng.choice(_THINGS)
        figure, day = rng.randint(12, 9800), rng.choice(["Monday", "Tuesday", "Friday"])
        sentences = [f"{thing.capitalize()} in {place} {rng.choice(_VERBS)} on {day}, "
                     f"officials said.",
                     f"About {figure:,} residents were affected, according to {person}."]
        for _ in range(rng.randint(1, 7)):
            sentences.append(f"{rng.choice(_PEOPLE)} said {rng.choice(_THINGS)} in "
                             f"{rng.choice(_PLACES)} {rng.choice(_VERBS)} after "
                             f"{rng.randint(2, 40)} days, costing {rng.randint(1, 90)} million.")
        title = f"{thing.capitalize()} in {place} {rng.choice(_VERBS)} (report {number})"
        body = " ".join(sentences[:3]) + "\n\n" + " ".join(sentences[3:])
        path = folder / f"gen_{number:04d}.txt"
        path.write_text(f"{title}\n\n{body}\n", "utf-8")
        paths.append(path)
    return paths


def namespaces_available() -> bool:
    """True when this user may create network and PID namespaces (root, or user namespaces)."""
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-n", "-p", "-f", "--mount-proc", "true"], capture_output=True).returncode == 0


def cluster_script(body: str, tmp: Path, head_cpus: int = 1, worker_cpus: int = 1) -> str:
    """A shell script that brings up loopback, starts the head and a worker node under
    ``tmp`` (keep it short: Ray's socket paths under it must stay within 107 characters), runs
    ``body`` (``$ADDRESS`` names the head), and stops both nodes on exit."""
    tmp.mkdir(parents=True, exist_ok=True)
    ray = shlex.quote(str(RAY))
    common = ("--include-dashboard=false --disable-usage-stats --node-ip-address=127.0.0.1 "
              "--object-store-memory=150000000")
    return f"""
set -e
ip link set lo up
export ADDRESS={ADDRESS}
# Ray 2.59+ turns token authentication on for local clusters: give the head, the worker and
# qabot one token of this run's own, so nothing depends on ~/.ray/auth_token.
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN={secrets.token_hex(32)}
trap '{ray} stop --force >/dev/null 2>&1 || true' EXIT
{ray} start --head --port={PORT} --num-cpus={head_cpus} {common} \\
    --temp-dir={shlex.quote(str(tmp / "head"))} >{shlex.quote(str(tmp / "head.log"))} 2>&1
{ray} start --address=$ADDRESS --num-cpus={worker_cpus} \\
    --object-store-memory=150000000 --disable-usage-stats --node-ip-address=127.0.0.1 \\
    --temp-dir={shlex.quote(str(tmp / "worker"))} >{shlex.quote(str(tmp / "worker.log"))} 2>&1
{body}
"""


def run_in_namespaces(script: str, timeout: float,
                      env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with sh as PID 1 of new network and PID namespaces: every process it
    starts (the Ray nodes included) is killed when it ends or when this call times out."""
    env = {**os.environ, **(env or {}), "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "RAY_BACKEND_LOG_LEVEL": "error"}
    return subprocess.run(["unshare", "-n", "-p", "-f", "--kill-child", "--mount-proc",
                           "sh", "-c", script], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)
