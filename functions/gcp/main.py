"""The Cloud Function ``customize``: Imagen-style customization on Vertex AI, validated first.

POST the Imagen 3 capability predict body (``instances`` with one instance, ``parameters``);
it is served by a Gemini image model (``generateContent``, the default) or by an Imagen model
(``predict``), as ``VERTEX_MODEL_ID`` says. The answer is ``{"images": [{"bytesBase64Encoded",
"mimeType"}], "requested", "filtered", "warnings", "modelId"}`` (plus Gemini's token ``usage``),
or ``{"error": {"code", "message", "details"}}`` with the status the AWS API would use.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import functions_framework

from imagegen.body import parse_json
from imagegen.errors import (
    ImageGenError,
    InternalError,
    InvalidRequestError,
    MethodNotAllowedError,
    PayloadTooLargeError,
)
from imagegen.logs import get_logger, level_for, log_context

log = get_logger()

# Cloud Functions (2nd gen) refuses HTTP requests over 32 MB; answer 413 ourselves before that.
MAX_BODY_BYTES = 30_000_000
_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}
# Google's front end sets "TRACE_ID/SPAN_ID;o=OPTIONS", TRACE_ID 32 hex digits; a caller may send
# the header too, so only a well-formed trace id is taken as the request id.
_TRACE_ID = re.compile(r"([0-9a-f]{32})(?:/|$)")


@functions_framework.http
def customize(request: Any) -> tuple[str, int, dict[str, str]]:
    request_id = _request_id(request)
    with log_context(requestId=request_id):  # every line of the request, Vertex's worker threads too
        try:
            if request.method != "POST":
                raise MethodNotAllowedError("use POST with a JSON predict body", allow="POST")
            return json.dumps(_customize(request)), 200, _HEADERS
        except ImageGenError as exc:
            log.log(level_for(exc), "customize -> %d %s: %s", exc.status, exc.code, exc)
            return _error(exc)
        except Exception:
            log.exception("customize failed (request %s)", request_id)
            return _error(InternalError.for_request(request_id))


def _request_id(request: Any) -> str:
    """The trace id Cloud Run's front end set, so logs and traces join; else one of ours."""
    trace = _TRACE_ID.match(request.headers.get("X-Cloud-Trace-Context", ""))
    return trace[1] if trace else uuid.uuid4().hex


def _error(error: ImageGenError) -> tuple[str, int, dict[str, str]]:
    return json.dumps(error.body()), error.status, {**_HEADERS, **error.headers()}


def _customize(request: Any) -> dict[str, Any]:
    from vertex import client, configured_model, model_spec

    from imagegen import build_customization_request
    from imagegen.parsers import combine, filtered_error, parse_images

    spec = model_spec(configured_model())
    body = build_customization_request(_json_body(request), spec)  # nothing invalid leaves the function
    vertex = client()
    if vertex.config.gemini:
        from imagegen.gemini import gemini_request

        gemini = gemini_request(body, spec)
        natives, warnings = vertex.call_all(gemini.bodies), gemini.warnings
    else:
        natives, warnings = [vertex.call(body)], []
    per_call = 1 if vertex.config.gemini else body.sample_count
    parsed = combine([parse_images(spec.name, native, per_call) for native in natives], body.sample_count)
    if not parsed.images:
        raise filtered_error(spec.name, parsed)
    answer: dict[str, Any] = {
        "images": [
            {"bytesBase64Encoded": base64.b64encode(data).decode("ascii"), "mimeType": mime}
            for data, mime in zip(parsed.images, parsed.mime_types, strict=True)
        ],
        "requested": body.sample_count,
        "filtered": parsed.filtered,
        "warnings": [*body.warnings, *warnings, *parsed.warnings],
        "modelId": vertex.config.model_id,
    }
    if parsed.usage:
        answer["usage"] = parsed.usage
    return answer


def _json_body(request: Any) -> Any:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise _too_large(length)
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise _too_large(len(data))
    if not data:
        raise InvalidRequestError.for_field("body", "a JSON predict body is required")
    return parse_json(data)


def _too_large(size: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the body is {size:,} bytes; this function accepts at most {MAX_BODY_BYTES:,}",
        [{"field": "body", "message": f"at most {MAX_BODY_BYTES:,} bytes"}],
    )
