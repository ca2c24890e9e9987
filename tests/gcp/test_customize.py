"""The Cloud Function through functions-framework, against Vertex and a token endpoint on loopback."""

from __future__ import annotations

import base64
import json

import pytest
from fake_google import LOCATION, PROJECT
from imaging import load_golden, png_b64, png_bytes

PREDICT_PATH = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/imagen-3.0-capability-001:predict"


@pytest.fixture(autouse=True)
def imagen_backend(monkeypatch):
    """These tests are of the Imagen backend (tests/gcp/test_gemini.py: the default, Gemini)."""
    monkeypatch.setenv("VERTEX_MODEL_ID", "imagen-3.0-capability-001")


def request_body(sample_count: int = 2) -> dict:
    body = load_golden("imagen-subject-example.json")["body"]
    body["parameters"]["sampleCount"] = sample_count
    return body


def predictions(count: int) -> tuple[int, dict, dict]:
    images = [{"bytesBase64Encoded": png_b64(64, 64, (10 * i, 20, 30)), "mimeType": "image/png"} for i in range(count)]
    return 200, {"predictions": images}, {}


def vertex_error(status: int, message: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    return status, {"error": {"code": status, "message": message, "status": "ERROR"}}, headers or {}


def post(client, body) -> tuple[int, dict, dict]:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = client.post("/", data=raw, content_type="application/json")
    return response.status_code, response.get_json(), dict(response.headers)


def test_the_validated_body_reaches_vertex_with_a_bearer_token_from_the_credential_flow(client, google):
    google.answers.append(predictions(2))
    body = request_body(2)

    status, result, _ = post(client, body)

    assert status == 200, result
    [seen] = google.predictions
    assert seen.path == PREDICT_PATH
    assert seen.body == body
    assert seen.headers["authorization"] == "Bearer token-1"
    assert google.tokens_issued == 1
    assert result["requested"] == 2 and result["filtered"] == 0
    assert result["modelId"] == "imagen-3.0-capability-001"
    decoded = [base64.b64decode(image["bytesBase64Encoded"]) for image in result["images"]]
    assert decoded == [png_bytes(64, 64, (0, 20, 30)), png_bytes(64, 64, (10, 20, 30))]
    assert [image["mimeType"] for image in result["images"]] == ["image/png", "image/png"]


def test_the_token_and_session_are_reused_across_requests(client, google):
    google.default = lambda body: predictions(1)

    for _ in range(3):
        assert post(client, request_body(1))[0] == 200

    assert google.tokens_issued == 1 and len(google.predictions) == 3


def test_model_id_is_overridable(client, google, monkeypatch):
    monkeypatch.setenv("VERTEX_MODEL_ID", "imagen-3.0-capability-002")
    import vertex

    vertex.client.cache_clear()
    google.answers.append(predictions(1))

    status, result, _ = post(client, request_body(1))

    assert status == 200 and result["modelId"] == "imagen-3.0-capability-002"
    assert google.predictions[0].path.endswith("/models/imagen-3.0-capability-002:predict")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["parameters"].__setitem__("sampleCount", 9), "parameters.sampleCount"),
        (lambda b: b["instances"].append(b["instances"][0]), "instances"),
        (lambda b: b["instances"][0]["referenceImages"][0].__setitem__("referenceType", "PHOTO"), "referenceType"),
        (lambda b: b.__setitem__("extra", 1), "extra"),
    ],
)
def test_invalid_input_is_400_naming_the_field_and_never_reaches_vertex(client, google, mutate, field):
    body = request_body()
    mutate(body)

    status, result, _ = post(client, body)

    assert status == 400 and result["error"]["code"] == "invalid_request"
    assert any(field in detail["field"] for detail in result["error"]["details"]), result
    assert google.predictions == [] and google.tokens_issued == 0


def test_malformed_json_is_400(client, google):
    status, result, _ = post(client, '{"instances": [')

    assert status == 400 and result["error"]["details"][0]["field"] == "body"
    assert google.predictions == []


def test_only_post_is_allowed(client):
    response = client.get("/")

    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_an_oversized_body_is_413_before_it_is_parsed(client, google):
    from main import MAX_BODY_BYTES

    status, result, _ = post(client, b"x" * (MAX_BODY_BYTES + 1))

    assert status == 413 and result["error"]["code"] == "payload_too_large"
    assert google.predictions == []


def test_no_prediction_at_all_is_422_content_filtered(client, google):
    google.answers.append((200, {}, {}))

    status, result, _ = post(client, request_body(2))

    assert status == 422 and result["error"]["code"] == "content_filtered"


def test_some_predictions_filtered_is_200_with_the_reason(client, google):
    reason = "Unable to show generated images. All images were filtered out because they violated usage guidelines."
    images = predictions(1)[1]["predictions"] + [{"raiFilteredReason": reason}]
    google.answers.append((200, {"predictions": images}, {}))

    status, result, _ = post(client, request_body(2))

    assert status == 200
    assert result["requested"] == 2 and result["filtered"] == 1 and len(result["images"]) == 1
    assert reason in result["warnings"]


def test_a_blocked_prompt_is_422_with_the_models_reason(client, google):
    """The contract's content_filtered passes the model's reason on, as one line of plain text."""
    message = (
        "The prompt could not be submitted. This prompt contains sensitive words that violate Google's "
        "Responsible AI practices."
    )
    google.answers.append(vertex_error(400, message))

    status, result, _ = post(client, request_body())

    assert status == 422 and message in result["error"]["message"]


