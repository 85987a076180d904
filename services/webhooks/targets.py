"""Where a webhook may be delivered: no address inside the node's own networks (SSRF).

Outside ``ACCORD_ENV=dev`` a subscription's URL must be https, and at every delivery its host
is resolved and every address checked; the request then goes to the address that was checked
(the ``Host`` header and TLS server name keep the name), so a name that resolves to a public
address when checked and to 127.0.0.1 a moment later (DNS rebinding) cannot reach inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``(host, port)`` -> the addresses it resolves to, as text.
Resolver = Callable[[str, int], Awaitable[list[str]]]


#: The codes of a refused target, as deliveries record them.
REFUSALS = frozenset({"not_https", "unresolvable", "refused_address"})


class TargetRefused(Exception):
    """The target may not be delivered to; ``code`` is stable and names no address."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def url_problem(url: str, *, dev: bool) -> str | None:
    """Why ``url`` cannot be a webhook target, in words, or None. Addresses are checked again
    at each delivery; this catches what can be known now."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "The URL is not a valid absolute URL."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "The URL must be an absolute https URL."
    if parts.scheme != "https" and not dev:
        return "The URL must use https."
    if parts.username or parts.password:
        return "The URL must not carry credentials; authenticate with the signature instead."
    if parts.fragment:
        return "The URL must not have a fragment."
    if not dev:
        literal = _literal(parts.hostname)
        if literal is not None and not is_public(literal):
            return "The URL points at a private, loopback or reserved address."
        if parts.hostname.rstrip(".").lower() in ("localhost",) or parts.hostname.endswith(
            ".localhost"
        ):
            return "The URL points at this host."
    return None


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_public(address: IpAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address: not loopback, link-local,
    private (RFC 1918, CGNAT), unique-local (fc00::/7), multicast, unspecified or reserved;
    a v4-mapped (``::ffff:a.b.c.d``) or 6to4/NAT64-embedded v4 address is judged as the v4
    address it carries."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address.sixtofour is not None:
            return is_public(address.sixtofour)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.is_site_local:  # fec0::/10, deprecated but still private
            return False
    # ``is_global`` alone lets multicast through; the rest are named for the reader.
    return address.is_global and not (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Pinned:
    """A request to make: the URL with the checked address in place of the name, the
    ``Host`` header, and the TLS server name (None for a literal address)."""

    url: str
    host_header: str
    sni_hostname: str | None


async def pin(url: str, resolve: Resolver) -> Pinned:
    """Resolve ``url``'s host, refuse it unless every address is public, and address the
    request to the first one. Raises :class:`TargetRefused`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme != "https":
        raise TargetRefused("not_https")
    literal = _literal(host)
    if literal is not None:
        addresses: list[IpAddress] = [literal]
    else:
        try:
            found = await resolve(host, port)
        except (OSError, UnicodeError):
            raise TargetRefused("unresolvable") from None
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                raise TargetRefused("unresolvable") from None
    if not addresses:
        raise TargetRefused("unresolvable")
    if not all(is_public(a) for a in addresses):
        raise TargetRefused("refused_address")
    chosen = addresses[0]
    netloc_host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{netloc_host}:{parts.port}" if parts.port else netloc_host
    target = parts._replace(netloc=netloc).geturl()
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Pinned(target, host_header, None if literal is not None else host)
