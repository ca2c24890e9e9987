"""API Gateway's REQUEST authorizer: hands the caller's API key, from ``x-api-key`` or OpenAI's
``Authorization: Bearer``, to the usage plan, which checks, throttles and counts it."""

from typing import Any

from core.http import api_key_of


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    key = api_key_of(event.get("headers") or {})
    return {
        "principalId": "api-key",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow" if key else "Deny", "Resource": event["methodArn"]}
            ],
        },
        # API Gateway refuses a key the usage plan does not hold (403), like a wrong x-api-key.
        **({"usageIdentifierKey": key} if key else {}),
    }
