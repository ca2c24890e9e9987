"""API Gateway (REST, proxy integration) events in, responses out; errors rendered in one place."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from typing import Any

from imagegen.errors import ImageGenError, InvalidRequestError, PayloadTooLargeError

from .config import settings

log = logging.getLogger("imagegen")

# Lambda refuses a synchronous response payload over 6 MB; API Gateway would answer 502.
LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024
_HEADERS = {
    "Content-Type": "application/json",
    # Bodies carry presigned URLs: no cache may keep them.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

Event = dict[str, Any]
Response = dict[str, Any]
Handler = Callable[[Event, Any], Response]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def json_body(event: Event) -> Any:
    """The request body as JSON; anything else is a 400 naming ``body``."""
    body = event.get("body")
    if body is None or body == "":
        raise InvalidRequestError.for_field("body", "a JSON object is required")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError.for_field("body", "is not valid base64") from None
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InvalidRequestError.for_field("body", "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequestError.for_field(
            "body", f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise InvalidRequestError.for_field("body", str(exc)) from None


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return {
        "statusCode": status,
        "headers": {**_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
    }


def error_response(error: ImageGenError) -> Response:
    return response(error.status, error.body(), error.headers())


def check_response_size(rendered: Response, hint: str) -> Response:
    size = len(json.dumps(rendered))
    if size > LAMBDA_RESPONSE_LIMIT_BYTES:
        raise PayloadTooLargeError(
            f"the response would be {size:,} bytes, over Lambda's 6 MB response limit; {hint}",
            [{"field": "responseFormat", "message": 'use "url" (the default) for results this large'}],
        )
    return rendered


def api(handle: Handler) -> Handler:
    """Wrap an API handler: configure logging once, render every error, never leak internals."""

    def handler(event: Event, context: Any) -> Response:
        log.setLevel(settings().log_level)
        try:
            return handle(event, context)
        except ImageGenError as exc:
            level = logging.WARNING if exc.status >= 500 else logging.INFO
            log.log(level, "%s %s -> %d %s: %s", event.get("httpMethod"), event.get("path"), exc.status, exc.code, exc)
            return error_response(exc)
        except Exception:
            request_id = getattr(context, "aws_request_id", "unknown")
            log.exception("%s %s failed (request %s)", event.get("httpMethod"), event.get("path"), request_id)
            body = {"error": {"code": "internal", "message": f"internal error; request id {request_id}"}}
            return response(500, body)

    handler.__name__ = handle.__name__
    handler.__doc__ = handle.__doc__
    return handler
