"""X-Forwarded-For names the client only when one of our own proxies wrote it."""

from __future__ import annotations

from ipaddress import ip_network

from kit.http.client_address import parse_address, resolve

PROXIES = [ip_network("10.0.0.1"), ip_network("192.0.2.0/24"), ip_network("2001:db8:ff::/48")]


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert resolve("10.0.0.1", ["198.51.100.2"], []) == "10.0.0.1"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    assert resolve("203.0.113.7", ["198.51.100.2"], PROXIES) == "203.0.113.7"


def test_a_trusted_proxy_names_the_right_most_address_that_is_not_ours() -> None:
    # The left-most entry is whatever the caller sent; only what our proxies appended counts.
    chain = ["1.1.1.1, 198.51.100.2", "192.0.2.9"]
    assert resolve("10.0.0.1", chain, PROXIES) == "198.51.100.2"


def test_a_chain_of_only_our_proxies_names_the_farthest() -> None:
    assert resolve("10.0.0.1", ["192.0.2.8, 192.0.2.9"], PROXIES) == "192.0.2.8"


def test_a_trusted_proxy_without_a_header_is_the_client() -> None:
    assert resolve("10.0.0.1", [], PROXIES) == "10.0.0.1"


def test_garbage_stops_at_the_last_hop_we_trust() -> None:
    assert resolve("10.0.0.1", ["198.51.100.2, unknown"], PROXIES) == "10.0.0.1"
    assert resolve("10.0.0.1", ["198.51.100.2, 192.0.2.9, "], PROXIES) == "10.0.0.1"
    assert resolve("10.0.0.1", ["999.0.0.1, 192.0.2.9"], PROXIES) == "192.0.2.9"


def test_ipv6_proxies_and_ports_are_understood() -> None:
    assert resolve("2001:db8:ff::1", ["[2001:db8:1::5]:443"], PROXIES) == "2001:db8:1::5"
    assert resolve("::ffff:10.0.0.1", ["198.51.100.2:8080"], PROXIES) == "198.51.100.2"


def test_a_peer_that_is_no_ip_address_is_kept_as_it_is() -> None:
    assert resolve("testclient", ["198.51.100.2"], PROXIES) == "testclient"
    assert resolve(None, ["198.51.100.2"], PROXIES) is None


def test_addresses_are_parsed_strictly() -> None:
    assert parse_address(" 198.51.100.2 ") is not None
    assert parse_address("198.51.100") is None
    assert parse_address("") is None
