"""Re-run the faults of issue 12 against the real CLI, as processes, and print case → result.

    .venv/bin/python bench/adversarial.py [--only NAME]

Each case builds its own seeds and index folders under a temporary directory, runs ``qabot``
the way a user would, and checks what a user would notice: the exit status, that no traceback
reached the terminal, and the case's own expectation (nothing outside the seeds served, the rest
indexed, the damage repaired, one clear message). Cases that need a real permission refusal run
the CLI without the capabilities that let root read and write through chmod (``setpriv``
dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; as another user the interpreter itself may be
out of reach); they are reported as "n/a" where ``setpriv`` is missing. Exits non-zero if any
case fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_a673f91f4b4f9cfb.txt"
QABOT = [sys.executable, "-m", "qabot.cli"]
SEED_QUESTION = "how many were arrested?"
#: A build over one huge input that takes longer than this counts as failed (it held the lock).
LONG_INPUT_LIMIT_S = 180


@dataclass
class Run:
    """One finished qabot process."""

    code: int
    out: str
    err: str
    seconds: float

    @property
    def clean(self) -> bool:
        """No traceback reached the user."""
        return "Traceback" not in self.out + self.err


class Case:
    """A temporary seeds + index pair and the commands a case runs against them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.seeds = base / "seeds"
        self.index = base / "indexes"
        self.seeds.mkdir(parents=True)
        shutil.copy(SEED, self.seeds / SEED.name)

    def qabot(self, *args: str | bytes, stdin: bytes | None = None, restricted: bool = False,
              env: dict[str, str] | None = None, timeout: float = 600) -> Run:
        """Run ``qabot ARGS --seeds S --index I`` (those two added to the subcommands that take
        them) and return what the user saw."""
        command: list[str | bytes] = [*QABOT, *args]
        if args and args[0] in ("index", "ask", "stats", "repl"):
            command += ["--seeds", str(self.seeds), "--index", str(self.index)]
        if restricted:
            caps = "-dac_override,-dac_read_search"
            command = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *command]
        full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
                    **(env or {})}
        started = time.perf_counter()
        done = subprocess.run(command, input=stdin if stdin is not None else b"",
                              capture_output=True, env=full_env, timeout=timeout, cwd=ROOT)
        return Run(done.returncode, done.stdout.decode("utf-8", "replace"),
                   done.stderr.decode("utf-8", "replace"), time.perf_counter() - started)

    def answers(self, question: str = SEED_QUESTION, expect: str = "3,800") -> bool:
        """``qabot ask`` answers ``question`` with ``expect`` in the answer."""
        run = self.qabot("ask", "--json", question)
        if run.code != 0 or not run.clean:
            return False
        return expect in (json.loads(run.out).get("answer") or "")

    def live(self) -> Path:
        """The live generation's folder."""
        return self.index / (self.index / "CURRENT").read_text("utf-8").strip()


Outcome = tuple[bool, str]
CASES: dict[str, Callable[[Case], Outcome]] = {}


def case(name: str) -> Callable[[Callable[[Case], Outcome]], Callable[[Case], Outcome]]:
    """Register a case under ``name``."""
    def register(fn: Callable[[Case], Outcome]) -> Callable[[Case], Outcome]:
        CASES[name] = fn
        return fn
    return register


def _setpriv_ready() -> bool:
    return shutil.which("setpriv") is not None


@case("symlink to /etc/passwd in seeds/")
def _passwd(c: Case) -> Outcome:
    (c.seeds / "passwd.txt").symlink_to("/etc/passwd")
    (c.seeds / "inside.txt").symlink_to(c.seeds / SEED.name)
    run = c.qabot("index")
    served = c.qabot("ask", "--json", "root:x:0:0 nologin bin bash daemon")
    cited = json.loads(served.out)
    texts = [c["text"] for c in cited.get("citations", []) + cited.get("related", [])]
    leaked = any("/bin/bash" in t or "nologin" in t for t in texts)
    ok = run.code == 0 and run.clean and "passwd.txt" in run.err and not leaked
    return ok, f"exit {run.code}, warned={'passwd.txt' in run.err}, passwd served={leaked}"


@case(".jsonl line with a lone surrogate")
def _surrogate(c: Case) -> Outcome:
    (c.seeds / "feed.jsonl").write_text(
        '{"title": "Bad \\ud800 title", "text": "The mill in Orvik closed \\ud800 today."}\n'
        '{"title": "Harbour", "text": "The harbour of Port Elin reopened after repairs that '
        'cost 12 million euros."}\n', "utf-8")
    run = c.qabot("index")
    ok = run.code == 0 and run.clean and c.answers("how much did the repairs cost?", "12 million")
    return ok, f"exit {run.code}, the rest answerable={ok}"


