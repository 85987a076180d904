"""Verifying an uploaded SOP in a worker process that is killed when its time is up (issue 13).

Verification compiles and evaluates every guard and searches the stage graph for bypassed
protections. The static limits of :mod:`sop.limits` bound most of that work, not all of it (a
guard's regular expressions, a definition with thousands of stages), and it is CPU work that
would stall the event loop, and ``/healthz`` with it. A CEL evaluation cannot be interrupted
from Python, so verification runs in a worker process, and a worker that runs out of time is
killed; the next upload starts a fresh one.

A worker is a fresh interpreter (``python -c``) that imports the SOP code and nothing else,
then answers requests over its stdin and stdout until its stdin closes. It is not forked from
the node: the node runs an event loop and threads, and a forked copy of their locks can
deadlock; and multiprocessing's children re-run the main script (for ``accord``, an import of
the whole node). A worker lives on between uploads, so an upload pays for a round trip, not
for a start: the first upload after the node starts waits for one worker to import (under a
second), and only then does its time limit start.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kit.errors import AccordError
from sop.errors import DefinitionInvalid
from sop.limits import VERIFY_SECONDS
from sop.loader import load_text

ROOT = Path(__file__).resolve().parents[2]
"""The directory holding ``services`` and ``sop``: the worker imports them from here, as the
node does, whatever its working directory."""

_SERVE = "import sys; sys.path.insert(0, {root!r}); from {module} import serve; serve()"

STARTUP_SECONDS = 60.0
"""How long a new worker may take to import; a worker that takes longer is broken."""


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


# -- in the worker ---------------------------------------------------------------------------


def serve() -> None:
    """The worker: answer ``(text, file)`` requests with their outcome until stdin closes."""
    answers = os.fdopen(os.dup(1), "wb")
    # Whatever else writes to stdout (a stray print, a warning) must not corrupt the answers.
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    _answer(answers, ("ready", None))
    while True:
        try:
            text, file = pickle.load(requests)  # noqa: S301 - from the node that started us
        except EOFError:
            return
        _limit_cpu(VERIFY_SECONDS)
        _answer(answers, _outcome(text, file))


def _outcome(text: str, file: str) -> tuple[str, Any]:
    try:
        definition = load_text(text, file)
    except DefinitionInvalid as invalid:
        return "invalid", invalid.problems
    return "valid", Verified(definition.id, definition.version, definition.title)


def _answer(answers: IO[bytes], message: tuple[str, Any]) -> None:
    pickle.dump(message, answers)
    answers.flush()


def _limit_cpu(seconds: float) -> None:
    """A backstop, should the node die before it can kill this worker: the CPU time the
    worker has used, plus this request's allowance, is all it may use."""
    if sys.platform == "win32":
        return
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    allowed = int(usage.ru_utime + usage.ru_stime + seconds) + 2
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard == resource.RLIM_INFINITY or allowed <= hard:
        resource.setrlimit(resource.RLIMIT_CPU, (allowed, hard))


# -- in the node -----------------------------------------------------------------------------


class _Worker:
    """One worker process, used by one verification at a time."""

    def __init__(self) -> None:
        command = [sys.executable, "-c", _SERVE.format(root=str(ROOT), module=__name__)]
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our code
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.expired = threading.Event()
        if self._read(STARTUP_SECONDS) != ("ready", None):
            self.kill()
            raise RuntimeError("the SOP verifier process did not start")

    @property
    def alive(self) -> bool:
        return not self.expired.is_set() and self.process.poll() is None

    def ask(self, text: str, file: str, seconds: float) -> tuple[str, Any]:
        """The outcome of verifying ``text``; :class:`VerificationTimedOut` after ``seconds``."""
        assert self.process.stdin is not None  # noqa: S101 - Popen(stdin=PIPE)
        pickle.dump((text, file), self.process.stdin)
        self.process.stdin.flush()
        outcome = self._read(seconds)
        if outcome is not None:
            return outcome
        timed_out = self.expired.is_set()
        self.kill()
        if timed_out:
            raise VerificationTimedOut(
                f"Verifying the definition took longer than {seconds:g} s; it was stopped. "
                "Simplify its guards or split it."
            )
        raise RuntimeError(
            f"the SOP verifier process exited without an answer ({self.process.returncode})"
        )

    def _read(self, seconds: float) -> tuple[str, Any] | None:
        """The next message; None once the worker exits, or is killed after ``seconds``."""
        assert self.process.stdout is not None  # noqa: S101 - Popen(stdout=PIPE)
        deadline = threading.Timer(seconds, self._expire)
        deadline.start()
        try:
            message: tuple[str, Any] = pickle.load(self.process.stdout)  # noqa: S301 - our worker
        except (EOFError, pickle.UnpicklingError):
            return None
        finally:
            deadline.cancel()
        return message

    def _expire(self) -> None:
        # From the timer's thread: only the signal, so the reading thread sees end of file.
        self.expired.set()
        self.process.kill()

    def kill(self) -> None:
        self._expire()
        self.process.wait()
        self._close_pipes()

    def close(self) -> None:
        """End the worker the polite way: it exits when its stdin closes."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class Verifier:
    """Verifies definitions in worker processes, at most ``concurrency`` at a time.

    Built in the app's lifespan and closed when it ends. Uploads wait for a free worker
    rather than start more, so a burst of uploads cannot take every core of the node.
    """

    def __init__(self, *, seconds: float = VERIFY_SECONDS, concurrency: int = 2) -> None:
        self.seconds = seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    async def verify(self, text: str, file: str = "sop") -> Verified:
        """The verified definition's identity; :class:`~sop.errors.DefinitionInvalid` with
        every problem, or :class:`VerificationTimedOut`."""
        async with self._slots:
            # The thread only waits on a pipe, so the event loop keeps serving meanwhile.
            outcome, value = await asyncio.to_thread(self._ask, text, file)
        if outcome == "invalid":
            raise DefinitionInvalid(value)
        verified: Verified = value
        return verified

    def _ask(self, text: str, file: str) -> tuple[str, Any]:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None or not worker.alive:
            worker = _Worker()
        try:
            outcome = worker.ask(text, file, self.seconds)
        except BaseException:
            if worker.alive:
                worker.kill()
            raise
        with self._lock:
            if not self._closed and worker.alive:
                self._idle.append(worker)
                worker = None
        if worker is not None:
            worker.close()
        return outcome

    def close(self) -> None:
        """End the idle workers; one still verifying ends when it is done."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()
