"""Signed webhooks for jobs: a request's ``webhook: {url, events}`` is checked when the request
arrives, stored with its job, and POSTed when the job ends, signed per Standard Webhooks
(https://www.standardwebhooks.com: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

The job path calls one entry point, ``job_ended(manifest)``, right after a job's manifest is
written; it queues the delivery (SQS). The delivery function (``handle_batch``) POSTs the job's
public view, at least once, with the same ``webhook-id`` on every attempt, and records each
attempt in the manifest's ``webhook`` section, which ``GET /v1/jobs/{id}`` shows.

Server-side request forgery: a URL is https (http only to loopback, and loopback only where the
deployment allows it: the local stack), its host is resolved and refused if any address is not
public (private, loopback, link-local and so the metadata service, multicast, reserved,
unspecified, IPv4 inside IPv6 included); at delivery the host is resolved and checked again and
the connection made to the address that was checked, so a DNS answer that changed since
(rebinding) or a second lookup cannot reach an internal address. Redirects are not followed and
at most ``MAX_RESPONSE_BYTES`` of an answer are read.

Secrets: the deployment's secret is in Secrets Manager (only the delivery function may read it).
Each team signs with its own, derived from the deployment's (``team_key``), so no team can sign
for another's receivers; the deployment's own team (``default``, the stack's key) and jobs
without a team (triggers outside a team folder) sign with the deployment's secret itself.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import random
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from imagegen.errors import InvalidRequestError
from imagegen.logs import get_logger, log_context

from . import clients, layout, storage
from .callers import DEFAULT_TEAM
from .config import Settings, settings

if TYPE_CHECKING:
    import ipaddress

log = get_logger()

EVENTS = ("completed", "failed")
# Each attempt: connect, send and read the answer within this many seconds.
ATTEMPT_TIMEOUT_SECONDS = 10
# What is read of a receiver's answer (its status is what counts).
MAX_RESPONSE_BYTES = 1024
# Exponential backoff between attempts, doubling from the first delay up to the longest, until
# the attempts span the retry window; then the message goes to the dead-letter queue.
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600
RETRY_WINDOW_SECONDS = 24 * 3600
# Each delay is stretched by up to this fraction, at random, so that receivers that failed
# together are not all retried in the same second.
RETRY_JITTER = 0.1
# The delivery function: one message per invocation (a slow receiver delays no other), a bounded
# number at once, and a timeout that fits an attempt, the DNS lookup and the status write.
BATCH_SIZE = 1
MAX_CONCURRENCY = 20
FUNCTION_TIMEOUT_SECONDS = 30
SECRET_PREFIX = "whsec_"
# The deployment's secret is read once per container for this long, so a rotation reaches
# every container within it.
SECRET_CACHE_SECONDS = 300
USER_AGENT = "serverless-imagegen-webhooks/1.0"
# AWS's instance metadata service, refused by name in the error (link-local and unique-local
# addresses are refused anyway).
METADATA_ADDRESSES = ("169.254.169.254", "fd00:ec2::254")


def retry_delay(attempt: int) -> int:
    """Seconds to wait after failed attempt number ``attempt`` (1 is the first), before jitter."""
    return min(FIRST_RETRY_SECONDS * 2 ** (attempt - 1), LONGEST_RETRY_SECONDS)


def _attempts_spanning(window: int) -> int:
    attempts, waited = 1, 0
    while waited < window:
        waited += retry_delay(attempts)
        attempts += 1
    return attempts


# The attempts whose delays first add up to the retry window (31: 30 s doubling to an hour,
# then hourly, the last at 24 h 3.5 min). The queue's maxReceiveCount: one receive per attempt.
MAX_ATTEMPTS = _attempts_spanning(RETRY_WINDOW_SECONDS)
# Every delay, jitter included, with a margin for the attempts themselves: what the queue keeps.
RETRY_SPAN_SECONDS = sum(retry_delay(n) for n in range(1, MAX_ATTEMPTS))
MAX_MESSAGE_AGE_SECONDS = int(RETRY_SPAN_SECONDS * (1 + RETRY_JITTER)) + MAX_ATTEMPTS * FUNCTION_TIMEOUT_SECONDS


# --- request time ----------------------------------------------------------------------------


def requested(request: Any) -> dict[str, Any] | None:
    """The webhook a validated task request asks for, as the job records it: ``{url, events}``."""
    webhook = getattr(request, "webhook", None)
    if webhook is None:
        return None
    return {"url": webhook.url, "events": list(dict.fromkeys(webhook.events))}


def check_request(request: Any, config: Settings) -> None:
    """Refuse (400, naming ``webhook.url``) a webhook this deployment may not call; before any
    model call. The shape (url a string, events a subset of EVENTS) is the schema's."""
    webhook = getattr(request, "webhook", None)
    if webhook is None:
        return
    if not config.webhook_queue_url:
        raise InvalidRequestError.for_field("webhook", "this deployment does not send webhooks")
    try:
        resolve(webhook.url, allow_loopback=config.webhook_allow_loopback)
    except Refused as refused:
        raise InvalidRequestError.for_field("webhook.url", str(refused)) from None


