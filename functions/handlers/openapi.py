"""GET /v1/openapi.json: the OpenAPI 3.1 document of this deployment's API (no key needed)."""

from typing import Any

from core import http
from core.config import settings


@http.api
def handler(event: http.Event, context: Any) -> http.Response:
    from core.openapi import document

    return http.response(200, document(http.base_url(event) or "/", settings().served_tasks))
