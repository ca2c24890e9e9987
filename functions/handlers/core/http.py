"""API Gateway (REST, proxy integration) events in, responses out; errors rendered in one place."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from imagegen.body import parse_json
from imagegen.errors import ImageGenError, InternalError, InvalidRequestError, PayloadTooLargeError
from imagegen.logs import get_logger, level_for, log_context

from .config import settings
from .routes import ROUTES

log = get_logger()

# Lambda refuses a synchronous invocation whose payload (the whole event, or the whole
# response) is over 6 MB; API Gateway itself would take 10 MB. The local gateway enforces it.
LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
# Bodies API Gateway passes to the function base64-encoded, byte for byte: OpenAI's edits and
# variations are forms with image files.
BINARY_MEDIA_TYPES = ("multipart/form-data",)
UPLOAD_ROUTE = next(f"{route.method} {route.path}" for route in ROUTES if route.module == "uploads")
_HEADERS = {
    "Content-Type": "application/json",
    # Bodies carry presigned URLs: no cache may keep them.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

# CORS, for the deployed API's preflight (infra/api.py) and every response alike.
CORS_ALLOW_HEADERS = ("Content-Type", "X-Api-Key", "Authorization", "Idempotency-Key")
CORS_EXPOSE_HEADERS = ("Location", "Retry-After", "X-ImageGen-Job-Id", "Idempotent-Replayed")
CORS_MAX_AGE_SECONDS = 3600

# When this container began loading the handler: its first request has waited since then.
_LOADED_AT = time.monotonic()
_first_request = True

Event = dict[str, Any]
Response = dict[str, Any]
Handler = Callable[[Event, Any], Response]


def request_too_large(size: int | None = None) -> PayloadTooLargeError:
    """A request body over Lambda's payload limit: images that large go through uploads."""
    got = f" (got {size:,} bytes)" if size is not None else ""
    message = (
        f"the request is over the {LAMBDA_PAYLOAD_LIMIT_BYTES:,}-byte limit of a synchronous Lambda "
        f"invocation{got}; upload large images with {UPLOAD_ROUTE} and send their s3Uri instead"
    )
    return PayloadTooLargeError(message, [{"field": "body", "message": message}])


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
    return parse_json(body)


def raw_body(event: Event) -> bytes:
    """The request body's bytes (a form API Gateway passed base64-encoded, or text)."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise InvalidRequestError.for_field("body", "is not a multipart form")
    try:
        if event.get("isBase64Encoded"):
            return base64.b64decode(raw, validate=True)
        return raw.encode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeEncodeError (a lone surrogate) is a ValueError
        raise InvalidRequestError.for_field("body", "is not a multipart form (not base64 or not UTF-8)") from None


def is_form(event: Event) -> bool:
    """Whether the body is declared a ``multipart/form-data`` form."""
    return (header(event, "Content-Type") or "").split(";")[0].strip().lower() == "multipart/form-data"


def arrival(event: Event, limit_seconds: float) -> float:
    """When API Gateway received this request, as a ``time.monotonic()`` value.

    API Gateway's integration timeout runs from the request, not from the handler: a cold
    start's init is part of it
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html,
    IntegrationLatency). The earliest plausible of three readings: now, the container's start of
    init on its first request, and the gateway's ``requestTimeEpoch`` (another host's clock: a
    value outside ``0..limit_seconds`` ago is skew, not waiting, and is ignored).
    """
    global _first_request
    now = time.monotonic()
    waits = [0.0]
    if _first_request:
        _first_request = False
        waits.append(now - _LOADED_AT)
    epoch_ms = (event.get("requestContext") or {}).get("requestTimeEpoch")
    if isinstance(epoch_ms, int | float) and not isinstance(epoch_ms, bool):
        waits.append(time.time() - epoch_ms / 1000)
    return now - max(wait for wait in waits if 0 <= wait < limit_seconds)


def base_url(event: Event) -> str:
    """The API's absolute base URL as the caller reached it, stage or custom-domain base path
    included: ``https://<id>.execute-api.<region>.amazonaws.com/prod``."""
    context = event.get("requestContext") or {}
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    host = context.get("domainName") or headers.get("host", "")
    scheme = headers.get("x-forwarded-proto", "https")
    # requestContext.path is the path the caller used; the route's own path ends it.
    full, route = context.get("path") or "", event.get("path") or ""
    prefix = full[: -len(route)] if route and full.endswith(route) else ""
    return f"{scheme}://{host}{prefix}" if host else prefix


class Base64Text(str):
    """Strict base64 (only its alphabet: nothing in it needs escaping), written into a JSON
    answer as it is: an image's megabytes are neither scanned by the encoder nor counted again."""


# A stand-in that no answer holds otherwise: a random token per container.
_SPLICE = f"@splice-{secrets.token_hex(8)}-"


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return {
        "statusCode": status,
        "headers": {**_HEADERS, **(headers or {})},
        "body": _dumps(body)[0],
    }


