"""Which webhook URLs the service calls (core/webhooks.py): https to hosts whose every address is
public; loopback (and http to it) only where the deployment allows it. Names resolve through a
table of the test's: no DNS query leaves the process. And the signature, checked by the
`standardwebhooks` library."""

from __future__ import annotations

import base64
import json
import os
import socket
import time

import pytest
from standardwebhooks.webhooks import Webhook

from core import webhooks
from core.webhooks import Refused, Unresolved, refusal, resolve

PUBLIC_V4, PUBLIC_V6 = "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"


@pytest.fixture
def dns(monkeypatch) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("169.254.169.254", "the cloud metadata service"),
        ("fd00:ec2::254", "the cloud metadata service"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("169.254.10.10", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.251", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "an address that is not public"),  # carrier-grade NAT
        ("fc00::1", "a private address"),
        # IPv4 inside IPv6 is the IPv4 host.
        ("::ffff:10.0.0.1", "a private address"),
        ("::ffff:169.254.169.254", "the cloud metadata service"),
        ("64:ff9b::a00:1", "a private address"),
        ("2002:a00:1::", "a private address"),
    ],
)
def test_an_address_that_is_not_public_is_refused(address, why):
    assert refusal(address) == why


def test_public_addresses_are_called():
    for address in (PUBLIC_V4, PUBLIC_V6, "::ffff:93.184.216.34"):
        assert refusal(address) is None, address


def test_loopback_is_called_only_where_allowed():
    assert refusal("127.0.0.1", allow_loopback=True) is None
    assert refusal("::1", allow_loopback=True) is None
    # Loopback allowed is not the rest of the inside.
    assert refusal("10.0.0.1", allow_loopback=True) == "a private address"
    assert refusal("169.254.169.254", allow_loopback=True) == "the cloud metadata service"


def test_a_host_is_refused_when_any_of_its_addresses_is(dns):
    dns["hooks.example.com"] = [PUBLIC_V4, "10.0.0.1"]

    with pytest.raises(Refused, match=r"hooks\.example\.com resolves to a private address"):
        resolve("https://hooks.example.com/in")


def test_a_public_host_resolves_to_the_address_connected_to(dns):
    dns["hooks.example.com"] = [PUBLIC_V6, PUBLIC_V4]

    target = resolve("https://Hooks.Example.com:8443/in?team=a#frag")

    assert (target.scheme, target.host, target.port, target.path) == ("https", "hooks.example.com", 8443, "/in?team=a")
    assert target.address == PUBLIC_V6


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/in", "must be an https:// URL"),
        ("ftp://hooks.example.com/in", "must be an https:// URL"),
        ("file:///etc/passwd", "must be an https:// URL"),
        ("https://user:pass@hooks.example.com/", "must not carry credentials"),
        ("https:///in", "must name a host"),
        ("https://hooks.example.com:99999/", "is not a valid URL"),
        ("https://hooks example.com/", "without spaces"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "control characters"),
        ("https://exa$mple.com/", "does not name a valid host"),
        ("https://nowhere.example/", "could not be resolved"),
    ],
)
def test_urls_the_service_does_not_call(dns, url, message):
    dns["hooks.example.com"] = [PUBLIC_V4]

    with pytest.raises(Refused, match=message):
        resolve(url)


def test_a_name_that_does_not_resolve_is_told_apart_it_may_resolve_later(dns):
    with pytest.raises(Unresolved, match=r"nowhere\.example could not be resolved"):
        resolve("https://nowhere.example/")


def test_http_goes_only_to_loopback_and_only_where_loopback_is_allowed(dns):
    dns["receiver.local"] = ["127.0.0.1"]
    dns["hooks.example.com"] = [PUBLIC_V4]

    assert resolve("http://receiver.local:8080/", allow_loopback=True).address == "127.0.0.1"
    with pytest.raises(Refused, match="https"):
        resolve("http://receiver.local:8080/")
    with pytest.raises(Refused, match="loopback receivers"):
        resolve("http://hooks.example.com/", allow_loopback=True)


