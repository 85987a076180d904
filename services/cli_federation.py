"""``accord keys ...``, ``accord directory ...`` and ``accord federation ...``: agency keys, the
signed directory, and federation traffic for operators."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from contracts.directory import (
    DirectoryError,
    check_unsigned,
    sign_directory,
    verify_directory,
)
from contracts.envelope import format_timestamp
from contracts.keys import KeyKind, PrivateKey, generate_key, parse_public_jwk
from kit.db.base import utcnow
from kit.db.session import Database
from kit.master_key import MasterKeyMissing, load_master_key
from kit.settings import Settings
from services.agencies.models import Agency
from services.agencies.service import default_member_kind, member_entry
from services.federation.models import FederationIncident
from services.keys import store

keys_app = typer.Typer(help="Agency signing and encryption keys.", no_args_is_help=True)
directory_app = typer.Typer(help="The signed federation directory.", no_args_is_help=True)

AgencyOption = Annotated[
    list[str] | None,
    typer.Option("--agency", metavar="SLUG", help="Only this hosted agency. Repeatable."),
]


def _emit(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


async def _members(
    settings: Settings, only: list[str] | None, kinds: dict[str, str], node_url: str, rotate: bool
) -> list[dict[str, Any]]:
    master_key = load_master_key(settings)
    db = Database.open(settings)
    try:
        async with db.sessions.begin() as session:
            hosted = list((await session.scalars(select(Agency).order_by(Agency.slug))).all())
            chosen = [a for a in hosted if not only or a.slug in only]
            missing = set(only or []) - {a.slug for a in hosted}
            if missing:
                raise typer.BadParameter(f"not hosted here: {', '.join(sorted(missing))}")
            members = []
            for agency in chosen:
                if rotate:
                    await store.add_keys(session, master_key=master_key, agency=agency.slug)
                members.append(
                    member_entry(
                        agency,
                        kind=kinds.get(agency.slug, default_member_kind(agency.slug)),
                        node_url=node_url,
                        jwks=await store.public_jwks(session, agency=agency.slug),
                    )
                )
            return members
    finally:
        await db.close()


def _kinds(values: list[str] | None) -> dict[str, str]:
    kinds = {}
    for value in values or []:
        slug, _, kind = value.partition("=")
        if kind not in {"un_agency", "government", "ngo"}:
            raise typer.BadParameter(f"{value!r}: use SLUG=un_agency|government|ngo")
        kinds[slug] = kind
    return kinds


KindOption = Annotated[
    list[str] | None,
    typer.Option("--kind", metavar="SLUG=KIND", help="SLUG=un_agency|government|ngo. Repeatable."),
]
NodeUrlOption = Annotated[
    str | None, typer.Option("--node-url", help="This node's public URL (ACCORD_PUBLIC_URL).")
]


def _run_members(
    agency: list[str] | None, kind: list[str] | None, node_url: str | None, rotate: bool
) -> None:
    settings = Settings()
    try:
        members = asyncio.run(
            _members(settings, agency, _kinds(kind), node_url or settings.issuer, rotate)
        )
    except MasterKeyMissing as exc:
        typer.echo(f"accord keys: {exc}", err=True)
        raise typer.Exit(1) from exc
    _emit({"members": members})


@keys_app.command("export")
def export_keys(
    agency: AgencyOption = None, kind: KindOption = None, node_url: NodeUrlOption = None
) -> None:
    """Print this node's directory entries (public keys only), for the federation operator."""
    _run_members(agency, kind, node_url, rotate=False)


@keys_app.command("rotate")
def rotate_keys(
    agency: AgencyOption = None, kind: KindOption = None, node_url: NodeUrlOption = None
) -> None:
    """Add a new key of every kind; old keys keep verifying and opening until they expire.

    Prints the directory entries to publish: the new keys are used once the directory that
    lists them is in force everywhere.
    """
    _run_members(agency, kind, node_url, rotate=True)


@directory_app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Where to write the private root key.")],
    days: Annotated[int, typer.Option(help="Validity of the root key in days.")] = 730,
) -> None:
    """Create the federation root key; prints its public JWK, which every node pins."""
    now = utcnow().replace(microsecond=0)
    key = generate_key(KeyKind.ED25519, nbf=now, exp=now + timedelta(days=days))
    out.write_bytes(key.to_bytes())
    out.chmod(0o600)
    _emit(key.public.to_jwk())


@directory_app.command("pubkey")
def pubkey(
    root_key: Annotated[Path, typer.Argument(help="The private root key file (from keygen).")],
) -> None:
    """Print the root public JWK, which every node pins as ACCORD_DIRECTORY_ROOT_KEY."""
    try:
        key = PrivateKey.from_bytes(root_key.read_bytes())
    except (OSError, ValueError) as exc:
        typer.echo(f"accord directory pubkey: {root_key}: {exc}", err=True)
        raise typer.Exit(1) from exc
    _emit(key.public.to_jwk())


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        slug, sep, text = value.partition("=")
        if not sep or not slug or not text:
            raise typer.BadParameter(f"{value!r}: use SLUG=VALUE", param_hint=option)
        pairs[slug] = text
    return pairs


