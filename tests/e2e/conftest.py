"""The local stack as a newcomer starts it (`python -m local`), on free ports, for the whole session."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stacks import SEED_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN_SECONDS = 30


def _free_port_pair() -> int:
    """A port P with P+1 free too (the Cloud Function is served on PORT+1)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


@dataclass
class Stack:
    info: dict[str, str]
    process: subprocess.Popen
    state_dir: Path
    started_in: float
    first_request_in: float
    cors_origin: str = "https://app.example.com"

    def call(self, method: str, path: str, body: Any = None, *, key: bool = True, raw: bytes | None = None):
        """Call the API; return status and decoded JSON."""
        url = path if path.startswith("http") else self.info["api"] + path.removeprefix("/v1")
        headers = {"content-type": "application/json"}
        if key:
            headers["x-api-key"] = self.info["apiKey"]
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        return _send(urllib.request.Request(url, data=data, headers=headers, method=method))

    def customize(self, body: Any):
        request = urllib.request.Request(
            self.info["customize"], data=json.dumps(body).encode(), headers={"content-type": "application/json"},
            method="POST",
        )  # fmt: skip
        return _send(request)

    def wait_for_job(self, job_id: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, job = self.call("GET", f"/v1/jobs/{job_id}")
            if status == 200 and job["status"] != "RUNNING":
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} still not finished after {timeout} s")

    def s3(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.info["s3Endpoint"], region_name="us-east-1",
            aws_access_key_id="local", aws_secret_access_key="local",
        )  # fmt: skip


def _send(request: urllib.request.Request):
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    # Nova Canvas answers the requests that name no model, whose previews these tests check.
    yield from run_stack(tmp_path_factory.mktemp("local"), IMAGEGEN_DEFAULT_MODELS=json.dumps(SEED_DEFAULTS))


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory) -> Iterator[Stack]:
    """The stack as `make run` starts it: the live models answer what names no model."""
    yield from run_stack(tmp_path_factory.mktemp("default"))


def run_stack(state_dir: Path, **settings: str) -> Iterator[Stack]:
    """`make run` in a subprocess on free ports, with ``settings`` in its environment; stopped
    after, and checked to have stopped cleanly."""
    port = _free_port_pair()
    env = {**os.environ, "PORT": str(port), "IMAGEGEN_LOCAL_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    for name in [n for n in env if n.startswith(("AWS_", "IMAGEGEN_", "GOOGLE_"))]:
        env.pop(name)
    env.update(IMAGEGEN_LOCAL_DIR=str(state_dir), IMAGEGEN_CORS_ORIGINS=Stack.cors_origin, **settings)
    started = time.monotonic()
    # The log goes to a file: a pipe nobody reads until the end fills up and stalls the server.
    log = state_dir / "stack.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, text=True
        )
    stack_file = state_dir / "stack.json"
    while not stack_file.exists():
        if process.poll() is not None or time.monotonic() - started > READY_WITHIN_SECONDS:
            process.kill()
            raise AssertionError(f"the local stack did not start:\n{log.read_text()}")
        time.sleep(0.1)
    started_in = time.monotonic() - started
    info = json.loads(stack_file.read_text())
    stack = Stack(info, process, state_dir, started_in, 0.0)
    begin = time.monotonic()
    first = {"model": "nova-canvas", "prompt": "first", "width": 1024, "height": 1024}
    status, _ = stack.call("POST", "/v1/text-to-image", first)
    stack.first_request_in = time.monotonic() - begin
    assert status == 200
    yield stack
    process.send_signal(signal.SIGINT)
    process.wait(timeout=15)
    output = log.read_text()
    assert process.returncode == 0, output
    assert "stopped" in output
    assert not stack_file.exists()
    for used in (port, port + 1):
        # Nothing answers there any more: the servers are gone. (Binding the port instead would
        # also fail when another test's outgoing connection was given the same ephemeral port.)
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", used))
