"""Babel extractors for what ``pybabel extract`` cannot see on its own (``babel.cfg``).

- :func:`extract_python`: the ``gettext``/``ngettext``/``N_`` calls Babel's own extractor
  finds, and every problem type's ``title`` (a class attribute next to a ``slug``: the
  problem document's title is translated where it is rendered, ``kit.http.problems``).
- :func:`extract_yaml_titles`: every ``title`` of a YAML document, such as the stage titles
  of the SOPs Accord ships (``sop/definitions``); a title an agency writes itself stays as
  written.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import yaml
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.extract import extract_python as babel_extract_python
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from kit.i18n import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, LOCALE_DIR

Extracted = tuple[Any, ...]


def _problem_titles(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        names: dict[str, ast.expr] = {}
        for item in node.body:
            if isinstance(item, ast.Assign) and len(item.targets) == 1:
                target = item.targets[0]
                if isinstance(target, ast.Name):
                    names[target.id] = item.value
            elif (
                isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and item.value is not None
            ):
                names[item.target.id] = item.value
        title = names.get("title")
        if "slug" in names and isinstance(title, ast.Constant) and isinstance(title.value, str):
            yield title.lineno, title.value


def extract_python(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: dict[str, Any],
) -> Iterator[Extracted]:
    yield from babel_extract_python(fileobj, keywords, comment_tags, options)  # type: ignore[arg-type]
    fileobj.seek(0)
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    for line, title in _problem_titles(ast.parse(source)):
        yield line, "gettext", title, []


def _titles(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                yield value
            else:
                yield from _titles(value)
    elif isinstance(node, list):
        for item in node:
            yield from _titles(item)


def extract_yaml_titles(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],  # noqa: ARG001 (Babel's extractor signature)
    comment_tags: Collection[str],  # noqa: ARG001
    options: dict[str, Any],
) -> Iterator[Extracted]:
    text = fileobj.read().decode(options.get("encoding", "utf-8"))
    lines = text.splitlines()
    for title in _titles(yaml.safe_load(text)):
        line = next((n for n, t in enumerate(lines, 1) if f"title: {title}" in t), 0)
        yield line, "gettext", title, []


#: The keywords that mark a message: Babel's defaults and ``N_`` (marked, translated later).
KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extract_catalog(root: Path) -> Catalog:
    """Every message of the project under ``root``, as ``babel.cfg`` says where to look."""
    with (root / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    catalog = Catalog(project="Accord", version="0.1.0", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        root, method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def main() -> None:
    """``make catalogues``: write ``messages.pot`` and bring each language's ``.po`` up to
    date with it (new messages untranslated, gone ones dropped), without line numbers, so
    that an unrelated edit does not churn the files."""
    root = Path(__file__).resolve().parents[2]
    template = extract_catalog(root)
    pot_path = LOCALE_DIR / f"{DOMAIN}.pot"
    if pot_path.exists():
        with pot_path.open("rb") as pot:
            before = read_po(pot)
        if {m.id for m in before} == {m.id for m in template}:
            # Nothing new: keep the header's date, so that a run changes no file.
            template.creation_date = before.creation_date
    with pot_path.open("wb") as pot:
        write_po(pot, template, width=100, no_location=True, sort_output=True)
    for language in LANGUAGES:
        if language == DEFAULT_LANGUAGE:
            continue
        path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as po:
                catalog = read_po(po, locale=language, domain=DOMAIN)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project="Accord", version="0.1.0")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as po:
            write_po(
                po, catalog, width=100, no_location=True, sort_output=True, ignore_obsolete=True
            )


if __name__ == "__main__":
    main()
