"""Shared infrastructure that ``auth/`` and ``services/`` both stand on: the database engine and
sessions, HTTP routing, problems and middleware, errors, settings, the master key,
observability and in-process events. It imports neither ``auth`` nor ``services``
(``make lint`` checks it)."""