def sized_response(status: int, body: Any, headers: dict[str, str] | None = None) -> tuple[Response, int]:
    """The response and its size as Lambda returns it (``encoded_size``), counted on the JSON
    around the base64 texts, which the size needs only the length of."""
    text, skeleton = _dumps(body)
    rendered = {"statusCode": status, "headers": {**_HEADERS, **(headers or {})}, "body": text}
    rest = json.dumps({**rendered, "body": ""})
    return rendered, len(rest) + len(text) + skeleton.count('"') + skeleton.count("\\")


def _dumps(body: Any) -> tuple[str, str]:
    """``body`` as compact JSON, its ``Base64Text`` values spliced in; and the JSON without them."""
    texts: list[str] = []

    def stand_in(value: Any) -> Any:
        if isinstance(value, Base64Text):
            texts.append(value)
            return f"{_SPLICE}{len(texts) - 1}"
        if isinstance(value, dict):
            return {key: stand_in(item) for key, item in value.items()}
        if isinstance(value, list):
            return [stand_in(item) for item in value]
        return value

    skeleton = json.dumps(stand_in(body), separators=(",", ":"))
    if not texts:
        return skeleton, skeleton
    pieces = skeleton.split(f'"{_SPLICE}')
    spliced = [pieces[0]]
    for piece in pieces[1:]:
        index, _, rest = piece.partition('"')
        spliced += ['"', texts[int(index)], '"', rest]
    return "".join(spliced), skeleton


def error_response(error: ImageGenError) -> Response:
    return response(error.status, error.body(), error.headers())


def sized_answer(status: int, body: Any, hint: str, headers: dict[str, str] | None = None) -> Response:
    """An answer that may carry images inline: refused (413) over Lambda's response limit."""
    rendered, size = sized_response(status, body, headers)
    check_answer_size(size, hint)
    return rendered


def check_answer_size(size: int, hint: str) -> None:
    """Refuse an answer of ``size`` bytes over Lambda's synchronous response limit (413)."""
    if size > LAMBDA_PAYLOAD_LIMIT_BYTES:
        raise PayloadTooLargeError(
            f"the response would be {size:,} bytes, over Lambda's 6 MB response limit; {hint}",
            [{"field": "responseFormat", "message": 'use "url" (the default) for results this large'}],
        )


def encoded_size(rendered: Response) -> int:
    """The response's size as Lambda returns it, without serializing it again: the body (ASCII
    JSON) is a string inside the response object, where only its quotes and backslashes grow."""
    body = rendered["body"]
    rest = json.dumps({**rendered, "body": ""})
    return len(rest) + len(body) + body.count('"') + body.count("\\")


def cors_headers(origin: str | None, allowed: Sequence[str], *, preflight: bool = False) -> dict[str, str]:
    """The CORS headers for a request from ``origin``: none unless the origin is allowed."""
    if not origin or not allowed or ("*" not in allowed and origin not in allowed):
        return {}
    headers = {"Access-Control-Allow-Origin": "*" if "*" in allowed else origin}
    if "*" not in allowed:
        headers["Vary"] = "Origin"
    if preflight:
        headers["Access-Control-Allow-Headers"] = ",".join(CORS_ALLOW_HEADERS)
        headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_SECONDS)
    else:
        headers["Access-Control-Expose-Headers"] = ",".join(CORS_EXPOSE_HEADERS)
    return headers


def header(event: Event, name: str) -> str | None:
    return _header(event.get("headers") or {}, name)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def api_key_of(headers: Mapping[str, str]) -> str | None:
    """The API key from ``x-api-key``, else from ``Authorization: Bearer`` (what OpenAI's clients send)."""
    key = _header(headers, "x-api-key")
    if key:
        return key
    authorization = _header(headers, "Authorization") or ""
    scheme, _, token = authorization.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def api(handle: Handler, *, render_error: Callable[[ImageGenError], Response] | None = None) -> Handler:
    """Wrap an API handler: every line it logs names the request, every error is rendered (in
    the contract's shape, or ``render_error``'s), and nothing internal leaks."""
    render = render_error or error_response

    def handler(event: Event, context: Any) -> Response:
        config = settings()
        with log_context(requestId=getattr(context, "aws_request_id", None)):
            result = _answer(handle, render, event, context)
        result["headers"].update(cors_headers(header(event, "Origin"), config.cors_origins))
        return result

    handler.__name__ = handle.__name__
    handler.__doc__ = handle.__doc__
    return handler


def _answer(handle: Handler, render: Callable[[ImageGenError], Response], event: Event, context: Any) -> Response:
    try:
        return handle(event, context)
    except ImageGenError as exc:
        method, path = event.get("httpMethod"), event.get("path")
        log.log(level_for(exc), "%s %s -> %d %s: %s", method, path, exc.status, exc.code, exc)
        return render(exc)
    except Exception:
        request_id = getattr(context, "aws_request_id", "unknown")
        log.exception("%s %s failed (request %s)", event.get("httpMethod"), event.get("path"), request_id)
        return render(InternalError.for_request(request_id))
