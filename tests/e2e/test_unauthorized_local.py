"""A missing or wrong API key through the local stack: 401 ``invalid_api_key`` on every route, in
the one body the native clients and OpenAI's both read, as the deployed API answers it (its
authorizer and gateway responses: tests/functions/test_unauthorized.py,
tests/infra/test_unauthorized_gateway.py). The public routes need no key."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest

from core.routes import ROUTES
from imagegen.errors import UnauthorizedError

JOB_ID = "0" * 32
PROTECTED = [route for route in ROUTES if not route.public]
PUBLIC = [route for route in ROUTES if route.public]


def _send(stack, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    url = stack.info["api"] + path.removeprefix("/v1").replace("{id}", JOB_ID)
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, UnauthorizedError.missing()),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, UnauthorizedError.missing()),
        ({"x-api-key": "not-the-key"}, UnauthorizedError.wrong()),
        ({"Authorization": "Bearer sk-not-the-key"}, UnauthorizedError.wrong()),
    ],
    ids=["no-key", "basic-auth", "wrong-x-api-key", "wrong-bearer"],
)
@pytest.mark.parametrize("route", PROTECTED, ids=[f"{r.method} {r.path}" for r in PROTECTED])
def test_every_route_answers_a_missing_or_wrong_key_401_invalid_api_key(stack, route, headers, error):
    status, _, body = _send(stack, route.method, route.path, headers)

    assert status == 401
    # Native (code, message) and OpenAI's (message, type, param, code) alike, whatever the route.
    assert json.loads(body) == error.body()


def test_a_native_client_reads_the_code_and_message(stack):
    status, body = stack.call("POST", "/v1/text-to-image", {"prompt": "a fox"}, key=False)

    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert "x-api-key" in body["error"]["message"]


def test_openais_client_raises_authentication_error_with_code_invalid_api_key(stack):
    # (The SDK sends no request without a key: a missing one is the HTTP tests' above.)
    stranger = openai.OpenAI(api_key="sk-wrong", base_url=stack.info["api"], max_retries=0)

    with pytest.raises(openai.AuthenticationError) as raised:
        stranger.images.generate(prompt="a fox")

    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key" and raised.value.type == "invalid_request_error"
    assert raised.value.param is None


def test_the_models_list_refuses_a_wrong_key_as_openai_does(stack):
    stranger = openai.OpenAI(api_key="sk-wrong", base_url=stack.info["api"], max_retries=0)

    with pytest.raises(openai.AuthenticationError) as raised:
        stranger.models.list()

    assert raised.value.code == "invalid_api_key"
    status, body = stack.call("GET", "/v1/models", key=False)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"


def test_the_key_is_still_accepted_from_either_header(stack):
    key = stack.info["apiKey"]
    for headers in ({"x-api-key": key}, {"Authorization": f"Bearer {key}"}):
        status, _, _ = _send(stack, "GET", "/v1/models", headers)
        assert status == 200, headers


@pytest.mark.parametrize("route", PUBLIC, ids=[f"{r.method} {r.path}" for r in PUBLIC])
def test_the_public_routes_need_no_key(stack, route):
    status, _, _ = _send(stack, route.method, route.path, {})

    assert status == 200


def test_a_browser_can_read_the_401(stack):
    origin = stack.cors_origin
    status, headers, _ = _send(stack, "GET", "/v1/models", {"Origin": origin, "x-api-key": "not-the-key"})

    assert status == 401
    assert headers["Access-Control-Allow-Origin"] == origin
    assert "WWW-Authenticate" not in headers  # as OpenAI: its clients read the body
