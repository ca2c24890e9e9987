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

from core.routes import ROUTES, Route
from core.topology import API_FUNCTION_TIMEOUT_SECONDS

from .preview import MASK_PROMPT_NOTICE, NOTICE

# API Gateway's own limit on a request body.
MAX_BODY_BYTES = 10 * 1024 * 1024


class LambdaContext:
    """What a handler reads of its Lambda context."""

    function_name = "imagegen-local"

    def __init__(self, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"error": {"code": code, "message": message}}), status, content_type="application/json")


class Gateway:
    def __init__(self, api_key: str, routes: tuple[Route, ...] = ROUTES) -> None:
        self.api_key = api_key
        self.routes = [(re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", r.path) + "$"), r) for r in routes]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)

    @Request.application
    def app(self, request: Request) -> Response:
        for pattern, route in self.routes:
            match = pattern.match(request.path)
            if match and request.method == route.method:
                break
        else:
            return _error(404, "not_found", f"no route {request.method} {request.path}")
        if request.headers.get("x-api-key") != self.api_key:
            return _error(403, "forbidden", "Forbidden")
        data = request.get_data()
        if len(data) > MAX_BODY_BYTES:
            return _error(413, "payload_too_large", "Request Too Long")
        handler = importlib.import_module(route.module).handler
        result = handler(self._event(request, route, match.groupdict(), data), LambdaContext(_timeout(route)))
        notices = [NOTICE, *([MASK_PROMPT_NOTICE] if b'"maskPrompt"' in data else [])]
        return self._response(result, notices)

    def _event(self, request: Request, route: Route, params: dict[str, str], data: bytes) -> dict[str, Any]:
        try:
            body, encoded = (data.decode("utf-8") if data else None), False
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(data).decode("ascii"), True
        return {
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method,
            "headers": dict(request.headers),
            "queryStringParameters": dict(request.args) or None,
            "pathParameters": params or None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": request.method,
                "requestId": str(uuid.uuid4()),
                "stage": "local",
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
    return API_FUNCTION_TIMEOUT_SECONDS["task" if route.task else route.module]
