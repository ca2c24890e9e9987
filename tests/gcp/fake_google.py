"""Loopback stand-ins for Google: an OAuth token endpoint and Vertex AI's model endpoints
(``:predict`` for Imagen, ``:generateContent`` for Gemini).

The token endpoint checks the service-account JWT grant the real google-auth flow sends
(signature, audience, scope) before it hands out a token; the predict endpoint records
each request and answers from a script (JSON, or bytes sent as they are).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from google.auth import jwt

Answer = tuple[int, Any, dict[str, str]]
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
PROJECT = "imagegen-test"
LOCATION = "europe-west4"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGoogle:
    public_key_pem: bytes
    predictions: list[Seen] = field(default_factory=list)
    tokens_issued: int = 0
    boundary_lookups: int = 0
    answers: list[Answer | Callable[[Any], Answer]] = field(default_factory=list)
    default: Callable[[Any], Answer] | None = None
    delay: float = 0.0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGoogle:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.endswith("/allowedLocations"):
                    # google-auth's regional access boundary lookup after a token refresh.
                    fake.boundary_lookups += 1
                    self._reply(200, {"locations": ["europe-west4"], "encodedLocations": "0x4"}, {})
                else:
                    self._reply(404, {"error": {"code": 404, "message": "no such path"}}, {})

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/token":
                    self._reply(*fake._token(data))
                elif self.path.endswith((":predict", ":generateContent")):
                    body = json.loads(data)
                    fake.predictions.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    if fake.delay:
                        time.sleep(fake.delay)
                    answer = fake.answers.pop(0) if fake.answers else fake.default
                    self._reply(*(answer(body) if callable(answer) else answer))
                else:
                    self._reply(404, {"error": {"code": 404, "message": "no such path"}}, {})

            def _reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                # Bytes are sent as they are: what a proxy or load balancer answers (an HTML page).
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                if "Content-Type" not in headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):  # the client gave up (timeout tests)
                    self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll: stop() waits for one, once per test.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _token(self, data: bytes) -> Answer:
        form = {k: v[0] for k, v in parse_qs(data.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}, {}
        try:
            # google-auth signs for Google's token endpoint whatever token_uri it posts to.
            claims = jwt.decode(form["assertion"], certs=self.public_key_pem, audience=GOOGLE_TOKEN_AUDIENCE)
        except ValueError as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}, {}
        if "https://www.googleapis.com/auth/cloud-platform" not in claims.get("scope", ""):
            return 400, {"error": "invalid_scope"}, {}
        self.tokens_issued += 1
        return 200, {"access_token": f"token-{self.tokens_issued}", "expires_in": 3600, "token_type": "Bearer"}, {}
