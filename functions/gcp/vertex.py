"""Vertex AI: configuration, an authorized session, the two endpoints, error mapping.

``VERTEX_MODEL_ID`` picks the backend: a Gemini image model (the default) is called with
``:generateContent``, an Imagen model with ``:predict``.

Credentials come from ``google.auth.default()`` (the function's service account when deployed);
the session is created once per instance and reused. Every failure surfaces as the shared
``ImageGenError`` types, so the Cloud Function answers with the AWS API's error codes. What
Vertex answers in error reaches the caller in our words only (its status, Google's canonical code
and the request id); its body is logged, truncated, under that request id.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

from imagegen.errors import (
    ContentFilteredError,
    ImageGenError,
    InvalidRequestError,
    ThrottledError,
    UpstreamError,
    UpstreamTimeoutError,
    shown,
)
from imagegen.logs import current_context, get_logger
from imagegen.registry import DEFAULT_VERTEX_MODEL, IMAGEN, MODELS
from imagegen.specs import ModelSpec

log = get_logger()

# Environment variables, named once (the local stack sets the same ones).
ENDPOINT_ENV = "VERTEX_API_ENDPOINT"
PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
LOCATION_ENV = "GOOGLE_CLOUD_LOCATION"
MODEL_ENV = "VERTEX_MODEL_ID"
TIMEOUT_ENV = "VERTEX_TIMEOUT_SECONDS"

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Imagen's location when none is set; a Gemini model's default is the first it is served in.
DEFAULT_IMAGEN_LOCATION = "us-central1"
GLOBAL_LOCATION = "global"
DEFAULT_TIMEOUT_SECONDS = 120.0
CONNECT_TIMEOUT_SECONDS = 10.0
# 429 and 503 are retried with exponential backoff (urllib3: 0 s, 1 s, 2 s, ...).
RETRY_STATUSES = (429, 503)
RETRIES = 3
BACKOFF_FACTOR = 0.5
RETRY_AFTER_SECONDS = 10
# A Retry-After we pass on: plain ASCII seconds (str.isdigit takes "²", which int() refuses), and
# not a date or a day's wait; anything else gets ours.
_SECONDS = re.compile(r"[0-9]{1,5}")
# Vertex rejects prompts and images its responsible-AI filters block with a 400 saying so, and
# names Google's support codes for the case ("Support codes: 42876398").
_BLOCKED = re.compile(r"responsible ai|blocked|violat|sensitive words", re.IGNORECASE)
_SUPPORT_CODES = re.compile(r"support codes?:\s*(\d{1,12}(?:\s*,\s*\d{1,12}){0,4})", re.IGNORECASE)
# Google's canonical error codes are upper-case words (https://cloud.google.com/apis/design/errors):
# anything else in "status" is not passed on.
_CANONICAL_CODE = re.compile(r"[A-Z][A-Z_]{1,39}")
# How much of an error body the log keeps: enough for Google's JSON, not a whole HTML page.
LOGGED_BODY_CHARS = 2_000
# What the URL is built from is the deployment's configuration, never the caller's; each must
# still be one path segment (no "/", "?", "#", "%" or space that would call another resource).
# A project id may be a legacy domain-scoped one ("example.com:my-project"), or a number.
_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:-]{0,99}")
_LOCATION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_MODEL_ID = re.compile(r"[a-z0-9][a-z0-9.@_-]{0,127}")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")


@dataclass(frozen=True)
class VertexConfig:
    project: str
    location: str
    endpoint: str
    model_id: str
    timeout: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str], default_project: str | None = None) -> VertexConfig:
        project = environ.get(PROJECT_ENV) or default_project
        if not project:
            raise RuntimeError(f"{PROJECT_ENV} is not set and the credentials name no project")
        model_id = configured_model(environ)
        location = environ.get(LOCATION_ENV) or default_location(model_id)
        # The global location has no regional host (gemini-image-on-vertex.txt sec.2).
        host = "aiplatform.googleapis.com" if location == GLOBAL_LOCATION else f"{location}-aiplatform.googleapis.com"
        endpoint = (environ.get(ENDPOINT_ENV) or f"https://{host}").rstrip("/")
        _require(PROJECT_ENV, project, _PROJECT)
        _require(LOCATION_ENV, location, _LOCATION)
        _require(MODEL_ENV, model_id, _MODEL_ID)
        _require(ENDPOINT_ENV, endpoint, _ENDPOINT)
        return cls(
            project=project,
            location=location,
            endpoint=endpoint,
            model_id=model_id,
            timeout=float(environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_SECONDS),
        )

    @property
    def gemini(self) -> bool:
        return self.model_id.startswith("gemini-")

    @property
    def url(self) -> str:
        """The model's endpoint: ``:generateContent`` for Gemini, ``:predict`` for Imagen."""
        method = "generateContent" if self.gemini else "predict"
        return (
            f"{self.endpoint}/v1/projects/{self.project}/locations/{self.location}"
            f"/publishers/google/models/{self.model_id}:{method}"
        )


