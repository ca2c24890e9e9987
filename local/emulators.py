"""Loopback stand-ins for Bedrock-runtime and for Google (Vertex AI predict, OAuth token,
IAM's regional-access-boundary lookup), answering from the preview engine.

The real clients talk to them unchanged: boto3 through ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``,
the Cloud Function through ``VERTEX_API_ENDPOINT`` and a service-account key whose
``token_uri`` points here.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

from .preview import PreviewEngine

# The id is one path segment, but an inference profile's ARN holds a "/" (sent as %2F).
_INVOKE = re.compile(r"/model/(?P<model_id>.+)/invoke")
_VERTEX = re.compile(
    r"/v1/projects/[^/]+/locations/[^/]+/publishers/google/models/(?P<model>[^/:]+):(?P<method>predict|generateContent)"
)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status, headers=headers or {}, content_type="application/json")


def bedrock_app(engine: PreviewEngine):
    """``POST /model/{modelId}/invoke`` as Bedrock-runtime speaks it (errors in ``x-amzn-ErrorType``)."""
    from imagegen.registry import MODELS, inference_profile_model

    known = {spec.model_id for spec in MODELS.values()} | {i for spec in MODELS.values() for i in spec.other_ids}

    @Request.application
    def app(request: Request) -> Response:
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        match = _INVOKE.fullmatch(request.path)
        if request.method != "POST" or match is None:
            return _json(
                404, {"message": "Unknown operation"}, {**headers, "x-amzn-ErrorType": "UnknownOperationException"}
            )
        # A cross-Region inference profile answers as the model it routes to.
        model_id = inference_profile_model(match["model_id"]) or match["model_id"]
        if model_id not in known:
            # What Bedrock answers an id it does not know, or one its region does not serve.
            error = {"x-amzn-ErrorType": "ValidationException"}
            return _json(400, {"message": "The provided model identifier is invalid."}, {**headers, **error})
        try:
            body = json.loads(request.get_data())
        except ValueError:
            error = {"x-amzn-ErrorType": "ValidationException"}
            return _json(400, {"message": "Malformed input request, please reformat your input and try again."},
                         {**headers, **error})  # fmt: skip
        status, payload = engine.bedrock(model_id, body)
        if "__error__" in payload:
            headers["x-amzn-ErrorType"] = payload["__error__"]
            payload = {"message": payload["message"]}
        return _json(status, payload, headers)

    return app


def google_app(engine: PreviewEngine):
    """Vertex AI (``:predict`` for Imagen, ``:generateContent`` for Gemini), the OAuth token
    endpoint, and IAM's allowedLocations lookup."""

    @Request.application
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
                return _json(401, {"error": {"code": 401, "message": "Request is missing a bearer token.",
                                             "status": "UNAUTHENTICATED"}})  # fmt: skip
            answer = engine.gemini if call["method"] == "generateContent" else engine.vertex
            status, payload = answer(json.loads(request.get_data()))
            return _json(status, payload)
        return _json(404, {"error": {"code": 404, "message": f"{request.path} not found", "status": "NOT_FOUND"}})

    return app
