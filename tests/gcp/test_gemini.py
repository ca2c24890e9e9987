"""The Cloud Function's default backend: a Gemini image model through ``generateContent``, with
the same request (the Imagen capability body) and the same answer as the Imagen backend."""

from __future__ import annotations

import base64
import json

import pytest
from fake_google import PROJECT
from imaging import b64, load_golden, png_b64, png_bytes, webp_bytes

MODEL_PATH = f"/v1/projects/{PROJECT}/locations/global/publishers/google/models/gemini-3.1-flash-image:generateContent"


@pytest.fixture(autouse=True)
def global_location(google, monkeypatch):
    """Gemini 3.1 Flash Image is served only in the global location: leave it to the function."""
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)


def request_body(sample_count: int = 2, **parameters) -> dict:
    body = load_golden("imagen-subject-example.json")["body"]
    body["parameters"] = {**body["parameters"], "sampleCount": sample_count, **parameters}
    return body


def candidate(image: bytes | None = None, *, text: str | None = None, finish: str = "STOP") -> dict:
    parts = ([{"text": text}] if text else []) + (
        [{"inlineData": {"mimeType": "image/png", "data": b64(image)}}] if image else []
    )
    return {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}


def answer(*candidates: dict, usage: int = 10) -> tuple[int, dict, dict]:
    return (
        200,
        {
            "candidates": list(candidates),
            "usageMetadata": {
                "promptTokenCount": usage,
                "candidatesTokenCount": 2 * usage,
                "totalTokenCount": 3 * usage,
            },
        },
        {},
    )


def images(count: int):
    return lambda body: answer(candidate(png_bytes(64, 64, (40 * body["generationConfig"].get("seed", 0) % 255, 9, 9))))


def post(client, body) -> tuple[int, dict]:
    response = client.post("/", data=json.dumps(body), content_type="application/json")
    return response.status_code, response.get_json()


def test_gemini_is_the_default_backend_called_in_its_global_location(client, google):
    google.default = images(2)

    status, result = post(client, request_body(2, seed=7))

    assert status == 200, result
    assert [seen.path for seen in google.predictions] == [MODEL_PATH, MODEL_PATH]
    assert all(seen.headers["authorization"] == "Bearer token-1" for seen in google.predictions)
    assert google.tokens_issued == 1, "one token for the concurrent calls"
    assert result["modelId"] == "gemini-3.1-flash-image" and result["requested"] == 2
    assert len(result["images"]) == 2 and result["filtered"] == 0
    assert result["usage"] == {"promptTokenCount": 20, "candidatesTokenCount": 40, "totalTokenCount": 60}


def test_the_imagen_body_becomes_parts_in_reference_order_with_roles_and_named_markers(client, google):
    google.default = images(1)
    body = request_body(2, seed=7, negativePrompt="blurry", aspectRatio="16:9")
    references = body["instances"][0]["referenceImages"]

    post(client, body)

    sent = sorted((seen.body for seen in google.predictions), key=lambda b: b["generationConfig"]["seed"])
    assert [b["generationConfig"]["seed"] for b in sent] == [7, 8], "seed + i per sample"
    first = sent[0]
    assert first["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"], "candidateCount": 1, "imageConfig": {"aspectRatio": "16:9"}, "seed": 7,
    }  # fmt: skip
    [content] = first["contents"]
    assert content["role"] == "user"
    parts = content["parts"]
    # Each reference: a text part saying which image it is and its role, then the image.
    assert len(parts) == 2 * len(references) + 1
    for number, reference in enumerate(references, start=1):
        intro, image = parts[2 * number - 2], parts[2 * number - 1]
        assert intro["text"].startswith(f"Image {number} shows the person to depict")
        assert reference["subjectImageConfig"]["subjectDescription"] in intro["text"]
        data = reference["referenceImage"]["bytesBase64Encoded"]
        mime = "image/png" if base64.b64decode(data).startswith(b"\x89PNG") else "image/jpeg"
        assert image == {"inlineData": {"mimeType": mime, "data": data}}
    prompt = parts[-1]["text"]
    assert "[1]" not in prompt and "(images 1 and 2)" in prompt  # both references share referenceId 1
    assert prompt.endswith("Avoid: blurry.")