class Refused(ValueError):
    """A URL this service will not call; the message says why, for the caller."""


class Unresolved(Refused):
    """The host has no address now (which may change: a delivery tries again)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``, the resolved and checked IP) and what to ask."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def resolve(url: str, *, allow_loopback: bool = False) -> Target:
    """``url`` checked and its host resolved: every address must be public (or, where
    ``allow_loopback``, loopback). Raises ``Refused``."""
    from urllib.parse import urlsplit

    if not isinstance(url, str) or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise Refused("must be a URL without spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise Refused("must be an https:// URL")
    if scheme == "http" and not allow_loopback:
        raise Refused("must be an https:// URL (http is not sent: the job's data would travel in the clear)")
    if parts.username is not None or parts.password is not None:
        raise Refused("must not carry credentials: the signature authenticates each delivery")
    host = _ascii_host(parts.hostname or "")
    port = port or (443 if scheme == "https" else 80)
    addresses = _addresses(host, port)
    for address in addresses:
        why = refusal(address, allow_loopback=allow_loopback)
        if why:
            raise Refused(f"{host} resolves to {why}, which this service does not call")
    if scheme == "http" and not all(_ip(address).is_loopback for address in addresses):
        raise Refused("must be an https:// URL (http is sent only to loopback receivers, in the local stack)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, addresses[0])


def _ascii_host(host: str) -> str:
    import ipaddress
    import re

    if not host:
        raise Refused("must name a host")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        raise Refused("does not name a valid host") from None
    label = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
    if len(ascii_host) > 253 or not re.fullmatch(rf"{label}(\.{label})*", ascii_host):
        raise Refused("does not name a valid host")
    return ascii_host


def _addresses(host: str, port: int) -> list[str]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise Unresolved(f"{host} could not be resolved") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found if info[0] in (socket.AF_INET, socket.AF_INET6)))
    if not addresses:
        raise Unresolved(f"{host} has no address")
    return addresses


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    import ipaddress

    return ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (%eth0) is no part of it


# The kinds of address refused, in the order they are named (169.254.0.0/16 is private too, and
# link-local says more).
_KINDS = (
    ("link_local", "a link-local address"),
    ("multicast", "a multicast address"),
    ("unspecified", "an unspecified address"),
    ("reserved", "a reserved address"),
    ("private", "a private address"),
)


def refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why this service does not connect to ``address`` (for the caller: "a private address"),
    or None when it may."""
    import ipaddress

    ip = _ip(address)
    if str(ip) in METADATA_ADDRESSES:
        return "the cloud metadata service"
    # An IPv4 address inside an IPv6 one reaches the IPv4 host: IPv4-mapped (::ffff:10.0.0.1),
    # 6to4 (2002::/16) and NAT64 (64:ff9b::/96).
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in ipaddress.IPv6Network("64:ff9b::/96"):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return refusal(str(inner), allow_loopback=allow_loopback)
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    for kind, said in _KINDS:
        if getattr(ip, f"is_{kind}"):
            return said
    if not ip.is_global:
        return "an address that is not public"
    return None


# --- the job path ----------------------------------------------------------------------------


def webhook_id(job_id: str, event: str) -> str:
    """The Standard Webhooks message id: the same on every attempt, and on every redelivery of
    the same job's end (a triggered job's id derives from its object), for receivers to dedupe."""
    return f"msg_{job_id}_{event}"


