"""``accord``: the operator's command line. Command names and flags are fixed (DESIGN §8)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contracts.agencies import is_agency_slug
from kit.settings import Settings
from services.cli_audit import audit_app
from services.cli_federation import directory_app, federation_app, keys_app
from services.cli_sop import sop_app

cli = typer.Typer(
    name="accord",
    help="Accord node: consent-bound, sealed referrals between agencies.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
cli.add_typer(sop_app, name="sop")
cli.add_typer(keys_app, name="keys")
cli.add_typer(directory_app, name="directory")
cli.add_typer(audit_app, name="audit")
cli.add_typer(federation_app, name="federation")


def _parse_agency(value: str) -> tuple[str, str]:
    slug, sep, name = value.partition("=")
    slug = slug.strip()
    if not sep or not name.strip():
        raise typer.BadParameter(f"{value!r} is not SLUG=NAME, e.g. unhcr=UNHCR")
    if not is_agency_slug(slug):
        raise typer.BadParameter(
            f"{slug!r} is not an agency slug: 2-32 characters, lowercase letters, digits, dashes"
        )
    return slug, name.strip()


def _parse_country(value: str) -> tuple[str, str]:
    slug, sep, country = value.partition("=")
    if not sep or re.fullmatch(r"[A-Z]{3}", country.strip()) is None:
        raise typer.BadParameter(
            f"{value!r} is not SLUG=ISO3, e.g. gov-xk=XKX (ISO 3166-1 alpha-3, XKX for Kosovo)"
        )
    return slug.strip(), country.strip()


def _parse_time_zone(value: str) -> tuple[str, str]:
    from kit.i18n import valid_time_zone

    slug, sep, zone = value.partition("=")
    if not sep or valid_time_zone(zone.strip()) is None:
        raise typer.BadParameter(f"{value!r} is not SLUG=ZONE, e.g. iom=Europe/Belgrade (IANA)")
    return slug.strip(), zone.strip()


@cli.command()
def init(
    agency: Annotated[
        list[str] | None,
        typer.Option(
            "--agency",
            metavar="SLUG=NAME",
            help="An agency hosted on this node, as SLUG=NAME. Repeatable.",
        ),
    ] = None,
    country: Annotated[
        list[str] | None,
        typer.Option(
            "--country",
            metavar="SLUG=ISO3",
            help="The state a government acts for, as SLUG=ISO3 (gov-xk=XKX). Repeatable.",
        ),
    ] = None,
    time_zone: Annotated[
        list[str] | None,
        typer.Option(
            "--time-zone",
            help="An agency's IANA time zone, for its console, as SLUG=ZONE "
            "(iom=Europe/Belgrade). Repeatable; UTC where not given.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout and nothing else.")
    ] = False,
) -> None:
    """Apply migrations and register the agencies hosted on this node."""
    from kit.master_key import MasterKeyMissing
    from services.init import initialise_node

    settings = Settings()
    agencies = [_parse_agency(value) for value in agency or []]
    countries = dict(_parse_country(value) for value in country or [])
    zones = dict(_parse_time_zone(value) for value in time_zone or [])
    try:
        result = asyncio.run(
            initialise_node(settings, agencies, countries=countries, time_zones=zones)
        )
    except MasterKeyMissing as exc:
        typer.echo(f"accord init: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    table = Table(
        "agency",
        "name",
        "admin email",
        "admin password",
        "client id",
        "client secret",
        title="Agencies hosted on this node (secrets are shown only now)",
    )
    for row in result["agencies"]:
        table.add_row(
            row["agency"],
            row["name"],
            row["admin"]["email"],
            row["admin"]["password"] or "(unchanged)",
            row["client"]["client_id"],
            row["client"]["client_secret"] or "(unchanged)",
        )
    Console().print(table)


class PublicUrlMissing(Exception):
    pass


def advertised_url(settings: Settings, *, host: str, port: int) -> str:
    """The URL the node names itself by (OAuth issuer, token audience, ``jwks_uri``, console
    links): ACCORD_PUBLIC_URL when set; in dev, the address it listens on; in prod, no guess."""
    if "public_url" in settings.model_fields_set:
        return settings.issuer
    if settings.env != "dev":
        raise PublicUrlMissing(
            "ACCORD_PUBLIC_URL is not set. In production the node must be told the https URL "
            "clients reach it at: it is the OAuth issuer and the audience of its tokens."
        )
    reachable = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host  # noqa: S104 - compared, not bound
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Apply pending migrations before serving.")
    ] = False,
) -> None:
    """Run the node's HTTP API."""
    import uvicorn

    from kit.db.migrate import upgrade_to_head
    from kit.master_key import load_master_key

    settings = Settings()
    try:
        public_url = advertised_url(settings, host=host, port=port)
    except PublicUrlMissing as exc:
        typer.echo(f"accord serve: {exc}", err=True)
        raise typer.Exit(2) from exc
    # The workers read their settings from the environment: they advertise the same URL.
    os.environ["ACCORD_PUBLIC_URL"] = public_url
    if migrate:
        upgrade_to_head(settings.database_url, master_key=load_master_key(settings))
    typer.echo(f"accord serve: listening on {host}:{port}, advertising {public_url}", err=True)
    uvicorn.run(
        "services.asgi:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        # ACCORD_TRUSTED_PROXIES decides whose X-Forwarded-For counts; uvicorn's own default
        # would already believe any caller on 127.0.0.1 and rewrite the peer before we see it.
        proxy_headers=False,
    )


@cli.command()
def demo(
    exit_after: Annotated[
        bool, typer.Option("--exit", help="Stop the nodes once the summary is printed.")
    ] = False,
    summary_json: Annotated[
        str | None, typer.Option("--summary-json", help="Also write the summary to this file.")
    ] = None,
) -> None:
    """Start a local node on SQLite under ./var/demo and print where to reach it."""
    from services.demo.runner import run_demo

    raise typer.Exit(run_demo(exit_after=exit_after, summary_json=summary_json))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