def test_the_schema_bounds_the_url_and_the_events():
    from imagegen import build_request
    from imagegen.errors import InvalidRequestError

    for webhook, field in (
        ({"url": "https://a.example/" + "x" * 2048}, "webhook.url"),
        ({"url": "https://a.example/", "events": ["started"]}, "webhook.events[0]"),
        ({"url": "https://a.example/", "events": []}, "webhook.events"),
        ({"url": "https://a.example/", "secret": "mine"}, "webhook.secret"),
    ):
        with pytest.raises(InvalidRequestError) as refused:
            build_request("text-to-image", {"prompt": "x", "webhook": webhook})
        assert [detail["field"] for detail in refused.value.details] == [field]


def test_the_webhook_is_never_part_of_a_model_body():
    from imagegen import build_request

    for model in ("nova-canvas", "titan-image-v2", "stable-image-core", "sd3-5-large"):
        built = build_request(
            "text-to-image", {"prompt": "x", "model": model, "webhook": {"url": "https://a.example/"}}
        )
        assert "webhook" not in json.dumps(built.bodies) and "a.example" not in json.dumps(built.bodies), model


# --- signatures and secrets -------------------------------------------------------------------


def test_a_signature_is_what_the_standardwebhooks_library_verifies():
    key = os.urandom(32)
    body = json.dumps({"type": "job.completed", "data": {"id": "0" * 32}}, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "webhook-id": "msg_" + "0" * 32 + "_completed",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(key, "msg_" + "0" * 32 + "_completed", timestamp, body),
    }

    assert Webhook(webhooks.serialized(key)).verify(body, headers)["type"] == "job.completed"


def test_team_secrets_differ_from_each_other_and_from_the_deployments():
    deployment = webhooks.serialized(os.urandom(32))

    design, research = webhooks.secret_for(deployment, "design"), webhooks.secret_for(deployment, "research")

    assert len({deployment, design, research}) == 3
    assert webhooks.secret_for(deployment, "default") == deployment == webhooks.secret_for(deployment, None)
    assert webhooks.secret_for(deployment, "design") == design  # derived, so the same every time
    assert len(base64.b64decode(design.removeprefix("whsec_"))) == 32


def test_the_stacks_generated_secret_and_an_operators_whsec_secret_both_sign():
    generated = "A1b2" * 16  # what Secrets Manager generates for the stack: 64 letters and digits
    assert len(webhooks.signing_key(generated)) == 32
    own = webhooks.serialized(os.urandom(40))
    assert webhooks.signing_key(own) == base64.b64decode(own.removeprefix("whsec_"))
    for bad in ("short", "whsec_" + base64.b64encode(b"x" * 8).decode(), "whsec_not base64!"):
        with pytest.raises(ValueError):
            webhooks.signing_key(bad)


def test_a_webhook_id_carries_no_dot_and_is_stable():
    job_id = "0123456789abcdef0123456789abcdef"

    assert (
        webhooks.webhook_id(job_id, "completed")
        == f"msg_{job_id}_completed"
        == webhooks.webhook_id(job_id, "completed")
    )
    assert "." not in webhooks.webhook_id(job_id, "failed")


def test_the_backoff_doubles_to_an_hour_and_the_attempts_span_a_day():
    delays = [webhooks.retry_delay(n) for n in range(1, webhooks.MAX_ATTEMPTS)]

    assert delays[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600] and set(delays[7:]) == {3600}
    assert sum(delays) >= 24 * 3600 > sum(delays[:-1])
    assert webhooks.next_delay(1, retry_after=600) == 600
    assert 30 <= webhooks.next_delay(1) <= 33
    assert webhooks.next_delay(1, retry_after=10**6) == webhooks.LONGEST_RETRY_SECONDS
