"""Structured JSON logs: one object per line, the request id bound on every line of a request.

Nothing personal goes in: handlers log ids, route templates, statuses and durations, never
bodies, query strings or names. The stdlib root logger is routed through the same renderer so
that uvicorn's and SQLAlchemy's lines are JSON too.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time of the call, not at configuration."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and stdlib logging to stdout. Idempotent; called by app and CLI."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Never render local variables: they hold request bodies, tokens and personal data.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
            if json
            else structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    handler.set_name("accord")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "accord"]
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's access log repeats the raw path and query; ours logs the route template.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces its dialect on every readiness probe; only its warnings matter.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every outgoing URL at INFO; peers' paths are not for our logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