def section(webhook: dict[str, Any] | None, job_id: str, status: str) -> dict[str, Any] | None:
    """The manifest's ``webhook`` section of a job that ends with ``status`` (SUCCEEDED/FAILED):
    pending, or skipped when the caller did not ask for that event."""
    if not webhook:
        return None
    event = "completed" if status == "SUCCEEDED" else "failed"
    return {
        "id": webhook_id(job_id, event),
        "url": webhook["url"],
        "events": list(webhook["events"]),
        "event": event,
        "status": "pending" if event in webhook["events"] else "skipped",
        "attempts": 0,
        "lastAttemptAt": None,
        "lastError": None,
        "nextAttemptAt": None,
        "deliveredAt": None,
    }


def job_ended(manifest: dict[str, Any]) -> None:
    """The job's manifest is written: queue its webhook, when it has one for this event.

    Never raises: the job has ended either way. A delivery that cannot be queued is recorded as
    failed in the manifest (and logged as an error), not lost silently.
    """
    hook = manifest.get("webhook")
    if not hook or hook.get("status") != "pending":
        return
    config = settings()
    message = {"jobId": manifest["id"], "event": hook["event"], "webhookId": hook["id"], "url": hook["url"]}
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if not config.webhook_queue_url:
            raise RuntimeError(f"{config.env_name('webhook_queue_url')} is not set")
        clients.sqs().send_message(QueueUrl=config.webhook_queue_url, MessageBody=json.dumps(message))
    except (ClientError, BotoCoreError, RuntimeError) as exc:
        log.error("job %s: its webhook could not be queued: %s", manifest["id"], exc)
        manifest["webhook"] = {**hook, "status": "failed", "lastError": "the delivery could not be queued"}
        try:
            storage.put_json(config.output_bucket, layout.manifest_key(manifest["id"]), manifest)
        except storage.StorageError as error:
            log.error("job %s: recording its webhook's failure failed: %s", manifest["id"], error.message)


def shown(hook: dict[str, Any]) -> dict[str, Any]:
    """The ``webhook`` section as the job's view shows it: the URL without its query (a token
    there is the receiver's secret), the delivery's state and attempts."""
    from urllib.parse import urlsplit

    parts = urlsplit(hook.get("url", ""))
    url = parts._replace(query="…" if parts.query else "", fragment="").geturl()
    return {**hook, "url": url}


# --- delivery --------------------------------------------------------------------------------


