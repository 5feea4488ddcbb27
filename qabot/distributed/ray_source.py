"""``RayEngine``: one build's parsing and embedding on a Ray cluster.

``parse`` is the build's ``SeedParser``: the bytes of its new and changed seed files go to the
cluster in windows (a few hundred files, at most 16 MB), where Ray Data tasks parse and split
them with the local engine's own function; their ``ParsedFile`` s come back in file order as
they are done.
``vectors`` is its ``VectorSource``: the plan's new passages go out in windows too, in plan
order, each sorted by length so its batches pad little, and a window's vectors stream back
block by block from a fixed pool of ``EncoderActor`` s. The next window is sent while the
cluster works on the current one, and neither this process nor the driver ever holds more than
two windows: memory does not grow with the build.

The Ray driver runs in a child process (``driver.drive``): Ray ends a driver whose cluster goes
away, and the qabot process must outlive that to say so. An unreachable cluster, or one that
goes away mid-build, is one ``ClusterError``; the build then writes nothing and the live
generation keeps answering.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from ..errors import ClusterError
from ..index.parsed import EMPTY, ParsedFile
from ..index.plan import NewPassage, VectorChunks, VectorPlan, new_passages
from .driver import RETRY_HINT, drive
from .pool import EncoderSpec, RayOptions

log = logging.getLogger(__name__)


class RayEngine:
    """The Ray engine of one build (a context manager: leaving it ends the driver; after an
    exception, at once)."""

    def __init__(self, options: RayOptions, spec: EncoderSpec) -> None:
        self.options, self.spec = options, spec
        self._driver: _Driver | None = None

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._driver is not None:
            self._driver.close(failed=kind is not None)

    def parse(self, files: Iterable[tuple[str, bytes | None]]) -> Iterator[ParsedFile]:
        """Each file's ``ParsedFile``, parsed on the cluster, in order (a ``SeedParser``)."""
        driver = self._start()
        sent = 0
        waiting: deque[list[bool]] = deque()  # per window sent: which files went to Ray
        for window in _file_windows(files, self.options.window_files, self.options.window_bytes):
            driver.send(("parse", [(name, data) for name, data in window if data is not None]))
            waiting.append([data is not None for _, data in window])
            sent += sum(waiting[-1])
            if len(waiting) > 1:
                yield from _parsed(driver, waiting.popleft())
        while waiting:
            yield from _parsed(driver, waiting.popleft())
        log.info("parsed %d new or changed files on Ray", sent)

    def vectors(self, plan: VectorPlan, advance: Callable[[int], None]) -> VectorChunks:
        """The vectors of ``plan``'s new passages, embedded on the cluster (a
        ``VectorSource``); it connects only when there is something to embed."""
        if not plan.embedded_passages:
            return
        size = self.options.window_passages
        log.info("embedding %d passages on Ray, %d at a time", plan.embedded_passages, size)
        driver = self._start()
        running = 0
        for window in _passage_windows(new_passages(plan), size):
            driver.send(("embed", window))
            running += 1
            if running > 1:
                yield from _rows(driver, advance)
                running -= 1
        for _ in range(running):
            yield from _rows(driver, advance)

    def _start(self) -> _Driver:
        if self._driver is None:
            _check_ray_installed()
            address = self.options.address
            if address and address != "auto" and "://" not in address:
                # ray.init retries a dead address for minutes
                _probe(address, self.options.connect_timeout_s)
            self._driver = _Driver(self.options, self.spec)
        return self._driver


def _file_windows(files: Iterable[tuple[str, bytes | None]], most: int, most_bytes: int
                  ) -> Iterator[list[tuple[str, bytes | None]]]:
    """``files`` cut into windows of at most ``most`` files or about ``most_bytes`` bytes."""
    window: list[tuple[str, bytes | None]] = []
    size = 0
    for name, data in files:
        window.append((name, data))
        size += len(data or b"")
        if len(window) >= most or size >= most_bytes:
            yield window
            window, size = [], 0
    if window:
        yield window


