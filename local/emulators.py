"""Loopback stand-ins for Bedrock-runtime and for Google (Vertex AI predict, OAuth token,
IAM's regional-access-boundary lookup), answering from the preview engine.

The real clients talk to them unchanged: boto3 through ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``,
the Cloud Function through ``VERTEX_API_ENDPOINT`` and a service-account key whose
``token_uri`` points here.

They fail as the services do: an image the preview engine cannot decode is the service's 400
(Bedrock's ValidationException, Google's INVALID_ARGUMENT), and any fault of theirs a JSON 500 in
the service's error shape, never werkzeug's HTML page a client could not parse.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from PIL import Image, UnidentifiedImageError
from werkzeug.wrappers import Request, Response

from .preview import PreviewEngine

log = logging.getLogger("imagegen.local")

# The id is one path segment, but an inference profile's ARN holds a "/" (sent as %2F).
_INVOKE = re.compile(r"/model/(?P<model_id>.+)/invoke")
_VERTEX = re.compile(
    r"/v1/projects/[^/]+/locations/[^/]+/publishers/google/models/(?P<model>[^/:]+):(?P<method>predict|generateContent)"
)


# What PIL and base64 raise on bytes that are not an image they can open (a truncated file is an
# OSError; a bad value in the request, such as a seed that is not a number, a ValueError).
UNDECODABLE = (UnidentifiedImageError, Image.DecompressionBombError, binascii.Error, OSError, ValueError)
BEDROCK_UNDECODABLE = "Unable to process the provided image. Provide a valid base64-encoded PNG or JPEG image."
GOOGLE_UNDECODABLE = "Provided image is not valid."


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status, headers=headers or {}, content_type="application/json")


def _google_error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": {"code": status, "message": message, "status": code}})


def _answering_faults(app: Callable[[Request], Response], fault: Callable[[], Response]) -> Callable:
    """``app`` as a WSGI app whose unexpected exceptions are logged and answered with ``fault()``."""

    @Request.application
    def wsgi(request: Request) -> Response:
        try:
            return app(request)
        except Exception:
            log.exception("%s %s failed in an emulator", request.method, request.path)
            return fault()

    return wsgi


def bedrock_app(engine: PreviewEngine):
    """``POST /model/{modelId}/invoke`` as Bedrock-runtime speaks it (errors in ``x-amzn-ErrorType``)."""
    from imagegen.registry import MODELS, inference_profile_model

    known = {spec.model_id for spec in MODELS.values()} | {i for spec in MODELS.values() for i in spec.other_ids}

    def app(request: Request) -> Response:
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        match = _INVOKE.fullmatch(request.path)
        if request.method != "POST" or match is None:
            return _json(
                404, {"message": "Unknown operation"}, {**headers, "x-amzn-ErrorType": "UnknownOperationException"}
            )
        # A cross-Region inference profile answers as the model it routes to.
        model_id = inference_profile_model(match["model_id"]) or match["model_id"]
        invalid = {**headers, "x-amzn-ErrorType": "ValidationException"}
        if model_id not in known:
            # What Bedrock answers an id it does not know, or one its region does not serve.
            return _json(400, {"message": "The provided model identifier is invalid."}, invalid)
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return _json(400, {"message": "Malformed input request, please reformat your input and try again."},
                         invalid)  # fmt: skip
        try:
            status, payload = engine.bedrock(model_id, body)
        except UNDECODABLE:
            return _json(400, {"message": BEDROCK_UNDECODABLE}, invalid)
        if "__error__" in payload:
            headers["x-amzn-ErrorType"] = payload["__error__"]
            payload = {"message": payload["message"]}
        return _json(status, payload, headers)

    return _answering_faults(
        app,
        lambda: _json(
            500,
            {"message": "The server encountered an internal error while processing the request."},
            {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": "InternalServerException"},
        ),
    )


def google_app(engine: PreviewEngine):
    """Vertex AI (``:predict`` for Imagen, ``:generateContent`` for Gemini), the OAuth token
    endpoint, and IAM's allowedLocations lookup."""

    def app(request: Request) -> Response:
        if request.path == "/token" and request.method == "POST":
            if request.form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return _json(400, {"error": "unsupported_grant_type"})
            return _json(200, {"access_token": f"local-{uuid.uuid4().hex}", "expires_in": 3600, "token_type": "Bearer"})
        if request.path.endswith("/allowedLocations"):
            return _json(200, {"locations": ["us-central1"], "encodedLocations": "0x1"})
        call = _VERTEX.fullmatch(request.path)
        if call and request.method == "POST":
            if not request.headers.get("Authorization", "").startswith("Bearer "):
                return _google_error(401, "UNAUTHENTICATED", "Request is missing a bearer token.")
            answer = engine.gemini if call["method"] == "generateContent" else engine.vertex
            try:
                body = json.loads(request.get_data())
            except ValueError:
                return _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            try:
                status, payload = answer(body)
            except UNDECODABLE:
                return _google_error(400, "INVALID_ARGUMENT", GOOGLE_UNDECODABLE)
            return _json(status, payload)
        return _google_error(404, "NOT_FOUND", f"{request.path} not found")

    return _answering_faults(app, lambda: _google_error(500, "INTERNAL", "Internal error encountered."))