def test_429_is_retried_then_succeeds(client, google, monkeypatch):
    import vertex

    monkeypatch.setattr(vertex, "BACKOFF_FACTOR", 0)  # the retries at once: their waits are not the point here
    google.answers += [vertex_error(429, "Quota exceeded"), vertex_error(503, "unavailable"), predictions(2)]

    status, _, _ = post(client, request_body(2))

    assert status == 200 and len(google.predictions) == 3


def test_429_after_retries_is_429_throttled_with_retry_after(client, google, monkeypatch):
    import vertex

    monkeypatch.setattr(vertex, "BACKOFF_FACTOR", 0)
    google.default = lambda body: vertex_error(429, "Quota exceeded for aiplatform.googleapis.com/online_prediction")

    status, result, headers = post(client, request_body())

    assert status == 429 and result["error"]["code"] == "throttled"
    assert "429" in result["error"]["message"] and "Quota exceeded" not in result["error"]["message"]
    assert int(headers["Retry-After"]) > 0
    assert len(google.predictions) == 4, "the first attempt and three retries"


def test_vertex_5xx_is_502_naming_vertexs_status_and_a_request_id(client, google):
    google.default = lambda body: vertex_error(500, "Internal error encountered.")

    status, result, _ = post(client, request_body())

    assert status == 502 and result["error"]["code"] == "upstream_error"
    assert "Vertex AI 500" in result["error"]["message"] and "request id" in result["error"]["message"]
    assert len(google.predictions) == 1, "500 is not retried (only 429 and 503)"


def test_missing_permission_is_502_naming_the_role(client, google):
    google.answers.append(vertex_error(403, "Permission 'aiplatform.endpoints.predict' denied"))

    status, result, _ = post(client, request_body())

    assert status == 502 and "roles/aiplatform.user" in result["error"]["message"]


def test_a_slow_model_is_504(client, google, monkeypatch):
    monkeypatch.setenv("VERTEX_TIMEOUT_SECONDS", "0.5")
    google.delay = 2
    google.answers.append(predictions(2))

    status, result, _ = post(client, request_body())

    assert status == 504 and result["error"]["code"] == "upstream_timeout"
    assert len(google.predictions) == 1, "a read timeout is not retried"


def test_a_malformed_vertex_response_is_502(client, google):
    google.answers.append((200, {"predictions": [{"bytesBase64Encoded": "not base64!", "mimeType": "image/png"}]}, {}))

    status, result, _ = post(client, request_body(1))

    assert status == 502 and result["error"]["code"] == "upstream_error"


@pytest.mark.parametrize(("width", "height"), [(60_000, 60_000), (12_000, 12_000), (8_193, 512), (6_000, 6_000)])
def test_reference_images_over_the_pixel_bound_are_400_before_decoding_or_sending(client, google, width, height):
    from imaging import png_declaring

    body = request_body()
    reference = body["instances"][0]["referenceImages"][0]
    reference["referenceImage"]["bytesBase64Encoded"] = base64.b64encode(png_declaring(width, height)).decode()

    status, result, _ = post(client, body)

    assert status == 400, result
    [detail] = result["error"]["details"]
    assert detail["field"] == "instances[0].referenceImages[0].referenceImage.bytesBase64Encoded"
    assert "8,192 px" in detail["message"] or "33,554,432 pixels" in detail["message"]
    assert google.predictions == [] and google.tokens_issued == 0


def test_deeply_nested_json_is_400_not_500(client, google):
    status, result, _ = post(client, '{"instances": ' + "[" * 100_000 + "]" * 100_000 + "}")

    assert status == 400 and result["error"]["details"][0]["field"] == "body"


def test_a_refused_credential_is_502_without_vertexs_message(client, google, caplog):
    raw = (
        "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/"
        "my-secret-project/locations/us-central1/publishers/google/models/imagen-3.0-capability-001' for "
        "customize@my-secret-project.iam.gserviceaccount.com"
    )
    google.answers.append(vertex_error(403, raw))
    caplog.set_level("INFO", logger="imagegen")

    status, result, _ = post(client, request_body())

    assert status == 502 and "roles/aiplatform.user" in result["error"]["message"]
    assert "my-secret-project" not in json.dumps(result) and "gserviceaccount" not in json.dumps(result)
    assert raw in caplog.text


def test_vertexs_messages_never_reach_the_caller(client, google):
    google.default = lambda body: vertex_error(
        500, "Internal error in projects/my-secret-project (project number 123456789012)."
    )

    status, result, _ = post(client, request_body())

    assert status == 502 and "Internal error in" not in result["error"]["message"]
    assert "my-secret-project" not in result["error"]["message"] and "123456789012" not in result["error"]["message"]


def test_an_unexpected_fault_is_500_internal_without_internals(client, monkeypatch):
    import main

    def broken(request):
        raise KeyError("secret internals")

    monkeypatch.setattr(main, "_customize", broken)

    status, result, _ = post(client, request_body())

    assert status == 500 and result["error"]["code"] == "internal"
    assert "secret" not in result["error"]["message"] and "request id" in result["error"]["message"]
