"""Webhooks end to end against `make run`'s stack: a job's end reaches a receiver on this machine,
signed with the `webhookSecret` of .local/stack.json, as the `standardwebhooks` library checks it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook


class _Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks"


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    started = _Receiver()
    yield started
    started.server.shutdown()
    started.server.server_close()


def test_a_finished_job_is_posted_to_a_local_receiver_signed_with_the_stacks_secret(stack, receiver):
    secret = stack.info["webhookSecret"]
    assert secret.startswith("whsec_")

    status, answer = stack.call(
        "POST", "/v1/text-to-image", {"prompt": "a lighthouse", "webhook": {"url": receiver.url}}
    )
    assert status == 200, answer

    assert receiver.arrived.wait(15), "no webhook arrived"
    headers, body = receiver.received[0]
    event = Webhook(secret).verify(body, headers)
    assert event["type"] == "job.completed" and event["data"]["id"] == answer["id"]
    assert headers["webhook-id"] == f"msg_{answer['id']}_completed"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, job = stack.call("GET", f"/v1/jobs/{answer['id']}")
        if job["webhook"]["status"] == "delivered":
            break
        time.sleep(0.1)
    assert job["webhook"]["status"] == "delivered" and job["webhook"]["attempts"] == 1


def test_a_webhook_to_the_inside_is_refused_by_the_local_stack_too(stack):
    for url in ("https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/hooks", "http://10.0.0.1/hooks"):
        status, answer = stack.call("POST", "/v1/text-to-image", {"prompt": "x", "webhook": {"url": url}})

        assert status == 400, answer
        assert [detail["field"] for detail in answer["error"]["details"]] == ["webhook.url"], url
