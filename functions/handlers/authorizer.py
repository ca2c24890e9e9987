"""API Gateway's REQUEST authorizer: hands the caller's API key, from ``x-api-key`` or OpenAI's
``Authorization: Bearer``, to the usage plan, which checks, throttles and counts it.

What a caller without a valid key gets (infra/api.py renders both as 401 ``invalid_api_key``):

- No key: the authorizer fails with "Unauthorized", which API Gateway answers with its
  UNAUTHORIZED response, 401 ("callback("Unauthorized"); // Return a 401 Unauthorized response",
  https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html;
  "UNAUTHORIZED 401: The gateway response when the custom or Amazon Cognito authorizer failed to
  authenticate the caller",
  https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
- A key the usage plan does not hold: the usage plan refuses it, API Gateway's INVALID_API_KEY
  ("API Gateway reads the key and compares it against the keys in the usage plan ... Otherwise, it
  throws an InvalidKeyParameter exception",
  https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html).

It never denies: a Deny policy is API Gateway's ACCESS_DENIED (403), kept for a valid key that
may not do what it asks. Each keyless request is a failed invocation, counted in the function's
Errors metric ("Function errors include exceptions that your code throws",
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html): an alarm on this
function's errors would go off for every caller who forgot the key. Any other failure of it is a
500 from API Gateway, which the API's 5xx alarm sees.
"""

from typing import Any

from core.http import api_key_of

# The one error message API Gateway turns into its 401 UNAUTHORIZED; any other is a 500.
UNAUTHORIZED = "Unauthorized"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    key = api_key_of(event.get("headers") or {})
    if not key:
        raise Exception(UNAUTHORIZED)  # API Gateway reads the message, not the exception's type
    return {
        "principalId": "api-key",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
        "usageIdentifierKey": key,
    }