def handle_batch(event: dict[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
    """The delivery function: attempt each message; those to attempt again later are reported as
    ``batchItemFailures`` (each one's delay already set on the message)."""
    request_id = getattr(context, "aws_request_id", None)
    failures = []
    for record in event.get("Records") or []:
        message_id = record.get("messageId", "")
        with log_context(requestId=request_id, messageId=message_id):
            try:
                again = deliver(record)
            except Exception:
                # Storage or the secret failing: SQS brings the message back after its visibility timeout.
                log.exception("webhook message %s will be retried", message_id)
                again = True
        if again:
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


@dataclass(frozen=True)
class Outcome:
    delivered: bool = False
    # No attempt can succeed: the receiver answered 410 Gone, or the URL is refused now.
    final: bool = False
    error: str | None = None
    retry_after: int | None = None


def deliver(record: dict[str, Any]) -> bool:
    """One attempt of one message; True when the message must come back (a later attempt, or,
    after the last, the dead-letter queue)."""
    try:
        message = json.loads(record["body"])
        job_id, hook_id = message["jobId"], message["webhookId"]
        if not layout.is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
    except (KeyError, TypeError, ValueError) as exc:
        # Nothing can make it deliverable; it is dropped, loudly.
        log.error("webhook message %s is not a delivery (%s): dropped", record.get("messageId"), exc)
        return False
    attempt = int((record.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
    config = settings()
    key = layout.manifest_key(job_id)
    found = storage.get_json_versioned(config.output_bucket, key)
    hook = found[0].get("webhook") if found else None
    if not hook or hook.get("id") != hook_id or hook.get("status") != "pending":
        # Delivered already (SQS delivers at least once), or the job's record is gone.
        log.info("webhook %s: nothing to deliver (%s)", hook_id, hook.get("status") if hook else "no record")
        return False
    with log_context(jobId=job_id, webhookId=hook_id):
        outcome = attempt_delivery(found[0], hook, config)
        last = attempt >= MAX_ATTEMPTS
        if outcome.delivered:
            log.info("webhook %s delivered on attempt %d", hook_id, attempt)
            delay = None
        elif outcome.final or last:
            log.warning("webhook %s failed for good on attempt %d: %s", hook_id, attempt, outcome.error)
            delay = None
        else:
            delay = next_delay(attempt, outcome.retry_after)
            log.info("webhook %s attempt %d failed (%s); next in %d s", hook_id, attempt, outcome.error, delay)
        _record(config, key, found, hook_id, attempt, outcome, last, delay)
        if outcome.delivered or outcome.final:
            return False
        # The message comes back after the delay; after the last attempt at once, for SQS to
        # move it to the dead-letter queue (whose alarm tells the operator).
        clients.sqs().change_message_visibility(
            QueueUrl=config.webhook_queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=delay or 0
        )
        return True


def next_delay(attempt: int, retry_after: int | None = None) -> int:
    """The wait before the next attempt: the backoff with jitter, or longer where the receiver
    asked (Retry-After), within the longest delay."""
    delay = retry_delay(attempt) * (1 + random.uniform(0, RETRY_JITTER))
    if retry_after is not None:
        delay = max(delay, min(retry_after, LONGEST_RETRY_SECONDS))
    return int(delay)


def _record(
    config: Settings,
    key: str,
    found: tuple[Any, str, float],
    hook_id: str,
    attempt: int,
    outcome: Outcome,
    last: bool,
    delay: int | None,
) -> None:
    """The attempt, in the manifest's ``webhook`` section; a write that lost a race with another
    is made again on the manifest as it is now."""
    now = time.time()
    for _ in range(3):
        manifest, etag, _ = found
        hook = manifest.get("webhook") or {}
        if hook.get("id") != hook_id:
            return
        if outcome.delivered:
            status = "delivered"
        elif outcome.final or last:
            status = "failed"
        else:
            status = "pending"
        manifest["webhook"] = {
            **hook,
            "status": "delivered" if hook.get("status") == "delivered" else status,
            "attempts": max(attempt, hook.get("attempts") or 0),
            "lastAttemptAt": _iso(now),
            "lastError": None if outcome.delivered else outcome.error,
            "nextAttemptAt": _iso(now + delay) if status == "pending" and delay is not None else None,
            "deliveredAt": _iso(now) if outcome.delivered else hook.get("deliveredAt"),
        }
        if storage.put_json_if(config.output_bucket, key, manifest, etag=etag) is not None:
            return
        found = storage.get_json_versioned(config.output_bucket, key)
        if found is None:
            return
    log.warning("webhook %s: its attempt %d could not be recorded (the manifest kept changing)", hook_id, attempt)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def attempt_delivery(manifest: dict[str, Any], hook: dict[str, Any], config: Settings) -> Outcome:
    """Check the URL again (its DNS may have changed), then POST the signed event to the checked address."""
    try:
        target = resolve(hook["url"], allow_loopback=config.webhook_allow_loopback)
    except Unresolved as exc:
        return Outcome(error=str(exc))
    except Refused as exc:
        log.warning("webhook %s refused at delivery: %s", hook["id"], exc)
        return Outcome(final=True, error=f"refused: {exc}")
    body = json.dumps(payload(manifest, hook), separators=(",", ":")).encode()
    key = team_key(master_key(), manifest.get("owner"))
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": hook["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, hook["id"], timestamp, body),
    }
    try:
        status, retry_after = post(target, body, headers)
    except TimeoutError:
        return Outcome(error=f"no answer within {ATTEMPT_TIMEOUT_SECONDS} s")
    except Exception as exc:  # refused, reset, TLS, a malformed answer: the receiver's side
        return Outcome(error=f"the connection failed ({_described(exc)})")
    if 200 <= status < 300:
        return Outcome(delivered=True)
    if status == 410:
        return Outcome(final=True, error="the receiver answered 410 Gone: no more attempts are made")
    error = f"the receiver answered HTTP {status}"
    if 300 <= status < 400:
        error += " (redirects are not followed: give the final URL)"
    return Outcome(error=error, retry_after=retry_after)


def _described(exc: Exception) -> str:
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


def payload(manifest: dict[str, Any], hook: dict[str, Any]) -> dict[str, Any]:
    """Standard Webhooks' recommended shape: ``{type, timestamp, data}``, ``data`` the job's
    public view (as ``GET /v1/jobs/{id}`` answers it, with fresh image URLs) without the
    delivery's own state."""
    from .jobs import public_view

    view = public_view(manifest)
    view.pop("webhook", None)
    return {"type": f"job.{hook['event']}", "timestamp": manifest.get("timings", {}).get("finishedAt"), "data": view}


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``."""
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


# --- the HTTP attempt ------------------------------------------------------------------------


def post(target: Target, body: bytes, headers: dict[str, str]) -> tuple[int, int | None]:
    """POST ``body`` to the checked address; the status and Retry-After (seconds) of the answer.

    The whole attempt is bounded by ATTEMPT_TIMEOUT_SECONDS (a receiver that drips its answer
    byte by byte is cut off), nothing is followed, and no more than MAX_RESPONSE_BYTES are read.
    """
    connection = _connection(target)
    timer = threading.Timer(ATTEMPT_TIMEOUT_SECONDS, connection.abort)
    timer.daemon = True
    timer.start()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status, _seconds(response.getheader("Retry-After"))
    except Exception:
        if connection.aborted:
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()
        connection.close()


def _seconds(value: str | None) -> int | None:
    try:
        return max(int(value), 0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the backoff applies


def _connection(target: Target) -> Any:
    import http.client

    base = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection

    class Pinned(base):  # type: ignore[misc, valid-type]
        """Connects to the address that was checked, never to what a new lookup of the host
        says; TLS still verifies the certificate against the host's name."""

        aborted = False

        def connect(self) -> None:
            sock = socket.create_connection((target.address, target.port), timeout=ATTEMPT_TIMEOUT_SECONDS)
            self.sock = _tls().wrap_socket(sock, server_hostname=target.host) if target.scheme == "https" else sock

        def abort(self) -> None:
            self.aborted = True
            sock = self.sock
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed by the other side
                    sock.shutdown(socket.SHUT_RDWR)

    return Pinned(target.host, target.port, timeout=ATTEMPT_TIMEOUT_SECONDS)


@cache
def _tls() -> Any:
    """Certificates verified against the same authorities as the AWS SDK's calls; TLS 1.2 or later."""
    import ssl

    from botocore.httpsession import where

    context = ssl.create_default_context(cafile=where())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# --- secrets ---------------------------------------------------------------------------------


def signing_key(value: str) -> bytes:
    """The deployment's key from its secret's value: a Standard Webhooks secret (``whsec_`` and
    base64 of 24 to 64 random bytes) as it is; the string Secrets Manager generates for the stack
    (64 letters and digits, ~380 random bits) by its SHA-256."""
    if value.startswith(SECRET_PREFIX):
        key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
        if not 24 <= len(key) <= 64:
            raise ValueError("a whsec_ secret holds 24 to 64 bytes")
        return key
    if len(value) < 32:
        raise ValueError("the webhook secret is too short: 32 characters at least")
    return hashlib.sha256(value.encode()).digest()


def team_key(master: bytes, team: str | None) -> bytes:
    """The key a team's webhooks are signed with. The deployment's team (and jobs of no team)
    sign with the deployment's key; any other team's is an HMAC of its name under it, so a team
    that knows its own secret can neither sign for another nor recover the deployment's."""
    if team is None or team == DEFAULT_TEAM:
        return master
    return hmac.new(master, b"serverless-imagegen webhook secret of team " + team.encode(), hashlib.sha256).digest()


def serialized(key: bytes) -> str:
    """A key as Standard Webhooks libraries take it: ``whsec_`` and base64."""
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def secret_for(value: str, team: str | None) -> str:
    """The ``whsec_`` secret a team's receivers verify with, from the deployment's secret value
    (what an operator hands a team: tools/webhook_secret.py)."""
    return serialized(team_key(signing_key(value), team))


_master: list[tuple[bytes, float]] = []


def master_key() -> bytes:
    """The deployment's key, read from Secrets Manager once per SECRET_CACHE_SECONDS."""
    if _master and time.monotonic() - _master[0][1] < SECRET_CACHE_SECONDS:
        return _master[0][0]
    config = settings()
    if not config.webhook_secret_arn:
        raise RuntimeError(f"{config.env_name('webhook_secret_arn')} is not set: webhooks cannot be signed")
    value = clients.secretsmanager().get_secret_value(SecretId=config.webhook_secret_arn)["SecretString"]
    key = signing_key(value)
    _master[:] = [(key, time.monotonic())]
    return key


def forget() -> None:
    """Forget the secret read (tests, and a container whose secret was rotated)."""
    _master.clear()
