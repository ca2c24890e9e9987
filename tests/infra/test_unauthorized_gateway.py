"""API Gateway's own answers to a missing or wrong API key: 401 ``invalid_api_key``, in one body
that the native error shape and OpenAI's both read (gateway responses are per API, not per route).

AWS's gateway response types and their default statuses
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html):
"UNAUTHORIZED 401: The gateway response when the custom or Amazon Cognito authorizer failed to
authenticate the caller" (our authorizer, without a key); "INVALID_API_KEY 403: The gateway
response for an invalid API key submitted for a method requiring an API key" (a key the usage plan
does not hold); "ACCESS_DENIED 403: The gateway response for authorization failure; for example,
when access is denied by a custom or Amazon Cognito authorizer" (a Deny, which ours never returns);
"MISSING_AUTHENTICATION_TOKEN 403: ... including the cases when the client attempts to invoke an
unsupported API method or resource" (answered 404 here).
"""

from __future__ import annotations

import json

import pytest

from imagegen.errors import ForbiddenError, NotFoundError, UnauthorizedError

# What API Gateway puts for $context.error.messageString: its message, quoted
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html).
MESSAGE_STRING = "$context.error.messageString"
KEY_RESPONSES = {"UNAUTHORIZED": UnauthorizedError.missing(), "INVALID_API_KEY": UnauthorizedError.wrong()}


def _responses(synth) -> dict[str, dict]:
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
    }


def _rendered(response: dict, message: str = "Forbidden") -> dict:
    """The body API Gateway sends: the template with its message substituted."""
    template = response["ResponseTemplates"]["application/json"]
    return json.loads(template.replace(MESSAGE_STRING, json.dumps(message)))


@pytest.mark.parametrize("response_type", list(KEY_RESPONSES))
def test_a_missing_or_wrong_key_is_401_invalid_api_key_in_both_error_shapes(synth, response_type):
    response = _responses(synth)[response_type]
    error = KEY_RESPONSES[response_type]

    assert response["StatusCode"] == "401"
    body = _rendered(response)
    # Our own words, not API Gateway's "Unauthorized" / "Forbidden".
    assert body == error.body()
    # The native contract reads code and message; OpenAI's clients message, type, param and code.
    assert body["error"]["code"] == "invalid_api_key"
    assert {"code", "message", "type", "param"} <= set(body["error"])
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] is None
    # OpenAI sends no WWW-Authenticate with its 401; nor does this API.
    headers = response.get("ResponseParameters", {})
    assert not any(name.lower().endswith("www-authenticate") for name in headers)


def test_a_missing_key_and_a_wrong_one_say_which_it_was(synth):
    responses = _responses(synth)

    assert "no API key" in _rendered(responses["UNAUTHORIZED"])["error"]["message"]
    assert "incorrect API key" in _rendered(responses["INVALID_API_KEY"])["error"]["message"]


def test_a_denied_key_stays_403_forbidden_and_an_unknown_route_404(synth):
    responses = _responses(synth)

    assert responses["ACCESS_DENIED"]["StatusCode"] == str(ForbiddenError.status) == "403"
    assert _rendered(responses["ACCESS_DENIED"], "User is not authorized")["error"] == {
        "code": "forbidden",
        "message": "User is not authorized",
    }
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == str(NotFoundError.status)
    assert _rendered(responses["MISSING_AUTHENTICATION_TOKEN"])["error"]["code"] == "not_found"


def test_every_gateway_answer_is_json_once_api_gateway_fills_in_its_message(synth):
    for response_type, response in _responses(synth).items():
        body = _rendered(response, "Missing Authentication Token")
        assert {"code", "message"} <= set(body["error"]), response_type


def test_the_401s_carry_the_cors_headers_so_a_browser_can_read_them(variant):
    responses = _responses(variant)

    for response_type in KEY_RESPONSES:
        parameters = responses[response_type]["ResponseParameters"]
        assert parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == "method.request.header.Origin"
        assert "Retry-After" in parameters["gatewayresponse.header.Access-Control-Expose-Headers"]
