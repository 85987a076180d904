"""Keeping the garbage collector's full passes short, so that they do not stall the event loop.

A full (oldest-generation) collection walks every tracked object in the process. After start-up
that is mostly modules, routes, pydantic schemas and SQLAlchemy mappers, which live as long as
the process; walking them took 130 ms here, during which no request is answered. Moving them to
the permanent generation once, when the node has started, leaves a full pass only the objects
made since.
"""

from __future__ import annotations

import gc
from functools import cache


@cache
def freeze_startup_objects() -> None:
    """Once per process: collect what start-up left behind (so that garbage is not kept
    forever), then exempt everything still alive from later collections."""
    gc.collect()
    gc.freeze()
