"""Joint SOPs as data (DESIGN §7): which agency acts at each stage of a person's path, on which
data categories, for which purpose, by when, and for whom.

Pure domain code: no FastAPI, no SQLAlchemy, no I/O except :mod:`sop.loader` reading a file it
is given.

- :mod:`sop.schema`: the definition models (stages, outcomes, guards, kinds, facts, params).
- :mod:`sop.loader`: YAML with line numbers; ``check_file``/``check_text``/``load_definition``.
- :mod:`sop.verify`: static verification, including the mandatory protections.
- :mod:`sop.guards`: CEL guards, compiled once per definition, three-valued on unknown facts.
- :mod:`sop.limits`: how large a definition and its guards may be, checked before they run;
  :mod:`sop.cel_shape` measures a guard from its source.
- :mod:`sop.engine`: ``start``/``advance``/``overdue`` over immutable journey states.
- :mod:`sop.graph`: Mermaid and Graphviz drawings of the stage graph.
- ``sop/definitions/``: the shipped SOPs (``avrr-joint.yaml``).
"""
