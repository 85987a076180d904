"""Reading SOP definitions from YAML, keeping the line of every node.

Every problem, from a YAML syntax error to a bypassed protection, is reported as
``FILE:LINE: message``. PyYAML's composed node tree knows where each node starts; we walk it
once into a :class:`~sop.problems.SourceMap` (path -> line) before constructing plain data,
then map pydantic error locations and verifier findings back through it.

Before YAML builds anything, a definition is bounded (:mod:`sop.limits`): at most 256 KiB,
collections nested at most 64 deep, and no anchors or aliases. An alias repeats a node without
repeating its text, so a 330-byte "billion laughs" stands for millions of nodes; an SOP has no
need for them, and refusing the first one met stops the parse there.

The loader also closes two YAML traps an SOP author would otherwise fall into:

* duplicate keys, which PyYAML silently lets the last one win: a second ``issued:`` under
  ``outcomes`` would quietly delete a route. They are reported.
* YAML 1.1 booleans: ``yes``/``no``/``on``/``off`` (and the country code ``NO``) would load as
  booleans; here only ``true``/``false`` are booleans, as in YAML 1.2.

Only :func:`check_file` and :func:`load_definition` touch the file system; everything else
takes text, so definitions stored as signed documents (DESIGN §7) go through the same checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sop.errors import DefinitionInvalid
from sop.limits import DOCUMENT_DEPTH, Breach, document_breach
from sop.problems import NodePath, Problem, SourceMap
from sop.schema import Definition
from sop.verify import verify

SHIPPED_DIR = Path(__file__).parent / "definitions"
"""The SOPs shipped with Accord (``avrr-joint.yaml``)."""

_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """The document breaks a limit of :mod:`sop.limits`; composing stops where it does."""

    def __init__(self, event: yaml.Event, breach: Breach, message: str) -> None:
        super().__init__(message)
        self.line = event.start_mark.line + 1 if event.start_mark is not None else 1
        self.breach = breach
        self.message = message


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (``true``/``false`` only), refusing anchors, aliases
    and collections nested deeper than :data:`~sop.limits.DOCUMENT_DEPTH`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # stubs lack it
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise _Refused(
                event,
                Breach("yaml-anchors", 0, 1, "uses a YAML anchor or alias"),
                f"YAML anchors and aliases are not allowed (found {sign}{event.anchor}): an "
                "alias repeats a node without its text, so a few bytes can stand for millions "
                "of nodes; write the value out",
            )
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > DOCUMENT_DEPTH:
            raise _Refused(
                event,
                Breach("document-depth", DOCUMENT_DEPTH, self.depth, "nests too deeply"),
                f"collections are nested more than {DOCUMENT_DEPTH} deep here; an SOP needs "
                "about six levels",
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class Parsed:
    """A document parsed and validated against the schema, not yet verified."""

    file: str
    source: SourceMap
    definition: Definition | None
    problems: list[Problem] = field(default_factory=list)


def _walk(node: yaml.Node, path: NodePath, source: SourceMap, file: str) -> list[Problem]:
    """Record the line of every node under ``node``; report duplicate keys."""
    problems: list[Problem] = []

    def visit(node: yaml.Node, path: NodePath) -> None:
        # The loader refuses aliases, so this is a tree: no node is visited twice.
        source.record(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            merges: list[yaml.Node] = []
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    merges += value.value if isinstance(value, yaml.SequenceNode) else [value]
                    continue
                name = str(key.value)
                line = key.start_mark.line + 1
                if name in seen:
                    problems.append(
                        Problem(
                            file,
                            line,
                            "duplicate-key",
                            f"duplicate key {name!r} (first at line {seen[name]}); YAML would "
                            "silently keep only the last one",
                        )
                    )
                    continue
                seen[name] = line
                # A mapping entry is located by its key, not by where its value starts.
                source.record((*path, name), line)
                visit(value, (*path, name))
            # Merged keys (``<<: *defaults``) after explicit ones, which override them.
            for merged in merges:
                visit(merged, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                visit(item, (*path, index))

    visit(node, path)
    return problems


def _describe(loc: tuple[int | str, ...]) -> str:
    text = ""
    for element in loc:
        if isinstance(element, int):
            text += f"[{element}]"
        elif re.fullmatch(r"[A-Za-z_][\w-]*", element):
            text += f".{element}" if text else element
    return text or "document"


def _schema_problems(error: ValidationError, source: SourceMap, file: str) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            message = f"{_describe(loc)}: unknown field (the schema forbids extra fields)"
        else:
            message = f"{_describe(loc)}: {item['msg']}"
        problems.append(Problem(file, source.line(*loc), "schema", message))
    return problems


def parse_definition(text: str, file: str = "<string>") -> Parsed:
    """Parse YAML text and validate it against the schema; no semantic checks.

    A document over :data:`~sop.limits.DOCUMENT_BYTES` is refused before it is parsed, and
    one with an anchor, an alias or collections nested too deeply where the first is met.
    """
    source = SourceMap()
    oversized = document_breach(text)
    if oversized is not None:
        message = f"the definition {oversized.message}"
        return Parsed(file, source, None, [Problem(file, 1, oversized.limit, message, oversized)])
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            problems = [] if node is None else _walk(node, (), source, file)
            data: Any = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except _Refused as refused:
        problem = Problem(file, refused.line, refused.breach.limit, refused.message, refused.breach)
        return Parsed(file, source, None, [problem])
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(part for part in (error.context, error.problem) if part)
        return Parsed(file, source, None, [Problem(file, line, "yaml", f"invalid YAML: {message}")])
    except yaml.YAMLError as error:
        return Parsed(file, source, None, [Problem(file, 1, "yaml", f"invalid YAML: {error}")])
    if not isinstance(data, dict):
        problems.append(
            Problem(file, source.line(), "schema", "a definition is a mapping with id, version...")
        )
        return Parsed(file, source, None, problems)
    try:
        definition = Definition.model_validate(data)
    except ValidationError as error:
        return Parsed(file, source, None, problems + _schema_problems(error, source, file))
    return Parsed(file, source, definition, problems)


def check_text(text: str, file: str = "<string>") -> list[Problem]:
    """Every problem of a definition given as text: YAML, schema, then verification.

    Verification runs only on a schema-valid document: references and guards cannot be
    checked in a document whose structure is unknown.
    """
    parsed = parse_definition(text, file)
    problems = list(parsed.problems)
    if parsed.definition is not None:
        problems += verify(parsed.definition, source=parsed.source, file=file)
    return sorted(problems, key=lambda p: (p.line, p.code, p.message))


def check_file(path: str | Path) -> list[Problem]:
    """:func:`check_text` on a file, reported under the path as given (``accord sop check``)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [Problem(file, 1, "unreadable", f"cannot read the file: {error}")]
    return check_text(text, file)


def load_text(text: str, file: str = "<string>") -> Definition:
    """A verified definition from text; :class:`DefinitionInvalid` listing every problem.

    DESIGN §7: definitions are verified on load, so no journey runs on one that could send a
    child to departure without a best-interests determination.
    """
    parsed = parse_definition(text, file)
    problems = list(parsed.problems)
    if parsed.definition is not None:
        problems += verify(parsed.definition, source=parsed.source, file=file)
    if problems or parsed.definition is None:
        raise DefinitionInvalid(sorted(problems, key=lambda p: (p.line, p.code)))
    return parsed.definition


def load_definition(path: str | Path) -> Definition:
    """:func:`load_text` on a file."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DefinitionInvalid(
            [Problem(file, 1, "unreadable", f"cannot read the file: {error}")]
        ) from error
    return load_text(text, file)


def shipped_definition(name: str = "avrr-joint") -> Definition:
    """A definition shipped in ``sop/definitions/`` by file stem (``avrr-joint``)."""
    return load_definition(SHIPPED_DIR / f"{name}.yaml")
