"""API Gateway, locally: the API key, the route table of core.routes, REST proxy events to the
unchanged handlers, and their proxy responses back to HTTP."""

from __future__ import annotations

import base64
import importlib
import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from werkzeug.wrappers import Request, Response

from core.config import settings
from core.http import BINARY_MEDIA_TYPES, LAMBDA_PAYLOAD_LIMIT_BYTES, api_key_of, cors_headers, request_too_large
from core.routes import ROUTES, Route
from core.topology import API_FUNCTION_TIMEOUT_SECONDS
from imagegen.errors import ForbiddenError, ImageGenError, NotFoundError

from .preview import MASK_PROMPT_NOTICE, NOTICE


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


class Gateway:
    def __init__(self, api_key: str, routes: tuple[Route, ...] = ROUTES) -> None:
        self.api_key = api_key
        self.routes = [(re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", r.path) + "$"), r) for r in routes]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)

    @Request.application
    def app(self, request: Request) -> Response:
        response = self._route(request)
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
        # Like the deployed authorizer and usage plan: x-api-key or Authorization: Bearer.
        if not route.public and api_key_of(dict(request.headers)) != self.api_key:
            return _error(ForbiddenError("Forbidden"))
        data = request.get_data()
        event = self._event(request, route, match.groupdict(), data)
        # Lambda refuses an invocation whose event is over its payload limit; so does this.
        size = len(json.dumps(event))
        if size > LAMBDA_PAYLOAD_LIMIT_BYTES:
            return _error(request_too_large(size))
        handler = importlib.import_module(route.module).handler
        result = handler(event, LambdaContext(_timeout(route)))
        notices = [NOTICE, *([MASK_PROMPT_NOTICE] if b'"maskPrompt"' in data else [])]
        return self._response(result, notices)

    def _event(self, request: Request, route: Route, params: dict[str, str], data: bytes) -> dict[str, Any]:
        # As API Gateway does: binary media types arrive base64-encoded, other bodies as text.
        if request.mimetype in BINARY_MEDIA_TYPES:
            body, encoded = base64.b64encode(data).decode("ascii"), True
        else:
            body, encoded = (data.decode("utf-8", errors="replace") if data else None), False
        return {
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method,
            # API Gateway tells the function the scheme the caller used.
            "headers": {**dict(request.headers), "X-Forwarded-Proto": request.scheme},
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
                "domainName": request.host,
                "identity": {"sourceIp": request.remote_addr, "apiKey": self.api_key},
            },
            "body": body,
            "isBase64Encoded": encoded,
        }

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


def _timeout(route: Route) -> float:
    return API_FUNCTION_TIMEOUT_SECONDS[route.kind]