def _exported_members(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    members = document.get("members") if isinstance(document, dict) else document
    if not isinstance(members, list):
        raise typer.BadParameter(f"{path}: not the output of `accord keys export`")
    return members


@directory_app.command("assemble")
def assemble(
    exports: Annotated[
        list[Path], typer.Argument(help="`accord keys export` outputs, one per node.")
    ],
    federation: Annotated[
        str, typer.Option("--federation", help="The federation's name (a-z, 0-9, . _ -).")
    ],
    version: Annotated[
        int, typer.Option("--version", min=1, help="Higher than every version published.")
    ],
    node_url: Annotated[
        list[str] | None,
        typer.Option("--node-url", metavar="SLUG=URL", help="An agency's node URL. Repeatable."),
    ] = None,
    name: Annotated[
        list[str] | None,
        typer.Option("--name", metavar="SLUG=NAME", help="An agency's display name. Repeatable."),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", metavar="SLUG=KIND", help="un_agency, government or ngo. Repeatable."
        ),
    ] = None,
    country: Annotated[
        list[str] | None,
        typer.Option(
            "--country",
            metavar="SLUG=ISO3",
            help="The state a government acts for (XKX for Kosovo). Repeatable.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Combine the nodes' exported entries into one unsigned directory, checked as `sign`
    will check it; SLUG=VALUE options correct an agency's entry."""
    overrides = {
        "node_url": _pairs(node_url, "--node-url"),
        "name": _pairs(name, "--name"),
        "kind": _kinds(kind),
        "country": _pairs(country, "--country"),
    }
    members: dict[str, dict[str, Any]] = {}
    for path in exports:
        for member in _exported_members(path):
            slug = str(member.get("agency"))
            if slug in members:
                raise typer.BadParameter(f"{slug} is in more than one export")
            members[slug] = dict(member)
    unknown = {slug for values in overrides.values() for slug in values} - set(members)
    if unknown:
        raise typer.BadParameter(f"not in any export: {', '.join(sorted(unknown))}")
    for field, values in overrides.items():
        for slug, value in values.items():
            members[slug][field] = value
    document = {
        "federation": federation,
        "version": version,
        "issued_at": format_timestamp(utcnow()),
        "members": [members[slug] for slug in sorted(members)],
    }
    try:
        check_unsigned(document)
    except DirectoryError as exc:
        typer.echo(f"accord directory assemble: {exc}", err=True)
        raise typer.Exit(1) from exc
    text = json.dumps(document, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)


@directory_app.command("sign")
def sign(
    document: Annotated[Path, typer.Argument(help="The unsigned directory (JSON).")],
    root_key: Annotated[Path, typer.Option("--root-key", help="The private root key file.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Sign a directory with the federation root key (Ed25519 over its RFC 8785 form)."""
    unsigned = json.loads(document.read_text())
    unsigned.pop("signature", None)
    if "issued_at" not in unsigned:
        unsigned["issued_at"] = format_timestamp(utcnow())
    try:
        signed = sign_directory(unsigned, PrivateKey.from_bytes(root_key.read_bytes()))
    except (DirectoryError, ValueError) as exc:
        typer.echo(f"accord directory sign: {exc}", err=True)
        raise typer.Exit(1) from exc
    text = json.dumps(signed, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)


@directory_app.command("verify")
def verify(
    document: Annotated[Path, typer.Argument(help="The signed directory (JSON).")],
    root: Annotated[Path, typer.Option("--root", help="The pinned root public JWK (JSON).")],
) -> None:
    """Exit 0 when the directory verifies against the root key, 1 otherwise."""
    try:
        directory = verify_directory(
            json.loads(document.read_text()), parse_public_jwk(json.loads(root.read_text()))
        )
    except (DirectoryError, ValueError) as exc:
        typer.echo(f"{document}: does not verify: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{document}: federation {directory.federation} version {directory.version}, "
        f"{len(directory.members)} member(s), signature valid"
    )


federation_app = typer.Typer(
    help="Federation traffic, for the node's operators.", no_args_is_help=True
)


async def _incidents(settings: Settings, agency: str | None, limit: int) -> list[dict[str, Any]]:
    db = Database.open(settings)
    try:
        async with db.sessions() as session:
            statement = select(FederationIncident).order_by(FederationIncident.at.desc())
            if agency is not None:
                statement = statement.where(FederationIncident.agency == agency)
            rows = (await session.scalars(statement.limit(limit))).all()
    finally:
        await db.close()
    return [
        {
            "at": format_timestamp(row.at),
            "agency": row.agency,
            "direction": row.direction,
            "kind": row.kind,
            "peer": row.peer,
            "message_id": row.message_id,
            "detail": row.detail,
        }
        for row in rows
    ]


@federation_app.command("incidents")
def incidents(
    agency: Annotated[
        str | None, typer.Option("--agency", metavar="SLUG", help="Only this agency's incidents.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
) -> None:
    """Messages refused or undeliverable, newest first, every agency's and the node's own (as
    JSON lines). Unauthenticated refusals are not stored: see the metric
    accord_federation_refused_total."""
    for incident in asyncio.run(_incidents(Settings(), agency, limit)):
        sys.stdout.write(json.dumps(incident) + "\n")