def _passage_windows(passages: Iterable[NewPassage], size: int) -> Iterator[list[NewPassage]]:
    """``passages`` in windows of ``size``, each sorted by length (batches of like lengths)."""
    window: list[NewPassage] = []
    for passage in passages:
        window.append(passage)
        if len(window) >= size:
            yield sorted(window, key=lambda p: len(p[1]))
            window = []
    if window:
        yield sorted(window, key=lambda p: len(p[1]))


def _parsed(driver: _Driver, went: list[bool]) -> Iterator[ParsedFile]:
    """One window's files parsed, in order, as they come (an empty ``ParsedFile`` for a file
    not sent)."""
    ready: deque[bytes] = deque()
    for sent in went:
        if not sent:
            yield EMPTY
            continue
        while not ready:
            ready.extend(driver.expect("parsed")[1])
        yield pickle.loads(ready.popleft())
    driver.expect("window")


def _rows(driver: _Driver, advance: Callable[[int], None]) -> VectorChunks:
    """One window's vectors, as the driver sends them."""
    while (message := driver.receive())[0] == "rows":
        _, start, rows = message
        yield start, rows
        advance(len(rows))
    if message[0] != "window":
        raise ClusterError(f"the Ray driver answered {message[0]!r} to a window of passages",
                           hint=RETRY_HINT)


class _Driver:
    """The child process running the Ray driver, and the pipe to it."""

    def __init__(self, options: RayOptions, spec: EncoderSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self.address = options.address
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=drive, args=(child_conn, options, spec),
                                       name="qabot-ray-driver", daemon=True)
        self.process.start()
        child_conn.close()  # the child's end: closed here, so its death is EOF on ours

    def send(self, message: tuple[str, Any] | None) -> None:
        """Send the driver a window (None: the end)."""
        try:
            self.conn.send(message)
        except OSError:  # it died: say why (its error, or that it went away)
            self.receive()
            raise self._gone() from None

    def receive(self) -> tuple[Any, ...]:
        """The driver's next answer; its info is logged, its error raised, its death (Ray ends
        it when the cluster goes) an error."""
        while True:
            try:
                message: tuple[Any, ...] = self.conn.recv()
            except (EOFError, OSError):
                raise self._gone() from None
            if message[0] == "error":
                raise ClusterError(message[1], hint=message[2])
            if message[0] != "info":
                return message
            log.info("%s", message[1])

    def expect(self, kind: str) -> tuple[Any, ...]:
        """The driver's next answer, which must be ``kind``."""
        message = self.receive()
        if message[0] != kind:
            raise ClusterError(f"the Ray driver answered {message[0]!r}, not {kind!r}",
                               hint=RETRY_HINT)
        return message

    def _gone(self) -> ClusterError:
        self.process.join(timeout=10)
        return ClusterError(f"the Ray cluster at {self.address or 'this machine'} went away "
                            f"during the build (its driver exited with code "
                            f"{self.process.exitcode})", hint=RETRY_HINT)

    def close(self, failed: bool) -> None:
        """End the driver: after its last window when the build succeeded, else at once."""
        try:
            if not failed:
                self.send(None)
                self.expect("done")
        except ClusterError as exc:
            log.warning("%s", exc.message)
            failed = True
        finally:
            self.conn.close()
            if failed:
                self.process.terminate()
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()


def _check_ray_installed() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ClusterError("the Ray build engine needs Ray, which is not installed",
                           hint="pip install 'qabot[ray]', or build with --engine local")


def _probe(address: str, timeout: float) -> None:
    """Raise ``ClusterError`` unless something listens at ``address`` (host:port)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return
    except ValueError:
        raise ClusterError(f"the Ray address {address!r} is not host:port",
                           hint="e.g. --ray-address 10.0.0.5:6379") from None
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: "
                           f"{exc.strerror or exc}",
                           hint="start its head with `ray start --head` (README 'Distributed "
                                "builds (Ray)') or fix ray_address; the live index is "
                                "unchanged") from None
