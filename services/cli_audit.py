"""``accord audit verify [--agency SLUG]``: verify the audit chains on this node (DESIGN §8).

Reads the database named by the environment (like ``accord init``) and writes nothing. Exit 0
when every chain verifies, 1 otherwise, with the first bad event of each chain that does not.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from kit.settings import Settings

if TYPE_CHECKING:
    from services.audit.service import Verification

audit_app = typer.Typer(
    help="Verify the audit log's hash chains and signed checkpoints.",
    no_args_is_help=True,
    add_completion=False,
)


async def _verify(settings: Settings, only: str | None) -> tuple[list[str], bool]:
    from kit.db.session import Database
    from kit.master_key import load_master_key
    from services.agencies import repository as hosted
    from services.audit import repository as audit_rows
    from services.audit import service as audit

    master_key = load_master_key(settings)
    db = Database.open(settings)
    lines, ok = [], True
    try:
        # A plain session, never committed: verification reads and must change nothing.
        async with db.sessions() as session:
            agencies = {a.slug for a in await hosted.list_all(session)}
            agencies |= set(await audit_rows.chain_agencies(session))
            if only is not None:
                if only not in agencies:
                    return [f"{only}: not hosted on this node and has no audit chain"], False
                agencies = {only}
            for agency in sorted(agencies):
                result = await audit.verify(session, master_key=master_key, agency=agency)
                lines.append(_describe(result))
                ok = ok and result.report.ok
    finally:
        await db.close()
    return lines, ok


def masked_url(url: str) -> str:
    """The database URL with its password, if any, shown as ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def _describe(result: Verification) -> str:
    report, finding = result.report, result.report.finding
    if finding is not None:
        where = f" (event {result.event_id})" if result.event_id else ""
        return (
            f"{report.agency}: FAILED at seq {finding.seq}{where}: {finding.problem.value}: "
            f"{finding.detail}"
        )
    latest = report.latest_checkpoint
    anchored = (
        f"latest checkpoint seq {latest.seq} signed {latest.content()['at']}"
        if latest is not None
        else "no checkpoint yet"
    )
    return (
        f"{report.agency}: ok: {report.events} events, {len(report.checkpoints)} signed "
        f"checkpoints, {anchored}"
    )


@audit_app.command()
def verify(
    agency: Annotated[
        str | None,
        typer.Option("--agency", metavar="SLUG", help="Verify only this agency's chain."),
    ] = None,
) -> None:
    """Verify every hosted agency's chain (or one): links, head and signed checkpoints."""
    from kit.master_key import MasterKeyMissing

    settings = Settings()
    # Say which database is read (an operator with several nodes checks the one meant),
    # never its password.
    typer.echo(f"database: {masked_url(settings.database_url)}")
    try:
        lines, ok = asyncio.run(_verify(settings, agency))
    except (MasterKeyMissing, SQLAlchemyError) as exc:
        typer.echo(f"accord audit verify: cannot verify: {exc}", err=True)
        raise typer.Exit(1) from exc
    for line in lines:
        typer.echo(line)
    raise typer.Exit(0 if ok else 1)
