"""The local stack's stand-ins for Bedrock-runtime and Vertex AI answer what the real services
answer when a request cannot be served: a 400 in the service's own error shape for an image
that cannot be decoded, a JSON 500 in that shape for a fault of theirs, never an HTML page.

Bedrock-runtime: the error type in the ``x-amzn-ErrorType`` header and ``{"message"}``
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html#API_runtime_InvokeModel_Errors).
Google APIs: ``{"error": {"code", "message", "status"}}`` (https://cloud.google.com/apis/design/errors).
"""

from __future__ import annotations

import base64
import json

import pytest
from imaging import png_b64
from werkzeug.test import Client

from local.emulators import bedrock_app, google_app
from local.preview import PreviewEngine

NOT_AN_IMAGE = base64.b64encode(b"this is not an image at all").decode()
TRUNCATED_PNG = base64.b64encode(base64.b64decode(png_b64(64, 64))[:60]).decode()
GEMINI = "/v1/projects/p/locations/global/publishers/google/models/gemini-3.1-flash-image:generateContent"
IMAGEN = "/v1/projects/p/locations/us-central1/publishers/google/models/imagen-3.0-capability-001:predict"
BEARER = {"Authorization": "Bearer local-token"}


@pytest.fixture
def bedrock() -> Client:
    return Client(bedrock_app(PreviewEngine()))


@pytest.fixture
def google() -> Client:
    return Client(google_app(PreviewEngine()))


def titan_variation(image: str) -> dict:
    return {"taskType": "IMAGE_VARIATION", "imageVariationParams": {"text": "a cat", "images": [image]},
            "imageGenerationConfig": {"numberOfImages": 1}}  # fmt: skip


def gemini_body(image: str) -> dict:
    parts = [{"text": "Image 1 is the image to edit."}, {"inlineData": {"mimeType": "image/png", "data": image}},
             {"text": "make it red"}]  # fmt: skip
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": {"candidateCount": 1}}


def imagen_body(image: str) -> dict:
    reference = {"referenceType": "REFERENCE_TYPE_RAW", "referenceId": 1,
                 "referenceImage": {"bytesBase64Encoded": image}}  # fmt: skip
    return {"instances": [{"prompt": "a red door [1]", "referenceImages": [reference]}],
            "parameters": {"sampleCount": 1}}  # fmt: skip


def assert_google_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == status and error["status"] == code and error["message"]


@pytest.mark.parametrize("image", [NOT_AN_IMAGE, TRUNCATED_PNG, "%%%not base64%%%"], ids=["text", "truncated", "b64"])
@pytest.mark.parametrize(
    "model",
    ["amazon.titan-image-generator-v2:0", "amazon.nova-canvas-v1:0", "stability.sd3-5-large-v1:0"],
)
def test_bedrock_answers_an_undecodable_image_with_a_validation_exception(bedrock, model, image):
    body = titan_variation(image) if not model.startswith("stability.") else {"prompt": "a cat", "image": image}

    response = bedrock.post(f"/model/{model}/invoke", data=json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert response.headers["x-amzn-RequestId"]
    assert response.mimetype == "application/json"
    assert "image" in response.get_json()["message"].lower()


@pytest.mark.parametrize("image", [NOT_AN_IMAGE, TRUNCATED_PNG, "%%%not base64%%%"], ids=["text", "truncated", "b64"])
@pytest.mark.parametrize(("path", "make"), [(GEMINI, gemini_body), (IMAGEN, imagen_body)], ids=["gemini", "imagen"])
def test_vertex_answers_an_undecodable_image_with_invalid_argument(google, path, make, image):
    response = google.post(path, data=json.dumps(make(image)), content_type="application/json", headers=BEARER)

    assert_google_error(response, 400, "INVALID_ARGUMENT")


def test_vertex_answers_a_body_that_is_not_json_with_invalid_argument(google):
    response = google.post(GEMINI, data=b"{not json", content_type="application/json", headers=BEARER)

    assert_google_error(response, 400, "INVALID_ARGUMENT")


def test_a_decompression_bomb_is_refused_as_an_image_it_cannot_take(google, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64x64 is over twice that: PIL raises, not warns
    response = google.post(GEMINI, data=json.dumps(gemini_body(png_b64(64, 64))), headers=BEARER,
                           content_type="application/json")  # fmt: skip

    assert_google_error(response, 400, "INVALID_ARGUMENT")


def test_any_other_fault_is_a_json_500_in_each_services_shape(bedrock, google, monkeypatch):
    def broken(self, *args):
        raise KeyError("engine internals")

    monkeypatch.setattr(PreviewEngine, "bedrock", broken)
    monkeypatch.setattr(PreviewEngine, "gemini", broken)

    response = bedrock.post("/model/amazon.nova-canvas-v1:0/invoke", data=json.dumps(titan_variation(NOT_AN_IMAGE)),
                            content_type="application/json")  # fmt: skip
    assert response.status_code == 500 and response.mimetype == "application/json"
    assert response.headers["x-amzn-ErrorType"] == "InternalServerException"
    assert "internals" not in response.get_data(as_text=True)

    response = google.post(GEMINI, data=json.dumps(gemini_body(png_b64(8, 8))), headers=BEARER,
                           content_type="application/json")  # fmt: skip
    assert_google_error(response, 500, "INTERNAL")
    assert "internals" not in response.get_data(as_text=True)


def test_a_valid_image_is_still_served(bedrock, google):
    response = google.post(GEMINI, data=json.dumps(gemini_body(png_b64(64, 64))), headers=BEARER,
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 200 and response.get_json()["candidates"]

    body = titan_variation(png_b64(512, 512))
    response = bedrock.post("/model/amazon.nova-canvas-v1:0/invoke", data=json.dumps(body),
                            content_type="application/json")  # fmt: skip
    assert response.status_code == 200 and response.get_json()["images"]
