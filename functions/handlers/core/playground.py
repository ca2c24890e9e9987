"""The browser playground: one self-contained page (playground.html), served at GET /v1/playground.

The page calls only the public API beside it. Its inline script and style are allowed by their
hashes in the Content-Security-Policy, and nothing else runs or loads: no CDN, no build step.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from .http import Response

PAGE = Path(__file__).with_name("playground.html")


@cache
def _page() -> tuple[str, str]:
    """The page and the CSP sources of its inline script and style."""
    html = PAGE.read_text(encoding="utf-8")
    sources = []
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        [block] = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode("ascii")
        sources.append(f"{directive} 'sha256-{digest}'")
    return html, "; ".join(sources)


def page(scheme: str) -> Response:
    html, inline = _page()
    # Presigned uploads and image URLs point at S3 (or, served over http, the local stack's).
    remote = "https:" if scheme == "https" else "https: http:"
    policy = (
        f"default-src 'none'; {inline}; connect-src 'self' {remote}; img-src 'self' {remote} data: blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": policy,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
        "body": html,
    }
