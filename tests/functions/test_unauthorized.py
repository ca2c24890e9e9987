"""A missing or wrong API key: 401 ``invalid_api_key`` on every route, as OpenAI answers it.

The authorizer's part. Without a key it fails with "Unauthorized", which API Gateway answers with
its UNAUTHORIZED response, 401 ("callback("Unauthorized"); // Return a 401 Unauthorized
response", https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html;
"UNAUTHORIZED 401: The gateway response when the custom or Amazon Cognito authorizer failed to
authenticate the caller",
https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
With a key it allows, and hands the key to the usage plan, which refuses one it does not hold
(INVALID_API_KEY, https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html).
infra/api.py renders both as 401 with the body below (tests/infra/test_unauthorized_gateway.py).
"""

from __future__ import annotations

import copy
from typing import Any

import authorizer
import pytest
from harness import load_event

from core.openapi import Error, OpenAIError
from imagegen.errors import UnauthorizedError

KEYLESS = [
    None,
    {},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer "},
    {"authorization": "bearer"},
    {"x-api-key": ""},
]


def _authorize(headers: dict[str, str] | None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("api-authorizer-request.json"))
    event["headers"] = headers
    return authorizer.handler(event, None)


@pytest.mark.parametrize("headers", KEYLESS)
def test_without_a_key_the_authorizer_fails_unauthorized_which_api_gateway_answers_401(headers):
    # The message exactly: API Gateway answers any other failure of the authorizer with a 500.
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        _authorize(headers)


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"x-api-key": "abc"}, "abc"),
        ({"X-Api-Key": "abc"}, "abc"),
        ({"Authorization": "Bearer sk-local-123"}, "sk-local-123"),
        ({"authorization": "bearer  sk-local-123 "}, "sk-local-123"),
        ({"x-api-key": "abc", "Authorization": "Bearer other"}, "abc"),
        # A wrong key too: the usage plan refuses it (401 as well), not the authorizer.
        ({"x-api-key": "not-a-key-of-this-api"}, "not-a-key-of-this-api"),
    ],
)
def test_with_a_key_the_authorizer_allows_and_hands_the_key_to_the_usage_plan(headers, key):
    answer = _authorize(headers)

    assert answer["usageIdentifierKey"] == key
    # Never a Deny: that is API Gateway's ACCESS_DENIED, 403, left for a key that may not do the thing.
    arn = load_event("api-authorizer-request.json")["methodArn"]
    [statement] = answer["policyDocument"]["Statement"]
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}


@pytest.mark.parametrize("error", [UnauthorizedError.missing(), UnauthorizedError.wrong()], ids=["missing", "wrong"])
def test_the_401_body_is_both_the_native_error_and_openais(error):
    body = error.body()

    assert error.status == 401
    # OpenAI's own answer to a wrong key: type invalid_request_error, param null, code invalid_api_key.
    assert body == {
        "error": {"code": "invalid_api_key", "message": error.message, "type": "invalid_request_error", "param": None}
    }
    # Both published error schemas read it (GET /v1/openapi.json).
    assert Error.model_validate(body).error.code == "invalid_api_key"
    assert OpenAIError.model_validate(body).error.code == "invalid_api_key"


def test_the_messages_say_what_was_wrong_and_where_the_key_goes():
    assert "x-api-key" in UnauthorizedError.missing().message
    assert "Authorization: Bearer" in UnauthorizedError.missing().message
    assert "incorrect API key" in UnauthorizedError.wrong().message
