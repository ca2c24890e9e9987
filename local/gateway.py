"""API Gateway, locally: the API keys and their quotas (local/keys.py), the route table of
core.routes, REST proxy events to the unchanged handlers, and their proxy responses back to HTTP."""

from __future__ import annotations

import base64
import importlib
import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.wrappers import Request, Response

from core.config import settings
from core.http import BINARY_MEDIA_TYPES, LAMBDA_PAYLOAD_LIMIT_BYTES, api_key_of, cors_headers, request_too_large
from core.routes import ROUTES, Route
from core.topology import API_FUNCTION_TIMEOUT_SECONDS
from imagegen.errors import (
    ForbiddenError,
    ImageGenError,
    InternalError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
)

from .preview import MASK_PROMPT_NOTICE, NOTICE

if TYPE_CHECKING:
    from .keys import Key, KeyRing

log = logging.getLogger("imagegen.local")

# A restart of `make run` starts a new moto server: every job before it is gone, which the
# deployed API (jobs kept in S3) never does.
FORGOTTEN_JOB_HINT = (
    "the local stack keeps jobs in memory: a job started before `make run` was restarted is gone; start it again"
)
# The same server under the other name loopback has: what a browser shows for the playground.
LOOPBACK_ALIASES = ("127.0.0.1", "localhost")


