"""The benchmark harness of issue 19: ``make bench`` and ``make bench-long`` (``python -m bench``).

Everything it measures it starts itself (a PostgreSQL cluster in a temporary directory, nodes
as ``accord serve`` processes on 127.0.0.1, a bare FastAPI baseline) and reports every figure
as a ratio to that baseline, measured in the same run on the same machine.
"""
