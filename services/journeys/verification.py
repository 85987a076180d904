"""Verifying an uploaded SOP in a child process that is killed when its time is up (issue 13).

Verification compiles and evaluates every guard and searches the stage graph for bypassed
protections. The static limits of :mod:`sop.limits` bound most of that work, not all of it (a
guard's regular expressions, a definition with thousands of stages), and it is CPU work that
would stall the event loop, and ``/healthz`` with it. A CEL evaluation cannot be interrupted
from Python, so each upload is verified in its own process, and the process is killed after
:data:`~sop.limits.VERIFY_SECONDS`.

The process comes from a forkserver that imported this module (and so the SOP code) once:
starting one costs milliseconds, not the second a fresh interpreter spends on imports, and the
time limit is spent on verification. Plain ``fork`` is not used: the node's process runs an
event loop and threads, and a forked copy of their locks can deadlock.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import sys
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext

from services.errors import AccordError
from sop.errors import DefinitionInvalid
from sop.limits import VERIFY_SECONDS
from sop.loader import load_text


class VerificationTimedOut(AccordError):
    status = 422
    slug = "sop-verification-timeout"
    title = "SOP verification took too long"
    explanation = (
        "The node verifies a definition (every guard evaluated, every path searched) within a "
        "fixed time and stops it there. Simplify the guards (regular expressions inside "
        "comprehensions are the usual cause) or split the definition, and upload it again."
    )


@dataclass(frozen=True, slots=True)
class Verified:
    """What the node stores about a definition that verified."""

    id: str
    version: str
    title: str

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"


def _start_method() -> ForkServerContext | SpawnContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # Effective when the forkserver starts, i.e. at the first verification. With
        # ``__main__`` imported there once, a child does not run the main script again (for
        # ``accord``, an import of the whole node) on the clock of its time limit.
        context.set_forkserver_preload(["__main__", __name__])
        return context
    return multiprocessing.get_context("spawn")


def _verify(connection: Connection, text: str, file: str, seconds: float) -> None:
    """The child's work: verify, send the outcome, exit."""
    if sys.platform != "win32":
        import resource

        # A backstop, should the parent die before it can kill this process.
        cpu = math.ceil(seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    try:
        definition = load_text(text, file)
    except DefinitionInvalid as invalid:
        connection.send(("invalid", invalid.problems))
    else:
        connection.send(("valid", Verified(definition.id, definition.version, definition.title)))
    connection.close()


class Verifier:
    """Verifies definitions in child processes, at most ``concurrency`` at a time.

    Built in the app's lifespan; uploads wait for a free slot rather than start a process each,
    so a burst of uploads cannot take every core of the node.
    """

    def __init__(self, *, seconds: float = VERIFY_SECONDS, concurrency: int = 2) -> None:
        self.seconds = seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._context = _start_method()

    def start(self) -> None:
        """Start the forkserver now: it imports the SOP code while the node starts, not while
        the first upload waits for it."""
        if isinstance(self._context, ForkServerContext):
            forkserver.ensure_running()

    async def verify(self, text: str, file: str = "sop") -> Verified:
        """The verified definition's identity; :class:`~sop.errors.DefinitionInvalid` with
        every problem, or :class:`VerificationTimedOut`."""
        async with self._slots:
            # The thread only waits on a pipe, so the event loop keeps serving meanwhile.
            return await asyncio.to_thread(self._run, text, file)

    def _run(self, text: str, file: str) -> Verified:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_verify,
            args=(sender, text, file, self.seconds),
            name="accord-sop-verify",
            daemon=True,
        )
        try:
            process.start()
            # Only the child writes: with our copy closed, its death reads as end of file.
            sender.close()
            if not receiver.poll(self.seconds):
                raise VerificationTimedOut(
                    f"Verifying the definition took longer than {self.seconds:g} s; it was "
                    "stopped. Simplify its guards or split it."
                )
            try:
                outcome, value = receiver.recv()
            except EOFError:
                process.join()
                raise RuntimeError(
                    f"the SOP verifier exited without an answer (exit code {process.exitcode})"
                ) from None
        finally:
            if process.is_alive():
                process.kill()
            if process.pid is not None:
                process.join()
            sender.close()
            receiver.close()
        if outcome == "invalid":
            raise DefinitionInvalid(value)
        verified: Verified = value
        return verified
