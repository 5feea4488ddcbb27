"""``ray_vector_source``: a build's new passages embedded on a Ray cluster.

Only the passages that need vectors (never the reused ones) go to the cluster, sorted by length
so each batch pads little; Ray Data's ``map_batches`` runs them through a fixed pool of
``EncoderActor`` s and the vectors stream back block by block (``iter_batches``). The Ray
driver runs in a child process (``driver.drive``): Ray ends a driver whose cluster goes away,
and the qabot process must outlive that to say so. An unreachable cluster, or one that goes
away mid-build, is one ``ClusterError``; the build then writes nothing and the live
generation keeps answering.
"""

from __future__ import annotations

import logging
import multiprocessing
import socket
from collections.abc import Callable
from typing import Any
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from ..errors import ClusterError
from ..index.plan import VectorChunks, VectorPlan, VectorSource, new_passages
from .driver import RETRY_HINT, drive
from .pool import EncoderSpec, RayOptions

log = logging.getLogger(__name__)

_SEND_PASSAGES = 10_000  # passages per message to the driver


def ray_vector_source(options: RayOptions, spec: EncoderSpec) -> VectorSource:
    """A ``VectorSource`` that embeds a plan's new passages on the Ray cluster of ``options``
    with the encoder of ``spec``; it connects only when a build has something to embed."""
    def source(plan: VectorPlan, advance: Callable[[int], None]) -> VectorChunks:
        return _stream(plan, advance, options, spec)

    return source


def _stream(plan: VectorPlan, advance: Callable[[int], None], options: RayOptions,
            spec: EncoderSpec) -> VectorChunks:
    passages = sorted(new_passages(plan), key=lambda p: len(p[1]))
    if not passages:
        return
    _check_ray_installed()
    address = options.address
    if address and address != "auto" and "://" not in address:
        _probe(address, options.connect_timeout_s)  # ray.init retries a dead address for minutes
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    driver = context.Process(target=drive, args=(child_conn, options, spec),
                             name="qabot-ray-driver", daemon=True)
    driver.start()
    child_conn.close()  # the child's end: closed here, so its death is EOF on ours
    done = False
    try:
        try:
            for i in range(0, len(passages), _SEND_PASSAGES):
                conn.send(passages[i:i + _SEND_PASSAGES])
            conn.send(None)
        except OSError:  # the driver died before reading them
            _receive(conn, driver, address)
        while not done:
            message = _receive(conn, driver, address)
            done = message[0] == "done"
            if message[0] == "info":
                log.info("%s", message[1])
            elif message[0] == "error":
                raise ClusterError(message[1], hint=message[2])
            elif message[0] == "rows":
                _, start, rows = message
                yield start, rows
                advance(len(rows))
    finally:
        conn.close()
        if not done:  # an error, or the build stopped reading: end the driver and its pipeline
            driver.terminate()
        driver.join(timeout=30)
        if driver.is_alive():
            driver.kill()
            driver.join()


def _receive(conn: Connection, driver: BaseProcess, address: str | None) -> tuple[Any, ...]:
    """The driver's next message; its death (Ray ends it when the cluster goes) is an error."""
    try:
        return conn.recv()  # type: ignore[no-any-return]
    except (EOFError, OSError):
        driver.join(timeout=10)
        raise ClusterError(f"the Ray cluster at {address or 'this machine'} went away during "
                           f"the build (its driver exited with code {driver.exitcode})",
                           hint=RETRY_HINT) from None


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
