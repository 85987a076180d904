"""Outside a dev node a webhook reaches only public addresses, checked at every delivery and
connected to as checked, so neither a URL nor a name that resolves inside (DNS rebinding) can
make the node call its own network (SSRF)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from services.events import service as events
from services.webhooks.targets import TargetRefused, is_public, pin, url_problem
from services.webhooks.worker import WebhookWorker

from .conftest import SQLITE_ONLY, Clock, Receiver, run

PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address judged, not bound
        "224.0.0.251",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
        "2002:a00:1::",
    ],
)
def test_inside_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [PUBLIC, "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_are(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/in",
        "https://127.0.0.1/in",
        "https://[::1]/in",
        "https://10.1.2.3:8443/in",
        "https://localhost/in",
        "https://user:pw@hooks.example.org/in",
        "ftp://hooks.example.org/in",
        "hooks.example.org/in",
    ],
)
def test_a_production_node_refuses_these_urls_at_subscription(url: str) -> None:
    assert url_problem(url, dev=False) is not None
    assert url_problem("https://hooks.example.org/in", dev=False) is None


def test_a_dev_node_accepts_http_to_its_own_host() -> None:
    assert url_problem("http://127.0.0.1:9000/in", dev=True) is None


async def test_a_name_is_connected_to_at_the_address_that_was_checked() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.example.org", 8443)
        return [PUBLIC]

    pinned = await pin("https://hooks.example.org:8443/in?x=1", resolve)
    assert pinned.url == f"https://{PUBLIC}:8443/in?x=1"
    assert pinned.host_header == "hooks.example.org:8443"
    assert pinned.sni_hostname == "hooks.example.org"

    async def mixed(host: str, port: int) -> list[str]:
        return [PUBLIC, "10.0.0.1"]

    with pytest.raises(TargetRefused, match="refused_address"):
        await pin("https://hooks.example.org/in", mixed)


@SQLITE_ONLY
async def test_private_loopback_and_link_local_targets_are_refused_outside_dev(
    admin: dict[str, str],
    client: httpx.AsyncClient,
    app,
    http: httpx.AsyncClient,
    receiver: Receiver,
    clock: Clock,
):
    names = {
        "loopback.example.org": ["127.0.0.1"],
        "metadata.example.org": ["169.254.169.254"],
        "mapped.example.org": ["::ffff:10.0.0.7"],
        "ula.example.org": ["fd00::7"],
        "hooks.example.org": [PUBLIC],
    }

    async def resolve(host: str, port: int) -> list[str]:
        return names[host]

    urls = [
        "https://loopback.example.org/in",
        "https://metadata.example.org/in",
        "https://mapped.example.org/in",
        "https://ula.example.org/in",
        "https://[::1]/in",
        "https://192.168.0.10/in",
        "http://hooks.example.org/in",  # a dev node let it be made; production sends only https
        "https://hooks.example.org/in",
    ]
    hooks = []
    for url in urls:
        made = await client.post(
            "/v1/webhooks", json={"url": url, "event_types": ["consent.narrowed"]}, headers=admin
        )
        assert made.status_code == 201, made.text
        hooks.append(made.json())
    worker = WebhookWorker(
        app.state.db,
        app.state.master_key,
        app.state.settings,
        metrics=app.state.metrics,
        http=http,
        clock=clock,
        resolve=resolve,
        allow_private=False,
    )
    async with app.state.db.sessions.begin() as session:
        await events.append(
            session, agency="unhcr", type="consent.narrowed", data={"consent_id": "c-1"}
        )

    await run(worker)

    [arrived] = receiver.requests
    assert arrived.server[0] == PUBLIC, "connected to the address checked"
    assert arrived.headers["host"] == "hooks.example.org"
    codes = {}
    for hook in hooks[:-1]:
        [delivery] = (
            await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin)
        ).json()["items"]
        assert delivery["status"] == "pending", "a failed attempt, retried later"
        assert delivery["attempts"] == 1
        codes[hook["url"]] = delivery["last_error"]
    assert codes == dict.fromkeys(urls[:6], "refused_address") | {urls[6]: "not_https"}

    # The name now resolves inside (DNS rebinding): the next delivery is refused too.
    names["hooks.example.org"] = ["127.0.0.1"]
    async with app.state.db.sessions.begin() as session:
        await events.append(
            session, agency="unhcr", type="consent.narrowed", data={"consent_id": "c-2"}
        )
    await run(worker)
    assert len(receiver.requests) == 1
    metrics = (await client.get("/metrics")).text
    assert 'accord_webhook_attempts_total{outcome="refused"}' in metrics
