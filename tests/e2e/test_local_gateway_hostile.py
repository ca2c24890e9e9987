"""The local gateway and its HTTP server against callers that do not play by the rules: a spoofed
Host, bytes that are not UTF-8, URLs and headers over the server's limits, a body that never
arrives. Every answer is JSON in the contract's error shape and names the stack's own address."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from local.stack import READ_TIMEOUT_SECONDS

JOB_ID = "0123456789abcdef0123456789abcdef"


def _address(stack) -> tuple[str, int]:
    api = urlsplit(stack.info["api"])
    return api.hostname, api.port


def _request(stack, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    """One request through http.client, which sends the Host header it is given as it is."""
    connection = http.client.HTTPConnection(*_address(stack), timeout=30)
    try:
        connection.request(method, path, body=body, headers={"x-api-key": stack.info["apiKey"], **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def _raw(stack, data: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` on a socket as it is; the status, headers and body of what comes back."""
    with socket.create_connection(_address(stack), timeout=timeout) as connection:
        connection.sendall(data)
        answer = _read_all(connection)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _read_all(connection: socket.socket) -> bytes:
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer


def _contract_error(headers: dict[str, str], body: bytes | dict) -> dict:
    document = json.loads(body) if isinstance(body, bytes) else body
    assert {name.lower(): value for name, value in headers.items()}["content-type"] == "application/json"
    assert set(document) == {"error"} and {"code", "message"} <= set(document["error"])
    assert document["error"]["code"] and document["error"]["message"]
    return document["error"]


# --- the Host header ------------------------------------------------------------------------


def test_a_spoofed_host_never_reaches_status_url_location_or_the_openapi_servers(stack):
    base = f"http://{':'.join(map(str, _address(stack)))}"
    status, headers, job = _request(
        stack, "POST", "/v1/text-to-image", json.dumps({"prompt": "a fox", "mode": "async"}).encode(),
        {"Host": "evil.example", "content-type": "application/json"},
    )  # fmt: skip
    _, _, document = _request(stack, "GET", "/v1/openapi.json", headers={"Host": "evil.example"})

    assert status == 202
    assert job["statusUrl"] == f"{base}/v1/jobs/{job['id']}"
    assert headers["Location"] == job["statusUrl"]
    assert document["servers"] == [{"url": base}]
    stack.wait_for_job(job["id"])


def test_the_same_port_reached_as_localhost_keeps_its_name_for_the_playgrounds_polls(stack):
    port = _address(stack)[1]
    _, _, document = _request(stack, "GET", "/v1/openapi.json", headers={"Host": f"localhost:{port}"})
    _, _, other_port = _request(stack, "GET", "/v1/openapi.json", headers={"Host": f"localhost:{port + 7}"})

    assert document["servers"] == [{"url": f"http://localhost:{port}"}]
    assert other_port["servers"] == [{"url": f"http://127.0.0.1:{port}"}]


# --- the body ---------------------------------------------------------------------------------


def test_a_json_body_that_is_not_utf8_is_400_naming_body_not_repaired(stack):
    status, headers, body = _request(
        stack, "POST", "/v1/text-to-image", b'{"prompt": "caf\xe9 at dusk"}', {"content-type": "application/json"}
    )

    assert status == 400
    error = _contract_error(headers, body)
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "body" and "UTF-8" in error["details"][0]["message"]


def test_on_the_openai_routes_a_body_that_is_not_utf8_is_openais_400(stack):
    status, _, body = _request(
        stack, "POST", "/v1/images/generations", b'{"prompt": "caf\xe9"}', {"content-type": "application/json"}
    )

    assert status == 400
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == "body"
    assert "UTF-8" in body["error"]["message"]


def test_a_malformed_chunked_body_is_400_json_naming_body(stack):
    key = stack.info["apiKey"]
    status, headers, body = _raw(
        stack,
        b"POST /v1/text-to-image HTTP/1.1\r\nHost: x\r\nx-api-key: " + key.encode() + b"\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    )

    assert status == 400
    assert _contract_error(headers, body)["details"][0]["field"] == "body"


def test_a_body_shorter_than_its_content_length_is_answered_within_the_read_timeout(stack):
    key = stack.info["apiKey"].encode()
    started = time.monotonic()
    with socket.create_connection(_address(stack), timeout=READ_TIMEOUT_SECONDS + 5) as stalled:
        stalled.sendall(
            b"POST /v1/text-to-image HTTP/1.1\r\nHost: x\r\nx-api-key: " + key + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + b'{"prompt":'
        )
        # Meanwhile the server answers everyone else.
        with urllib.request.urlopen(stack.info["api"] + "/openapi.json", timeout=READ_TIMEOUT_SECONDS) as other:
            assert other.status == 200
        assert time.monotonic() - started < READ_TIMEOUT_SECONDS
        try:
            answer = _read_all(stalled)
        except TimeoutError:
            pytest.fail(f"the connection was still open {READ_TIMEOUT_SECONDS + 5:.0f} s later")

    assert time.monotonic() - started < READ_TIMEOUT_SECONDS + 2
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["error"]["code"] == "request_timeout"


# --- what the HTTP server answers before the gateway runs ------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(b"GET /v1/" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, id="100 KB URL"),
        pytest.param(b"GET /v1/models HTTP/1.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431, id="100 KB header"),
        pytest.param(b"GET /v1/models HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431, id="101 headers"),
        pytest.param(b"GET /v1/models HTTP/1.1 extra\r\n\r\n", 400, id="malformed request line"),
        pytest.param(b"GET /v1/models HTTP/2.0\r\n\r\n", 505, id="HTTP/2.0 request line"),
    ],
)
def test_what_the_server_refuses_by_itself_is_json_in_the_contracts_shape(stack, request_bytes, status):
    answered, headers, body = _raw(stack, request_bytes)

    assert answered == status
    error = _contract_error(headers, body)
    assert "<html" not in body.decode().lower()
    if status == 400:
        assert error["code"] == "invalid_request"


# --- jobs a restart forgot ------------------------------------------------------------------


def test_an_unknown_job_says_the_local_stack_keeps_jobs_in_memory(stack):
    status, headers, body = _request(stack, "GET", f"/v1/jobs/{JOB_ID}")

    assert status == 404
    error = _contract_error(headers, body)
    assert error["code"] == "not_found" and JOB_ID in error["message"]
    assert "keeps jobs in memory" in error["message"] and "make run" in error["message"]
