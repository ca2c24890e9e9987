"""The client and the local tools while the API restarts: polls ride out connections refused,
reset or closed for a bounded time, the POST that starts paid work is never sent twice, and a
stack that is gone is said plainly."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imagegen_client import Client, api, cli

ROOT = Path(__file__).resolve().parents[2]
JOB_ID = "0123456789abcdef0123456789abcdef"
# Just enough of the OpenAPI document for the command to offer text-to-image.
DOCUMENT = {
    "paths": {
        "/v1/text-to-image": {
            "post": {
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/T"}}}},
                "responses": {"202": {}},
            }
        }
    },
    "components": {
        "schemas": {
            "T": {
                "required": ["prompt"],
                "properties": {"prompt": {"type": "string"}, "mode": {"enum": ["auto", "sync", "async"]}},
            }
        }
    },
}


class FakeApi:
    """A stand-in for the API on a loopback port: a job that succeeds on its third poll, after
    ``drops`` connections that get no answer (``how``: closed, or reset)."""

    def __init__(self, drops: int = 0, how: str = "closed", drop_posts: bool = False) -> None:
        self.drops, self.how, self.drop_posts = drops, how, drop_posts
        self.requests: list[str] = []
        self.polls = 0
        self.to_reset: set[socket.socket] = set()
        self.server = self._bind(0)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def _bind(self, port: int) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.answer(self)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                fake.answer(self)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def shutdown_request(self, request: socket.socket) -> None:
                if request in fake.to_reset:  # closed at once, no FIN first: the client reads an RST
                    self.close_request(request)
                else:
                    super().shutdown_request(request)

        server = Server(("127.0.0.1", port), Handler)
        # A short poll: stop() waits for one, once or twice per test.
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return server

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        self.requests.append(f"{request.command} {request.path}")
        if request.path == "/v1/openapi.json":
            return _json(request, 200, DOCUMENT)
        if self.drops > 0 and (request.command == "GET" or self.drop_posts):
            self.drops -= 1
            return self._drop(request)
        if request.command == "POST":
            return _json(request, 202, {"id": JOB_ID, "status": "RUNNING", "statusUrl": f"{self.url}/jobs/{JOB_ID}"})
        self.polls += 1
        status = "SUCCEEDED" if self.polls >= 3 else "RUNNING"
        return _json(request, 200, {"id": JOB_ID, "status": status, "images": []})

    def _drop(self, request: BaseHTTPRequestHandler) -> None:
        if self.how == "reset":
            request.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.to_reset.add(request.connection)
        request.close_connection = True

    def down_for(self, seconds: float) -> None:
        """Stop listening (connections refused), and listen on the same port again ``seconds`` later."""
        self.stop()
        threading.Timer(seconds, lambda: setattr(self, "server", self._bind(self.port))).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(request: BaseHTTPRequestHandler, status: int, body: object) -> None:
    data = json.dumps(body).encode()
    request.send_response(status)
    request.send_header("content-type", "application/json")
    request.send_header("content-length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """The command keeps the OpenAPI document it fetched (for --help with the API down): here, not in ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def fast(monkeypatch):
    """Polls and retries at test speed; the bound on retrying stays as configured unless a test sets it."""
    monkeypatch.setattr(api, "POLL_INTERVAL_SECONDS", 0.05)
    monkeypatch.setattr(api, "RECONNECT_FIRST_DELAY_SECONDS", 0.05)
    monkeypatch.setattr(api, "RECONNECT_MAX_DELAY_SECONDS", 0.2)


@pytest.fixture
def fake_api():
    servers: list[FakeApi] = []

    def start(**options) -> FakeApi:
        servers.append(FakeApi(**options))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def imagegen(fake: FakeApi, *args: str) -> int:
    return cli.main([*args, "--api-url", fake.url, "--api-key", "k"])


@pytest.mark.parametrize("how", ["closed", "reset", "refused"])
def test_jobs_wait_rides_out_an_api_restarting(fast, fake_api, capsys, how):
    if how == "refused":  # not listening for a while, then back on its port
        fake = fake_api()
        fake.down_for(0.5)
    else:
        fake = fake_api(drops=3, how=how)

    code = imagegen(fake, "jobs", JOB_ID, "--wait", "--json")

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["status"] == "SUCCEEDED"
    assert captured.err.count("no answer from the API") == 1 and "Traceback" not in captured.err


def test_an_async_task_keeps_polling_through_dropped_connections_and_posts_once(fast, fake_api, capsys):
    fake = fake_api(drops=2)

    code = imagegen(fake, "text-to-image", "-p", "a fox", "--async", "--json")

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["status"] == "SUCCEEDED"
    assert "no answer from the API" in captured.err
    assert fake.requests.count("POST /v1/text-to-image") == 1


def test_the_post_that_starts_a_job_is_never_retried(fast, fake_api):
    fake = fake_api(drops=1, drop_posts=True)

    with pytest.raises(api.Unreachable):
        Client(fake.url, "k").text_to_image(prompt="a fox", mode="async")

    assert fake.requests == ["POST /v1/text-to-image"]


def test_an_api_that_never_comes_back_ends_with_a_clear_message_after_the_bound(fast, fake_api, monkeypatch, capsys):
    monkeypatch.setattr(api, "RECONNECT_SECONDS", 1.0)
    fake = fake_api()
    fake.stop()

    started = time.monotonic()
    code = imagegen(fake, "jobs", JOB_ID, "--wait")

    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1
    assert 1.0 <= elapsed < 3
    assert f"/v1/jobs/{JOB_ID} cannot be reached" in err and "no answer after retrying for 1 s" in err
    assert "Traceback" not in err


def test_drop_with_a_stack_json_left_by_a_stopped_stack_says_to_start_it(tmp_path):
    ports = []
    for _ in range(2):
        with socket.socket() as probe:  # bound, then released: nothing listens there any more
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    (tmp_path / "stack.json").write_text(json.dumps({
        "api": f"http://127.0.0.1:{ports[0]}/v1", "s3Endpoint": f"http://127.0.0.1:{ports[1]}",
        "inputBucket": "imagegen-local-inputs", "outputBucket": "imagegen-local-outputs", "apiKey": "local-dev-key",
    }))  # fmt: skip
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"task": "text-to-image", "prompt": "a fox"}))
    environment = {**os.environ, "IMAGEGEN_LOCAL_DIR": str(tmp_path)}

    run = subprocess.run([sys.executable, "-m", "local.drop", str(request)], cwd=ROOT, env=environment,
                         capture_output=True, text=True, timeout=60)  # fmt: skip

    assert run.returncode != 0
    assert "not running" in run.stderr and "make run" in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
