"""GET /v1/playground: the browser playground (no key needed to load the page)."""

from typing import Any

from core import http


@http.api
def handler(event: http.Event, context: Any) -> http.Response:
    from core.playground import page

    return page(http.header(event, "X-Forwarded-Proto") or "https")
