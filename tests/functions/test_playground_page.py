"""GET /v1/playground: one self-contained page under a policy that lets only its own code run.
(tests/e2e/test_playground.py drives it in a browser.)"""

from __future__ import annotations

import base64
import hashlib
import re

import playground
from harness import api_event


def serve(proto: str = "https") -> dict:
    event = api_event("/v1/playground", method="GET")
    event["headers"].pop("x-api-key", None)
    event["headers"]["X-Forwarded-Proto"] = proto
    return playground.handler(event, None)


def sha256_source(block: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"


def test_the_page_is_html_whose_inline_script_and_style_are_the_only_code_allowed():
    response = serve()
    headers, html = response["headers"], response["body"]
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))

    assert response["statusCode"] == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    [script] = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    [style] = re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL)
    assert policy["script-src"] == sha256_source(script) and policy["style-src"] == sha256_source(style)
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    # Uploads and images go to S3 over TLS; nothing loads from elsewhere.
    assert policy["connect-src"] == "'self' https:" and "http:" not in policy["img-src"]
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", html)


def test_served_over_http_the_local_stacks_storage_is_allowed_too():
    policy = serve("http")["headers"]["Content-Security-Policy"]

    assert "connect-src 'self' https: http:" in policy


def test_the_pages_stable_test_hooks_are_in_place():
    html = serve()["body"]

    for hook in ("api-key", "task", "model", "generate", "error"):
        assert f'data-testid="{hook}"' in html, hook
    # The task's fields (prompt, width, height, ...) and each result image are made by the script.
    assert "input.dataset.testid = name" in html and 'img.dataset.testid = before ? "after" : "result"' in html