@case("file name with an undecodable byte")
def _bad_name(c: Case) -> Outcome:
    with open(os.fsencode(c.seeds) + b"/bad\xffname.txt", "wb") as fh:
        fh.write(b"The harbour of Port Elin reopened after repairs that cost 12 million euros.\n")
    run = c.qabot("index")
    ok = run.code == 0 and run.clean and c.answers()
    return ok, f"exit {run.code}, seed still answered={c.answers()}"


@case("one 5 MB line without punctuation")
def _long_line(c: Case) -> Outcome:
    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
    (c.seeds / "long.txt").write_text(" ".join(words[i % 8] for i in range(850_000)), "utf-8")
    run = c.qabot("index", env={"QABOT_ENCODER": "fake"}, timeout=LONG_INPUT_LIMIT_S)
    ok = run.code == 0 and run.clean
    return ok, f"exit {run.code} in {run.seconds:.1f} s (fake embedder)"


@case("100,000 nested <span>s (HTML)")
def _nested(c: Case) -> Outcome:
    html = ("<html><body><p>The harbour reopened.</p>" + "<span>" * 100_000 + "deep text"
            + "</span>" * 100_000 + "</body></html>")
    (c.seeds / "nested.html").write_text(html, "utf-8")
    run = c.qabot("index", env={"QABOT_ENCODER": "fake"}, timeout=LONG_INPUT_LIMIT_S)
    ok = run.code == 0 and run.clean
    return ok, f"exit {run.code} in {run.seconds:.1f} s (fake embedder)"


@case("unreadable sub-folder (chmod 000)")
def _unreadable(c: Case) -> Outcome:
    if not _setpriv_ready():
        return True, "n/a (no setpriv)"
    locked = c.seeds / "locked"
    locked.mkdir()
    (locked / "a.txt").write_text("Hidden text.", "utf-8")
    locked.chmod(0)
    run = c.qabot("index", restricted=True)
    ok = run.code == 0 and run.clean and "locked" in run.err and "skipped" in run.out + run.err
    return ok, f"exit {run.code}, named={'locked' in run.err}"


@case("truncated passages.sqlite, then plain index")
def _truncated(c: Case) -> Outcome:
    c.qabot("index")
    db = c.live() / "passages.sqlite"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    asked = c.qabot("ask", SEED_QUESTION)
    run = c.qabot("index")
    ok = asked.clean and asked.code != 0 and run.code == 0 and run.clean and c.answers()
    return ok, f"ask before: exit {asked.code}; index: exit {run.code}; answers after={c.answers()}"


@case("corrupted vectors.faiss, then plain index")
def _faiss(c: Case) -> Outcome:
    c.qabot("index")
    vectors = c.live() / "vectors.faiss"
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64
    vectors.write_bytes(bytes(data))
    run = c.qabot("index")
    ok = run.code == 0 and run.clean and c.answers()
    return ok, f"index: exit {run.code}; answers after={c.answers()}"


@case("CURRENT holds random bytes")
def _current_bytes(c: Case) -> Outcome:
    c.qabot("index")
    (c.index / "CURRENT").write_bytes(os.urandom(64))
    asked = c.qabot("ask", SEED_QUESTION)
    plain = c.qabot("index")
    ok_plain = plain.code == 0 and c.answers()
    (c.index / "CURRENT").write_bytes(os.urandom(64))
    rebuild = c.qabot("index", "--rebuild")
    ok = (asked.clean and plain.clean and rebuild.clean and ok_plain and rebuild.code == 0
          and c.answers())
    return ok, f"ask: exit {asked.code}; index: {plain.code}; --rebuild: {rebuild.code}"


@case("CURRENT replaced by a directory")
def _current_dir(c: Case) -> Outcome:
    c.qabot("index")
    (c.index / "CURRENT").unlink()
    (c.index / "CURRENT").mkdir()
    asked = c.qabot("ask", SEED_QUESTION)
    rebuild = c.qabot("index", "--rebuild")
    ok = asked.clean and rebuild.clean and rebuild.code == 0 and c.answers()
    return ok, f"ask: exit {asked.code}; --rebuild: exit {rebuild.code}"


