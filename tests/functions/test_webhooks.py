"""Signed webhooks for jobs: refused at request time when the URL may reach inside, queued when a
job ends, delivered at least once with one webhook-id, signed so that the `standardwebhooks`
library (a verifier that is not ours) accepts it, and every attempt shown in the job's view.

The receivers are HTTP servers on loopback (the tests allow loopback receivers, as the local
stack does); host names resolve through a table of the test's (no DNS query leaves the process)
and every connection the delivery makes is checked to be a loopback one.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from harness import INPUT_BUCKET, REGION, SPEND_TABLE, api_event, call, job_event, load_event
from iam_audit import RECORDER, WEBHOOK_QUEUE, WEBHOOK_SECRET
from imaging import png_bytes
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from test_async_jobs import publish_event, run_model_like_the_state_machine
from test_openai_images import form_event, png_file
from test_triggers import batch, manifest_of, s3_record

from core import webhooks

text_to_image = importlib.import_module("text_to_image").handler
images_generations = importlib.import_module("images_generations").handler
images_edits = importlib.import_module("images_edits").handler
jobs_handler = importlib.import_module("jobs").handler
publish = importlib.import_module("publish").handler
fail = importlib.import_module("fail").handler
trigger = importlib.import_module("trigger").handler
delivery = importlib.import_module("webhook_delivery").handler


# --- receivers --------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on loopback: answers each POST with the next of ``answers`` (status,
    headers, body; a body of None streams without end), then 200."""

    answers: list[tuple[int, dict[str, str], bytes | None]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/imagegen"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                status, headers, answer = receiver.answers.pop(0) if receiver.answers else (200, {}, b"ok")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if answer is None:
                    self._endless()
                    return
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _endless(self) -> None:
                self.send_header("Content-Length", str(1 << 40))
                self.end_headers()
                chunk, deadline = b"x" * 65536, time.monotonic() + 5
                try:
                    while time.monotonic() < deadline:
                        self.wfile.write(chunk)
                except OSError:
                    pass  # the sender closed: what it should do after 1 KB

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll: shutting down waits for it.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


# --- the deployment's webhook queue and secret, names, connections ------------------------------


@dataclass
class Hooks:
    sqs: Any
    queue_url: str
    dead_letters_url: str
    secret: str
    # Host name -> the addresses it resolves to, one list per lookup (the last one repeats).
    dns: dict[str, list[list[str]]]
    lookups: list[str]
    connections: list[tuple[str, int]]

    def verify(self, received: Received, secret: str | None = None) -> dict[str, Any]:
        """What a receiver does: the standardwebhooks library checks the signature."""
        return Webhook(secret or self.secret).verify(received.body, received.headers)

    def next_record(self) -> dict[str, Any] | None:
        """The next visible message, as the event source mapping hands it to the function."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return None
        [message] = messages
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{WEBHOOK_QUEUE}",
            "awsRegion": REGION,
        }

    def deliver_next(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """One invocation of the delivery function with the next message; what it answered,
        and the record. A message it does not report is deleted, as the event source does."""
        record = self.next_record()
        assert record is not None, "no webhook was queued"
        result = delivery({"Records": [record]}, None)
        if not result["batchItemFailures"]:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])
        return result, record

    def time_passes(self, record: dict[str, Any]) -> None:
        """The delay the function set on the message is over."""
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
        )


@pytest.fixture
def hooks(aws, monkeypatch) -> Iterator[Hooks]:
    import boto3

    sqs = boto3.client("sqs", region_name=REGION)
    dead_letters = sqs.create_queue(QueueName=f"{WEBHOOK_QUEUE}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=WEBHOOK_QUEUE,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": webhooks.MAX_ATTEMPTS})
        },
    )["QueueUrl"]
    secret = webhooks.serialized(os.urandom(32))
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(Name=WEBHOOK_SECRET, SecretString=secret)[
        "ARN"
    ]
    monkeypatch.setenv("IMAGEGEN_WEBHOOK_QUEUE_URL", queue)
    monkeypatch.setenv("IMAGEGEN_WEBHOOK_SECRET_ARN", arn)
    # As the local stack: receivers on loopback, over http.
    monkeypatch.setenv("IMAGEGEN_WEBHOOK_ALLOW_LOOPBACK", "true")
    aws.reconfigure()
    webhooks.forget()

    state = Hooks(sqs, queue, dead_letters, secret, {}, [], [])
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in ("localhost",) and not _is_ip(host):
            state.lookups.append(host)
            answers = state.dns.get(host)
            if not answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            addresses = answers.pop(0) if len(answers) > 1 else answers[0]
            return [_info(address, port) for address in addresses]
        return real_getaddrinfo(host, port, family, type, proto, flags)

    def create_connection(address, *args, **kwargs):
        state.connections.append(address)
        assert address[0] in ("127.0.0.1", "::1"), f"a connection to {address} left loopback"
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield state
    webhooks.forget()


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _info(address: str, port: int) -> tuple:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


def run(body: dict[str, Any], handler: Callable = text_to_image, path: str = "/v1/text-to-image") -> dict[str, Any]:
    status, answer, _ = call(handler, api_event(path, body))
    assert status in (200, 202), answer
    return answer


def job_view(job_id: str) -> dict[str, Any]:
    status, view, _ = call(jobs_handler, job_event(job_id))
    assert status == 200
    return view


# --- the three -----------------------------------------------------------------------


def test_a_receiver_verifies_the_delivery_with_the_standardwebhooks_library(aws, hooks, receiver):
    answer = run({"prompt": "a lighthouse", "webhook": {"url": receiver.url}})
    job_id = answer["id"]
    assert answer["webhook"]["status"] == "pending" and answer["webhook"]["attempts"] == 0

    result, _ = hooks.deliver_next()

    assert result == {"batchItemFailures": []}
    [got] = receiver.received
    assert got.path == "/hooks/imagegen"
    assert got.headers["webhook-id"] == f"msg_{job_id}_completed"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    event = hooks.verify(got)
    assert event["type"] == "job.completed"
    assert event["data"]["id"] == job_id and event["data"]["status"] == "SUCCEEDED"
    assert event["data"]["images"][0]["url"].startswith("https://")
    assert "webhook" not in event["data"]
    # A body changed on the way, or another secret, does not verify.
    with pytest.raises(WebhookVerificationError):
        hooks.verify(Received(got.path, got.headers, got.body.replace(b"SUCCEEDED", b"FAILED")))
    with pytest.raises(WebhookVerificationError):
        hooks.verify(got, webhooks.serialized(os.urandom(32)))
    shown = job_view(job_id)["webhook"]
    assert shown["status"] == "delivered" and shown["attempts"] == 1 and shown["lastError"] is None
    assert shown["deliveredAt"] and shown["id"] == f"msg_{job_id}_completed"


def test_a_receiver_that_fails_twice_then_succeeds_gets_three_deliveries_with_one_webhook_id(aws, hooks, receiver):
    receiver.answers = [(500, {}, b"down"), (503, {"Retry-After": "120"}, b"busy")]
    job_id = run({"prompt": "a lighthouse", "webhook": {"url": receiver.url}})["id"]

    first, record = hooks.deliver_next()
    assert first == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    # The function set the backoff on the message: it is not back before its delay.
    assert hooks.next_record() is None
    shown = job_view(job_id)["webhook"]
    assert shown["status"] == "pending" and shown["attempts"] == 1
    assert shown["lastError"] == "the receiver answered HTTP 500" and shown["nextAttemptAt"] > shown["lastAttemptAt"]

    hooks.time_passes(record)
    second, record = hooks.deliver_next()
    assert second["batchItemFailures"]
    hooks.time_passes(record)
    third, _ = hooks.deliver_next()
    assert third == {"batchItemFailures": []}

    assert len(receiver.received) == 3
    assert {got.headers["webhook-id"] for got in receiver.received} == {f"msg_{job_id}_completed"}
    assert all(hooks.verify(got)["data"]["id"] == job_id for got in receiver.received)
    shown = job_view(job_id)["webhook"]
    assert shown["status"] == "delivered" and shown["attempts"] == 3 and shown["nextAttemptAt"] is None
    assert hooks.next_record() is None


@pytest.mark.parametrize(
    ("url", "resolves_to"),
    [
        ("https://169.254.169.254/latest/meta-data/", None),
        ("https://10.0.0.1/hooks", None),
        ("https://[::ffff:10.0.0.1]/hooks", None),
        ("https://hooks.metadata.example/", ["169.254.169.254"]),
        ("https://hooks.intranet.example/", ["10.0.0.1"]),
        # Any private address refuses the host, whichever the client would pick.
        ("https://hooks.split.example/", ["93.184.216.34", "10.0.0.1"]),
        ("https://hooks.ec2.example/", ["fd00:ec2::254"]),
    ],
)
def test_a_url_that_reaches_inside_is_refused_at_request_time_before_any_model_call(aws, hooks, url, resolves_to):
    if resolves_to:
        hooks.dns[url.split("/")[2]] = [resolves_to]

    status, answer, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "webhook": {"url": url}}))

    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_request"
    assert [detail["field"] for detail in answer["error"]["details"]] == ["webhook.url"]
    assert aws.bedrock.calls == [] and hooks.connections == []
    assert "Messages" not in hooks.sqs.receive_message(QueueUrl=hooks.queue_url)


# --- what a job's end sends ------------------------------------------------------------------


def test_a_webhook_for_failures_only_gets_nothing_when_the_job_succeeds(aws, hooks, receiver):
    answer = run({"prompt": "a lighthouse", "webhook": {"url": receiver.url, "events": ["failed"]}})

    assert answer["webhook"]["status"] == "skipped"
    assert hooks.next_record() is None
    assert receiver.received == []


def test_a_failed_async_job_sends_job_failed_with_its_error(aws, hooks, receiver):
    started = run({"prompt": "x", "mode": "async", "webhook": {"url": receiver.url, "events": ["failed"]}})
    fail({**load_event("sfn-fail.json"), "jobId": started["id"]}, None)

    hooks.deliver_next()

    [got] = receiver.received
    event = hooks.verify(got)
    assert got.headers["webhook-id"] == f"msg_{started['id']}_failed"
    assert event["type"] == "job.failed" and event["data"]["status"] == "FAILED"
    assert event["data"]["error"]["code"] == "throttled"
    assert job_view(started["id"])["webhook"]["status"] == "delivered"


def test_an_async_job_that_succeeds_sends_its_fresh_image_urls(aws, hooks, receiver):
    started = run({"prompt": "x", "mode": "async", "numberOfImages": 2, "webhook": {"url": receiver.url}})
    run_model_like_the_state_machine(aws, started["id"])
    publish(publish_event(started["id"]), None)

    hooks.deliver_next()

    event = hooks.verify(receiver.received[0])
    assert event["data"]["status"] == "SUCCEEDED" and len(event["data"]["images"]) == 2
    assert all("X-Amz-Signature=" in image["url"] for image in event["data"]["images"])


def test_a_triggered_request_with_a_webhook_is_delivered(aws, hooks, receiver):
    key = "triggers/requests/poster.json"
    request = {"task": "text-to-image", "prompt": "a poster", "webhook": {"url": receiver.url}}
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=json.dumps(request).encode())

    assert trigger(batch(s3_record(key)), None) == {"batchItemFailures": []}
    hooks.deliver_next()

    assert hooks.verify(receiver.received[0])["data"]["id"] == manifest_of(aws, key)["id"]


def test_a_teams_webhooks_are_signed_with_the_teams_own_secret(aws, hooks, receiver):
    aws.dynamodb.put_item(
        TableName=SPEND_TABLE, Item={"pk": {"S": "APIKEY#k1"}, "sk": {"S": "TEAM"}, "team": {"S": "design"}}
    )
    run({"prompt": "a lighthouse", "webhook": {"url": receiver.url}})

    hooks.deliver_next()

    [got] = receiver.received
    team_secret = webhooks.secret_for(hooks.secret, "design")
    assert hooks.verify(got, team_secret)["type"] == "job.completed"
    # Neither the deployment's secret nor another team's verifies it.
    for other in (hooks.secret, webhooks.secret_for(hooks.secret, "research")):
        with pytest.raises(WebhookVerificationError):
            hooks.verify(got, other)


def test_the_openai_routes_take_the_webhook_as_an_extension_field(aws, hooks, receiver):
    status, answer, _ = call(
        images_generations,
        api_event(
            "/v1/images/generations", {"prompt": "a lighthouse", "model": "dall-e-3", "webhook": {"url": receiver.url}}
        ),
    )
    assert status == 200, answer
    hooks.deliver_next()
    assert hooks.verify(receiver.received[0])["data"]["id"] == answer["job_id"]

    # A form's field is text: the webhook as its JSON.
    fields = {"image": png_file(png_bytes(512, 512)), "prompt": "brighter",
              "webhook": json.dumps({"url": receiver.url, "events": ["completed"]})}  # fmt: skip
    status, answer, _ = call(images_edits, form_event("/v1/images/edits", fields))
    assert status == 200, answer
    hooks.deliver_next()
    assert hooks.verify(receiver.received[1])["data"]["id"] == answer["job_id"]


def test_an_openai_webhook_that_reaches_inside_is_refused_naming_the_parameter(aws, hooks):
    body = {"prompt": "x", "model": "dall-e-3", "webhook": {"url": "https://169.254.169.254/"}}

    status, answer, _ = call(images_generations, api_event("/v1/images/generations", body))

    # OpenAI's error names the parameter as the caller sent it.
    assert status == 400 and answer["error"]["param"] == "webhook"
    assert "the cloud metadata service" in answer["error"]["message"] and aws.bedrock.calls == []


def test_a_deployment_without_a_webhook_queue_refuses_webhooks(aws):
    status, answer, _ = call(
        text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "webhook": {"url": "https://example.com/"}})
    )

    assert status == 400 and answer["error"]["details"][0]["field"] == "webhook"
    assert aws.bedrock.calls == []


# --- delivery: what is not done ----------------------------------------------------------------


def test_a_redirect_is_not_followed(aws, hooks, receiver, other_receiver):
    receiver.answers = [(302, {"Location": other_receiver.url}, b"")]
    job_id = run({"prompt": "x", "webhook": {"url": receiver.url}})["id"]

    result, _ = hooks.deliver_next()

    assert result["batchItemFailures"] and other_receiver.received == []
    shown = job_view(job_id)["webhook"]
    assert shown["status"] == "pending" and "redirects are not followed" in shown["lastError"]


def test_an_endless_answer_is_not_read_past_its_first_kilobyte(aws, hooks, receiver):
    receiver.answers = [(200, {}, None)]
    job_id = run({"prompt": "x", "webhook": {"url": receiver.url}})["id"]

    began = time.monotonic()
    result, _ = hooks.deliver_next()

    # Reading it all would take past the attempt's timeout, and fail it.
    assert time.monotonic() - began < 3
    assert result == {"batchItemFailures": []}
    assert job_view(job_id)["webhook"]["status"] == "delivered"


def test_a_host_that_resolves_inside_at_delivery_is_refused_and_never_connected(aws, hooks, monkeypatch):
    # Public when the request is checked, private when the webhook is sent (DNS rebinding).
    hooks.dns["hooks.rebind.example"] = [["93.184.216.34"], ["10.0.0.1"]]
    job_id = run({"prompt": "x", "webhook": {"url": "https://hooks.rebind.example/in"}})["id"]

    result, _ = hooks.deliver_next()

    assert result == {"batchItemFailures": []}, "refused for good: no retry"
    assert hooks.connections == []
    shown = job_view(job_id)["webhook"]
    assert shown["status"] == "failed" and shown["attempts"] == 1
    assert shown["lastError"].startswith("refused:") and "private" in shown["lastError"]


def test_the_delivery_connects_to_the_address_it_checked_not_a_second_lookup(aws, hooks, receiver):
    # One lookup per attempt: the address checked is the one connected to, whatever the name
    # would resolve to next.
    port = receiver.server.server_port
    hooks.dns["hooks.local.example"] = [["127.0.0.1"], ["127.0.0.1"], ["10.0.0.1"]]
    run({"prompt": "x", "webhook": {"url": f"http://hooks.local.example:{port}/in"}})

    hooks.deliver_next()

    assert hooks.lookups == ["hooks.local.example", "hooks.local.example"]
    assert hooks.connections == [("127.0.0.1", port)]
    assert receiver.received[0].headers["Host"] == f"hooks.local.example:{port}"


def test_410_gone_stops_the_attempts(aws, hooks, receiver):
    receiver.answers = [(410, {}, b"")]
    job_id = run({"prompt": "x", "webhook": {"url": receiver.url}})["id"]

    result, _ = hooks.deliver_next()

    assert result == {"batchItemFailures": []} and hooks.next_record() is None
    shown = job_view(job_id)["webhook"]
    assert shown["status"] == "failed" and "410" in shown["lastError"]


def test_after_the_last_attempt_the_message_goes_back_for_the_dead_letter_queue(aws, hooks, receiver):
    receiver.answers = [(500, {}, b"")]
    job_id = run({"prompt": "x", "webhook": {"url": receiver.url}})["id"]
    record = hooks.next_record()
    record["attributes"]["ApproximateReceiveCount"] = str(webhooks.MAX_ATTEMPTS)

    result = delivery({"Records": [record]}, None)

    assert result["batchItemFailures"], "reported failed: SQS moves it on past maxReceiveCount"
    assert hooks.next_record() is not None, "visible again at once"
    shown = job_view(job_id)["webhook"]
    assert shown["status"] == "failed" and shown["attempts"] == webhooks.MAX_ATTEMPTS


def test_a_duplicate_message_of_a_delivered_webhook_is_not_sent_again(aws, hooks, receiver):
    run({"prompt": "x", "webhook": {"url": receiver.url}})
    record = hooks.next_record()
    delivery({"Records": [record]}, None)

    assert delivery({"Records": [record]}, None) == {"batchItemFailures": []}
    assert len(receiver.received) == 1


def test_a_webhook_url_with_a_token_is_shown_without_it(aws, hooks, receiver):
    answer = run({"prompt": "x", "webhook": {"url": receiver.url + "?token=s3cr3t"}})

    assert "s3cr3t" not in json.dumps(answer)
    assert answer["webhook"]["url"] == receiver.url + "?…"
    hooks.deliver_next()
    assert receiver.received[0].path == "/hooks/imagegen?token=s3cr3t"


# --- the stack: least privilege, a day of retries, an alarm -----------------------------------


def _statements(synth, action: str) -> dict[str, list]:
    roles: dict[str, list] = {}
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                for role in policy["Properties"]["Roles"]:
                    roles.setdefault(role["Ref"], []).append(statement["Resource"])
    return roles


def test_only_the_delivery_function_reads_the_secret_and_the_job_functions_may_only_queue(deployed):
    from iam_policy import Policies

    policies = Policies(deployed.document, {})
    delivery_role = policies.role_of_handler("webhook_delivery")
    reads = _statements(deployed, "secretsmanager:GetSecretValue")
    [secret] = [name for name in deployed.resources("AWS::SecretsManager::Secret") if name.startswith("WebhooksSecret")]
    # The functions that sign images read their certificate chain (public), never the webhook secret.
    assert {role for role, resources in reads.items() if {"Ref": secret} in resources} == {delivery_role}
    senders = set(_statements(deployed, "sqs:SendMessage"))
    ending_jobs = {"text_to_image", "inpainting", "images_generations", "images_edits", "publish", "fail", "trigger"}
    assert {policies.role_of_handler(module) for module in ending_jobs} <= senders
    for module in ("webhook_delivery", "jobs", "uploads", "models", "usage"):
        assert policies.role_of_handler(module) not in senders, module


def test_the_queue_retries_for_a_day_then_dead_letters_with_an_alarm(deployed):
    delays = [webhooks.retry_delay(attempt) for attempt in range(1, webhooks.MAX_ATTEMPTS)]
    assert delays[:3] == [30, 60, 120] and max(delays) == 3600
    assert sum(delays) >= 24 * 3600 > sum(delays[:-1])
    queues = deployed.resources("AWS::SQS::Queue")
    [queue] = [q["Properties"] for name, q in queues.items() if name.startswith("WebhooksQueue")]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == webhooks.MAX_ATTEMPTS
    assert queue["MessageRetentionPeriod"] > webhooks.MAX_MESSAGE_AGE_SECONDS
    [dlq] = [name for name in queues if name.startswith("WebhooksDeadLetters")]
    alarms = deployed.resources("AWS::CloudWatch::Alarm").values()
    assert any(
        alarm["Properties"].get("Dimensions", [{}])[0].get("Value") == {"Fn::GetAtt": [dlq, "QueueName"]}
        for alarm in alarms
    )
    deployed.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"BatchSize": webhooks.BATCH_SIZE, "FunctionResponseTypes": ["ReportBatchItemFailures"]},
    )


def test_every_call_of_the_queue_and_the_delivery_is_audited_against_the_roles(aws, hooks, receiver):
    run({"prompt": "x", "webhook": {"url": receiver.url}})

    hooks.deliver_next()

    # The audit (conftest.py) judges each of these against the synthesized roles when the test ends.
    made = {(call_.function, call_.action) for call_ in RECORDER.calls}
    assert {
        ("text_to_image", "sqs:SendMessage"),
        ("webhook_delivery", "secretsmanager:GetSecretValue"),
        ("webhook_delivery", "s3:GetObject"),
        ("webhook_delivery", "s3:PutObject"),
    } <= made