class LambdaContext:
    """What a handler reads of its Lambda context."""

    function_name = "imagegen-local"

    def __init__(self, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def _error(error: ImageGenError) -> Response:
    return Response(json.dumps(error.body()), error.status, headers=error.headers(), content_type="application/json")


class HttpError(ImageGenError):
    """A status the contract's table has no row for (408, 414, 431, ...), answered by the HTTP
    layer itself; its code is the status's name."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = re.sub(r"\W+", "_", _phrase(status).lower())


def http_error(status: int, message: str | None = None) -> ImageGenError:
    """The contract's error for a status the gateway or its HTTP server answers by itself (a
    URL or headers over the server's limits, a body that never arrives): JSON like every other
    answer of the API, never the server's HTML page."""
    known = {400: InvalidRequestError, 403: ForbiddenError, 404: NotFoundError, 413: PayloadTooLargeError}
    message = message or _phrase(status)
    return known[status](message) if status in known else HttpError(status, message)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Gateway:
    def __init__(self, keys: KeyRing, address: str, routes: tuple[Route, ...] = ROUTES) -> None:
        """``keys``: the keys and usage plans of the local stage; ``address``: the host:port the
        stack serves the API on; every URL the API answers names it."""
        self.keys = keys
        self.address = address
        self.routes = [(re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", r.path) + "$"), r) for r in routes]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)

    @Request.application
    def app(self, request: Request) -> Response:
        try:
            response = self._route(request)
        except ImageGenError as error:
            response = _error(error)
        except HTTPException as error:  # werkzeug's own (its pages are HTML)
            response = _error(http_error(error.code or 500, error.description))
        except Exception:
            request_id = str(uuid.uuid4())
            log.exception("%s %s failed in the local gateway (request %s)", request.method, request.path, request_id)
            response = _error(InternalError.for_request(request_id))
        # API Gateway's preflight and its own errors carry CORS headers like the functions' answers.
        for name, value in cors_headers(
            request.headers.get("Origin"), settings().cors_origins, preflight=request.method == "OPTIONS"
        ).items():
            response.headers.setdefault(name, value)
        return response

    def _route(self, request: Request) -> Response:
        matched = [(pattern.match(request.path), route) for pattern, route in self.routes]
        matched = [(match, route) for match, route in matched if match]
        if request.method == "OPTIONS" and matched and settings().cors_origins:
            return Response(status=204)
        match, route = next(((m, r) for m, r in matched if r.method == request.method), (None, None))
        if route is None:
            return _error(NotFoundError(f"no route {request.method} {request.path}"))
        # Like the deployed authorizer and usage plans: x-api-key or Authorization: Bearer; a
        # missing, wrong or disabled key is 401 invalid_api_key on every route, in the body both
        # shapes read, and a key over its quota 429, both before any function runs.
        key = None if route.public else self.keys.admit(api_key_of(dict(request.headers)))
        try:
            data = _body(request)
            event = self._event(request, route, match.groupdict(), data, key)
            # Lambda refuses an invocation whose event is over its payload limit; so does this.
            size = len(json.dumps(event))
            if size > LAMBDA_PAYLOAD_LIMIT_BYTES:
                raise request_too_large(size)
        except ImageGenError as error:
            return self._route_error(route, error)
        handler = importlib.import_module(route.module).handler
        result = handler(event, LambdaContext(_timeout(route)))
        if route.module == "jobs" and result["statusCode"] == 404:
            result = {**result, "body": _with_hint(result.get("body", ""), FORGOTTEN_JOB_HINT)}
        notices = [NOTICE, *([MASK_PROMPT_NOTICE] if b'"maskPrompt"' in data else [])]
        return self._response(result, notices)

    def _event(
        self, request: Request, route: Route, params: dict[str, str], data: bytes, key: Key | None
    ) -> dict[str, Any]:
        # As API Gateway does: binary media types arrive base64-encoded, other bodies as text.
        if request.mimetype in BINARY_MEDIA_TYPES:
            body, encoded = base64.b64encode(data).decode("ascii"), True
        else:
            body, encoded = (_text(data) if data else None), False
        domain = self._domain_name(request)
        headers = {name: value for name, value in request.headers.items() if name.lower() != "host"}
        return {
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method,
            # API Gateway tells the function the scheme the caller used.
            "headers": {**headers, "Host": domain, "X-Forwarded-Proto": request.scheme},
            "queryStringParameters": dict(request.args) or None,
            "pathParameters": params or None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": request.method,
                "requestId": str(uuid.uuid4()),
                # When the request arrived, as API Gateway stamps it: the sync path's budget counts from here.
                "requestTimeEpoch": int(time.time() * 1000),
                "stage": "local",
                # Served at the root: the path the caller used is the route's path itself.
                "path": request.path,
                "domainName": domain,
                # The key the usage plan accepted: the functions charge its team (core/callers.py).
                "identity": {
                    "sourceIp": request.remote_addr,
                    "apiKey": key.value if key else None,
                    "apiKeyId": key.id if key else None,
                },
            },
            "body": body,
            "isBase64Encoded": encoded,
        }

    def _domain_name(self, request: Request) -> str:
        """The host the handlers build absolute URLs (statusUrl, Location, the OpenAPI servers)
        on: the stack's own address, as API Gateway's domainName is its own, never what the
        caller's Host header claims (a page on another site reaching loopback must not get URLs
        pointing at that site). A browser that opened the same port as localhost keeps it, so
        the playground's polls stay same-origin."""
        port = self.address.rpartition(":")[2]
        if request.host in {f"{name}:{port}" for name in LOOPBACK_ALIASES}:
            return request.host
        return self.address

    def _route_error(self, route: Route, error: ImageGenError) -> Response:
        """An error in a request the gateway has routed, in the shape the route's function
        answers its own: OpenAI's for the OpenAI routes, whose clients read only that."""
        if route.kind == "openai":
            from core.openai_images import openai_error

            return self._response(openai_error(error), [])
        return _error(error)

    @staticmethod
    def _response(result: dict[str, Any], notices: list[str]) -> Response:
        body = result.get("body", "")
        if result["statusCode"] == 200:
            body = with_notice(body, notices)
        return Response(body, result["statusCode"], headers=result.get("headers", {}))


def with_notice(body: str, notices: Sequence[str] = (NOTICE,)) -> str:
    """Say in the answer's warnings that the images are local previews (and how they were made)."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict) and isinstance(document.get("warnings"), list):
        document["warnings"] += list(notices)
        return json.dumps(document)
    return body


def _body(request: Request) -> bytes:
    """The whole body; one that stops arriving before its Content-Length (or its last chunk) is
    a JSON error, not a connection held open: the server's socket timeout ends the wait."""
    try:
        return request.get_data()
    except (ClientDisconnected, OSError) as error:
        # Werkzeug reports a read that timed out as the client gone, the timeout as its context.
        cause = error.__context__ if isinstance(error, ClientDisconnected) else error
        if isinstance(cause, TimeoutError):
            raise http_error(408, "the body did not arrive in time: fewer bytes than it announced") from None
        raise InvalidRequestError.for_field("body", "could not be read: it ended early or is malformed") from None


def _text(data: bytes) -> str:
    """A non-binary body as the string API Gateway passes: invalid UTF-8 is refused, not repaired
    with U+FFFD into a request the caller never sent."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"is not UTF-8 text (invalid byte at offset {error.start})"
        raise InvalidRequestError.for_field("body", message) from None


def _with_hint(body: str, hint: str) -> str:
    """An error answer's message with ``hint`` added."""
    try:
        document = json.loads(body)
        document["error"]["message"] += f" ({hint})"
    except (ValueError, KeyError, TypeError):
        return body
    return json.dumps(document)


def _timeout(route: Route) -> float:
    return API_FUNCTION_TIMEOUT_SECONDS[route.kind]