@pytest.mark.parametrize(
    ("reference", "intro"),
    [
        ({"referenceType": "REFERENCE_TYPE_STYLE", "styleImageConfig": {"styleDescription": "watercolour"}},
         "Image 1 is a style reference (watercolour): render in its style."),
        ({"referenceType": "REFERENCE_TYPE_CONTROL", "controlImageConfig": {"controlType": "CONTROL_TYPE_SCRIBBLE"}},
         "Image 1 is a scribble image: keep its layout and shapes."),
        ({"referenceType": "REFERENCE_TYPE_RAW"}, "Image 1 is the image to edit."),
    ],
)  # fmt: skip
def test_each_reference_type_is_introduced_by_its_role(client, google, reference, intro):
    google.default = images(1)
    body = {
        "instances": [{"prompt": "a house [1]", "referenceImages": [
            {**reference, "referenceId": 1, "referenceImage": {"bytesBase64Encoded": png_b64(256, 256)}}
        ]}],
        "parameters": {"sampleCount": 1},
    }  # fmt: skip

    status, _ = post(client, body)

    assert status == 200
    assert google.predictions[0].body["contents"][0]["parts"][0]["text"] == intro


def test_a_mask_is_described_as_the_white_region_to_change(client, google):
    google.default = images(1)
    raw = {
        "referenceType": "REFERENCE_TYPE_RAW",
        "referenceId": 1,
        "referenceImage": {"bytesBase64Encoded": png_b64(256, 256)},
    }
    mask = {"referenceType": "REFERENCE_TYPE_MASK", "referenceId": 2,
            "referenceImage": {"bytesBase64Encoded": png_b64(256, 256, (255, 255, 255))},
            "maskImageConfig": {"maskMode": "MASK_MODE_USER_PROVIDED", "dilation": 0.1}}  # fmt: skip
    body = {
        "instances": [{"prompt": "a red door in [1]", "referenceImages": [mask, raw]}],
        "parameters": {"sampleCount": 1},
    }

    status, result = post(client, body)

    assert status == 200, result
    parts = google.predictions[0].body["contents"][0]["parts"]
    assert parts[0]["text"] == "Image 1 is the image to edit."  # referenceId order, not request order
    assert parts[2]["text"] == "Image 2 is a mask: the white area of image 2 marks the region to change."
    assert any("dilation is ignored" in warning for warning in result["warnings"])


@pytest.mark.parametrize(
    ("mutate", "field", "code"),
    [
        (lambda refs: refs[0].update(referenceType="REFERENCE_TYPE_MASK", subjectImageConfig=None,
                                     maskImageConfig={"maskMode": "MASK_MODE_BACKGROUND"}),
         "maskImageConfig.maskMode", "unsupported"),
        (lambda refs: refs.extend([refs[0], refs[0]]), "referenceImages", "invalid_request"),  # 2.5: at most 3
    ],
)  # fmt: skip
def test_what_gemini_cannot_do_is_refused_by_name_before_any_call(client, google, monkeypatch, mutate, field, code):
    monkeypatch.setenv("VERTEX_MODEL_ID", "gemini-2.5-flash-image")
    body = request_body(1)
    refs = body["instances"][0]["referenceImages"]
    mutate(refs)
    for ref in refs:
        if ref.get("subjectImageConfig") is None:
            ref.pop("subjectImageConfig", None)

    status, result = post(client, body)

    assert status == 400 and result["error"]["code"] == code, result
    assert any(field in detail["field"] for detail in result["error"]["details"])
    assert google.predictions == [] and google.tokens_issued == 0


def test_an_aspect_ratio_the_model_lacks_is_400(client, google):
    status, result = post(client, request_body(1, aspectRatio="5:7"))

    assert status == 400 and result["error"]["details"][0]["field"] == "parameters.aspectRatio"
    assert google.predictions == []


def test_an_inline_image_over_7_mb_is_413_and_webp_is_taken(client, google):
    body = request_body(1)
    body["instances"][0]["referenceImages"][0]["referenceImage"]["bytesBase64Encoded"] = b64(
        b"\x89PNG" + b"\0" * 7_000_001
    )
    status, _ = post(client, body)
    assert status == 413

    google.default = images(1)
    body = request_body(1)
    for reference in body["instances"][0]["referenceImages"]:
        reference["referenceImage"]["bytesBase64Encoded"] = b64(webp_bytes(320, 320))
    status, _ = post(client, body)
    assert status == 200
    assert google.predictions[0].body["contents"][0]["parts"][1]["inlineData"]["mimeType"] == "image/webp"


def test_a_filtered_candidate_counts_as_filtered_with_its_reason_or_text(client, google):
    google.answers += [
        answer(candidate(png_bytes(64, 64))),
        answer(candidate(finish="IMAGE_SAFETY")),
        answer(candidate(text="I can't draw that.")),  # STOP with text only: a refusal
    ]

    status, result = post(client, request_body(3, seed=1))

    assert status == 200, result
    assert result["requested"] == 3 and result["filtered"] == 2 and len(result["images"]) == 1
    assert any("IMAGE_SAFETY" in warning for warning in result["warnings"])
    assert "I can't draw that." in result["warnings"]