@case("CURRENT deleted: no re-embedding")
def _current_deleted(c: Case) -> Outcome:
    c.qabot("index")
    (c.index / "CURRENT").unlink()
    run = c.qabot("index")
    embedded = re.search(r"(\d+) embedded", run.out + run.err)
    reembedded = embedded is not None and int(embedded.group(1)) > 0
    ok = run.code == 0 and run.clean and c.answers() and not reembedded
    return ok, f"exit {run.code}: {run.out.strip().splitlines()[-1] if run.out.strip() else ''}"


@case("question with an undecodable byte (argv, ask stdin, repl stdin)")
def _bad_question(c: Case) -> Outcome:
    c.qabot("index")
    argv = c.qabot("ask", b"how many were \xff arrested?")
    stdin = c.qabot("ask", stdin=b"how many were \xff arrested?\nhow many were arrested?\n")
    repl = c.qabot("repl", stdin=b"how many were \xff arrested?\nhow many were arrested?\n")
    ok = (all(r.clean for r in (argv, stdin, repl)) and "3,800" in stdin.out
          and "3,800" in repl.out)
    return ok, (f"argv exit {argv.code}; next stdin line answered={'3,800' in stdin.out}; "
                f"repl went on={'3,800' in repl.out}")


@case("read-only index folder (chmod 555)")
def _read_only(c: Case) -> Outcome:
    if not _setpriv_ready():
        return True, "n/a (no setpriv)"
    c.qabot("index")
    (c.seeds / "new.txt").write_text("The mill in Orvik closed on Monday.", "utf-8")
    c.index.chmod(0o555)
    run = c.qabot("index", restricted=True)
    ok = run.code != 0 and run.clean and c.answers()
    return ok, f"exit {run.code}: {run.err.strip().splitlines()[0] if run.err.strip() else ''}"


@case("--index pointing at a regular file")
def _index_file(c: Case) -> Outcome:
    c.index.write_text("not a folder", "utf-8")
    run = c.qabot("index")
    ok = run.code != 0 and run.clean
    return ok, f"exit {run.code}: {run.err.strip().splitlines()[0] if run.err.strip() else ''}"


@case("QABOT_LOG_LEVEL=bogus")
def _log_level(c: Case) -> Outcome:
    run = c.qabot("stats", env={"QABOT_LOG_LEVEL": "bogus"})
    ok = run.code != 0 and run.clean and "log_level" in run.err
    return ok, f"exit {run.code}: {run.err.strip().splitlines()[0] if run.err.strip() else ''}"


@case("UTF-8 seed with one invalid byte")
def _one_bad_byte(c: Case) -> Outcome:
    text = "“Armed criminals” attacked the mill in Orvik, the police said.\n"
    (c.seeds / "mill.txt").write_bytes(text.encode("utf-8").replace(b"mill", b"mi\xffll", 1))
    run = c.qabot("index")
    asked = c.qabot("ask", "--json", "who attacked the mill in Orvik?")
    mojibake = "“Armed criminals”" not in json.dumps(json.loads(asked.out), ensure_ascii=False)
    ok = run.code == 0 and run.clean and not mojibake and "mill.txt" in run.err
    return ok, f"warned={'mill.txt' in run.err}, mojibake served={mojibake}"


@case("newline, ESC and U+202E in a file name and text")
def _control(c: Case) -> Outcome:
    name = "evil\n\x1b[31mname\u202e.txt"
    (c.seeds / name).write_text("The mill in Orvik closed \x1b]0;pwned\x07 on \u202eMonday.\n",
                                "utf-8")
    c.qabot("index")
    run = c.qabot("ask", "when did the mill in Orvik close?")
    raw = any(ch in run.out for ch in ("\x1b", "\u202e", "\x07"))
    ok = run.code == 0 and run.clean and not raw
    return ok, f"exit {run.code}, raw control characters printed={raw}"


def main() -> None:
    """Run every case (or ``--only``) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args()
    failed = ran = 0
    print("| case | result | what happened |\n|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="qabot-adversarial-") as tmp:
        os.chmod(tmp, 0o755)
        for n, (name, fn) in enumerate(CASES.items()):
            if args.only and args.only not in name:
                continue
            try:
                ok, detail = fn(Case(Path(tmp) / f"case{n}"))
            except Exception as exc:  # a broken case is a failed case, and the table goes on
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            failed += not ok
            ran += 1
            detail = detail.replace("\n", " ").replace("|", "/")
            print(f"| {name} | {'held' if ok else 'FAILED'} | {detail} |", flush=True)
    print(f"\n{ran - failed} held, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
