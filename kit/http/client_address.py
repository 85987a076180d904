"""Who is calling: the peer's address, or the address a trusted reverse proxy says it saw.

Each proxy appends the address of its own peer to ``X-Forwarded-For``; a caller can write
anything to the left of what our proxies appended. So the header counts only when the peer is
one of ``ACCORD_TRUSTED_PROXIES``, and the client is the right-most entry that is not itself a
trusted proxy (MDN, "X-Forwarded-For: Selecting an IP address").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.requests import Request

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def client_address(request: Request) -> str | None:
    """The address a request came from, as configured for this node."""
    return resolve(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        request.app.state.settings.trusted_proxies,
    )


def resolve(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]
) -> str | None:
    """The client's address, given the peer, the ``X-Forwarded-For`` lines and our proxies."""
    address = parse_address(peer)
    if address is None:
        # No IP peer (a Unix socket, a test client's name): there is no hop to trust.
        return peer
    if not _is_trusted(address, trusted):
        return str(address)
    hops = [hop for line in forwarded_for for hop in line.split(",")]
    for hop in reversed(hops):
        parsed = parse_address(hop)
        if parsed is None:
            # Our proxies append addresses only, so this was written by someone else; stay with
            # the last hop we trust rather than let a caller name itself anything it likes.
            break
        address = parsed
        if not _is_trusted(address, trusted):
            break
    return str(address)


def parse_address(value: str | None) -> IPAddress | None:
    """An IP address, also written with a port (``1.2.3.4:5``, ``[2001:db8::1]:5``) as some
    proxies do; IPv4-mapped IPv6 addresses become the IPv4 address they carry."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
