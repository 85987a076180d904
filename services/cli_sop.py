"""``accord sop``: check and draw SOP definitions (DESIGN §7, §8).

The command lines are fixed: ``accord sop check FILE...`` and
``accord sop graph FILE --format mermaid|dot``. The logic lives in ``sop/``; this module only
reads arguments, prints and sets the exit code.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sop.graph import to_dot, to_mermaid
from sop.loader import check_file, parse_definition

sop_app = typer.Typer(
    help="Check and draw SOP definitions (stages, guards, mandatory protections).",
    no_args_is_help=True,
    add_completion=False,
)


class GraphFormat(StrEnum):
    MERMAID = "mermaid"
    DOT = "dot"


@sop_app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="SOP definition files (YAML).")],
) -> None:
    """Verify definitions; print each problem as FILE:LINE: message. Exit 1 on any problem."""
    total = 0
    for path in files:
        problems = check_file(path)
        total += len(problems)
        for problem in problems:
            typer.echo(str(problem))
    typer.echo(
        f"{len(files)} definition(s) checked, {total} problem(s)",
        err=True,
    )
    raise typer.Exit(1 if total else 0)


@sop_app.command()
def graph(
    file: Annotated[Path, typer.Argument(help="An SOP definition file (YAML).")],
    graph_format: Annotated[
        GraphFormat, typer.Option("--format", help="Mermaid flowchart or Graphviz DOT.")
    ] = GraphFormat.MERMAID,
) -> None:
    """Print the stage graph. A definition that parses is drawn even if it does not verify
    (the drawing helps find why); its problems go to stderr."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        typer.echo(f"{file}:1: cannot read the file: {error}", err=True)
        raise typer.Exit(1) from error
    parsed = parse_definition(text, str(file))
    if parsed.definition is None:
        for problem in parsed.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1)
    for problem in check_file(file):
        typer.echo(f"warning: {problem}", err=True)
    render = to_dot if graph_format is GraphFormat.DOT else to_mermaid
    typer.echo(render(parsed.definition), nl=False)