def _require(name: str, value: str, pattern: re.Pattern[str]) -> None:
    if not pattern.fullmatch(value):
        raise RuntimeError(f"{name}={value!r} is not a valid value for the Vertex AI URL")


def configured_model(environ: Mapping[str, str] = os.environ) -> str:
    """The model this function serves (read without credentials: input is validated first)."""
    return environ.get(MODEL_ENV) or DEFAULT_VERTEX_MODEL


def model_spec(model_id: str) -> ModelSpec:
    """The registry's description of a Vertex model id (a preview or dated id of a Gemini model
    takes that model's limits)."""
    if model_id in MODELS:
        return MODELS[model_id]
    if model_id == IMAGEN.model_id or model_id.startswith("imagen-"):
        return IMAGEN
    related = [spec for spec in MODELS.values() if spec.family == "gemini" and model_id.startswith(spec.model_id)]
    return max(related, key=lambda spec: len(spec.model_id)) if related else MODELS[DEFAULT_VERTEX_MODEL]


def default_location(model_id: str) -> str:
    spec = model_spec(model_id)
    return spec.regions[0] if spec.family == "gemini" and spec.regions else DEFAULT_IMAGEN_LOCATION


class VertexClient:
    def __init__(self, config: VertexConfig, session: Any) -> None:
        self.config = config
        self.session = session
        self._refreshing = threading.Lock()

    def call_all(self, bodies: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One call per body, concurrently (a Gemini model makes one image per call)."""
        if len(bodies) == 1:
            return [self.call(bodies[0])]
        self.ensure_token()  # once, before the calls race to refresh it
        # Each call runs in a copy of the request's context: its log lines carry the request id.
        contexts = [contextvars.copy_context() for _ in bodies]
        with ThreadPoolExecutor(max_workers=len(bodies), thread_name_prefix="vertex") as pool:
            return list(pool.map(lambda context, body: context.run(self.call, body), contexts, bodies))

    def ensure_token(self) -> None:
        import google.auth.transport.requests
        from google.auth.exceptions import GoogleAuthError

        credentials = self.session.credentials
        with self._refreshing:
            if credentials.valid:
                return
            try:
                credentials.refresh(google.auth.transport.requests.Request())
            except GoogleAuthError as exc:
                log.warning("obtaining credentials for Vertex AI failed: %s", exc)
                raise UpstreamError(
                    f"could not obtain Google credentials for Vertex AI ({type(exc).__name__}); see the function's logs"
                ) from None

    def call(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST the body to the model's URL; the parsed JSON response, or an ImageGenError."""
        import requests
        from google.auth.exceptions import GoogleAuthError

        try:
            response = self.session.post(
                self.config.url, json=body, timeout=(CONNECT_TIMEOUT_SECONDS, self.config.timeout)
            )
        except requests.Timeout:
            raise UpstreamTimeoutError(
                f"{self.config.model_id} did not answer within {self.config.timeout:g} s"
            ) from None
        except requests.RequestException as exc:
            raise UpstreamError(f"could not reach Vertex AI: {type(exc).__name__}") from None
        except GoogleAuthError as exc:
            log.warning("obtaining credentials for Vertex AI failed: %s", exc)
            raise UpstreamError(
                f"could not obtain Google credentials for Vertex AI ({type(exc).__name__}); see the function's logs"
            ) from None
        if response.status_code != 200:
            raise self._error(response)
        try:
            native = response.json()
        except ValueError:
            raise UpstreamError(f"{self.config.model_id} returned a response that is not JSON") from None
        return native

    def _error(self, response: Any) -> ImageGenError:
        """Vertex's answer -> ours, in our words: its status, Google's canonical code and the
        request id. Its body (an HTML page from a proxy, a message naming the project) goes to
        the log only, truncated, under the same request id."""
        status, (code, message) = response.status_code, _google_error(response)
        request_id = current_context().get("requestId") or uuid.uuid4().hex
        log.log(
            logging.INFO if status == 400 else logging.WARNING,
            "Vertex AI answered %d %s for %s (request id %s): %s",
            status,
            code or "-",
            self.config.model_id,
            request_id,
            response.text[:LOGGED_BODY_CHARS],
        )
        model = self.config.model_id
        reference = f"Vertex AI {status}{f' {code}' if code else ''}, request id {request_id}"
        if status == 429:
            retry_after = response.headers.get("Retry-After", "")
            seconds = int(retry_after) if _SECONDS.fullmatch(retry_after) else RETRY_AFTER_SECONDS
            return ThrottledError(f"Vertex AI is throttling {model} ({reference})", retry_after=seconds)
        if status == 400 and _BLOCKED.search(message):
            # The model's reason is passed on (the contract's content_filtered) when it is plain text.
            support = _SUPPORT_CODES.search(message)
            codes = f"; Google support codes {support[1]}" if support else ""
            reason = shown(message) or (
                "the prompt or a reference image is against Google's Responsible AI practices" + codes
            )
            return ContentFilteredError(f"{model} blocked the request: {reason} ({reference})")
        if status == 400 and code == "INVALID_ARGUMENT":
            # A request Vertex refused as invalid: the caller's to fix (an image it cannot decode).
            refused = f"Vertex AI refused the request as invalid ({reference})"
            return InvalidRequestError(f"body: {refused}", [{"field": "body", "message": refused}])
        if status in (401, 403):
            return UpstreamError(
                f"Vertex AI refused the function's credentials for {model} in {self.config.location}: "
                f"grant its service account roles/aiplatform.user on the project ({reference})"
            )
        if status == 404:
            return UpstreamError(
                f"{model} is not available in {self.config.location}: set {MODEL_ENV} to a model the "
                f"location offers ({reference})"
            )
        return UpstreamError(f"Vertex AI answered {status} for {model} ({reference})")


def _google_error(response: Any) -> tuple[str, str]:
    """Google APIs answer ``{"error": {"code", "message", "status"}}``: its canonical code (when it
    is one) and its message, for classifying only; ("", "") for any other body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    code, message = error.get("status"), error.get("message")
    return (
        code if isinstance(code, str) and _CANONICAL_CODE.fullmatch(code) else "",
        message if isinstance(message, str) else "",
    )


@cache
def client() -> VertexClient:
    """One authorized session per instance, with retries on 429 and 503."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    credentials, default_project = google.auth.default(scopes=list(SCOPES))
    config = VertexConfig.from_env(os.environ, default_project)
    session = AuthorizedSession(credentials)
    retry = Retry(
        total=RETRIES,
        connect=RETRIES,
        read=False,  # a read timeout means the model is slow: retrying would double the wait
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"POST"}),
        backoff_factor=BACKOFF_FACTOR,
        respect_retry_after_header=False,  # bounded backoff, not a server-chosen wait
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)  # the local stack's emulator
    return VertexClient(config, session)