def test_text_before_the_image_and_thought_images_are_not_results(client, google):
    thought = {"inlineData": {"mimeType": "image/png", "data": png_b64(8, 8)}, "thought": True}
    final = candidate(png_bytes(64, 64), text="Here is your image.")
    final["content"]["parts"].insert(0, thought)
    google.answers.append(answer(final))

    status, result = post(client, request_body(1))

    assert status == 200 and len(result["images"]) == 1
    assert base64.b64decode(result["images"][0]["bytesBase64Encoded"]) == png_bytes(64, 64)


def test_a_blocked_prompt_is_422_with_the_block_reason(client, google):
    google.default = lambda body: (
        200,
        {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "not allowed"}},
        {},
    )

    status, result = post(client, request_body(2))

    assert status == 422 and result["error"]["code"] == "content_filtered"
    assert "PROHIBITED_CONTENT" in result["error"]["message"] and "not allowed" in result["error"]["message"]


def test_every_candidate_filtered_is_422(client, google):
    google.default = lambda body: answer(candidate(finish="NO_IMAGE"))

    status, result = post(client, request_body(2))

    assert status == 422 and result["error"]["code"] == "content_filtered"


def test_429_is_retried_then_succeeds_and_5xx_is_502(client, google):
    google.answers += [
        (429, {"error": {"code": 429, "message": "Resource exhausted"}}, {}),
        answer(candidate(png_bytes(8, 8))),
    ]
    status, _ = post(client, request_body(1))
    assert status == 200 and len(google.predictions) == 2

    google.default = lambda body: (500, {"error": {"code": 500, "message": "Internal error encountered."}}, {})
    status, result = post(client, request_body(1))
    assert status == 502 and result["error"]["code"] == "upstream_error"


def test_the_imagen_backend_refuses_an_aspect_ratio(client, google, monkeypatch):
    monkeypatch.setenv("VERTEX_MODEL_ID", "imagen-3.0-capability-001")

    status, result = post(client, request_body(1, aspectRatio="16:9"))

    assert status == 400 and result["error"]["code"] == "unsupported"
    assert result["error"]["details"][0]["field"] == "parameters.aspectRatio"


@pytest.mark.parametrize(
    ("model", "location", "url"),
    [
        ("gemini-3.1-flash-image", "global", "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"
         "publishers/google/models/gemini-3.1-flash-image:generateContent"),
        ("gemini-3.1-flash-image-preview", "global", None),
        ("imagen-3.0-capability-001", "us-central1", "https://us-central1-aiplatform.googleapis.com/v1/projects/p/"
         "locations/us-central1/publishers/google/models/imagen-3.0-capability-001:predict"),
    ],
)  # fmt: skip
def test_the_location_and_host_follow_the_model(vertex_module, model, location, url):
    VertexConfig = vertex_module.VertexConfig

    config = VertexConfig.from_env({"GOOGLE_CLOUD_PROJECT": "p", "VERTEX_MODEL_ID": model})

    assert config.location == location
    if url:
        assert config.url == url
    overridden = VertexConfig.from_env({"GOOGLE_CLOUD_PROJECT": "p", "GOOGLE_CLOUD_LOCATION": "us-east1",
                                        "VERTEX_MODEL_ID": model})  # fmt: skip
    assert overridden.location == "us-east1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VERTEX_MODEL_ID", "gemini-3.1-flash-image:generateContent?x="),
        ("VERTEX_MODEL_ID", "../../other/models/x"),
        ("GOOGLE_CLOUD_LOCATION", "us-central1/../../x"),
        ("GOOGLE_CLOUD_PROJECT", "p/locations/x#"),
        ("GOOGLE_CLOUD_PROJECT", "my project"),
        ("VERTEX_API_ENDPOINT", "https://aiplatform.googleapis.com/x?y=1"),
        ("VERTEX_API_ENDPOINT", "https://evil.example@aiplatform.googleapis.com"),
    ],
)
def test_configuration_that_would_change_the_url_stops_the_function(vertex_module, variable, value):
    """The URL is built from configuration only; still, each part must be what it claims to be."""
    with pytest.raises(RuntimeError, match=variable):
        vertex_module.VertexConfig.from_env({"GOOGLE_CLOUD_PROJECT": "p", variable: value})
