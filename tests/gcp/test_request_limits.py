"""Every value a caller sends is bounded where Vertex bounds it: out of range is a 400 (an image
too large a 413) naming the field, answered before a token is fetched or Vertex is called.

Bounds and their sources (shared/specs/imagen-3-customization.txt gives none for seed and
referenceId, so each takes the range of the type Google documents for it):
- parameters.seed: 0..2,147,483,647. Vertex's REST reference types Imagen's ``seed`` as
  ``integer`` (int32; https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/Shared.Types/VisionGenerativeModelParams)
  and Gemini's ``generationConfig.seed`` is ``optional int32 seed = 12`` (googleapis/googleapis
  google/cloud/aiplatform/v1/content.proto); not negative: no Google page gives a negative seed a meaning.
- referenceId: 0..2,147,483,647 ("Required integer", int32 as above; not negative: the prompt cites it as [n]).
- sampleCount 1..4, maskClasses 0..193 (at most 194 of them), dilation 0..1: the spec.
"""

from __future__ import annotations

import json

import pytest
from imaging import b64, load_golden, png_b64

INT32_MAX = 2**31 - 1
BACKENDS = ["imagen-3.0-capability-001", "gemini-3.1-flash-image"]


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request, google, monkeypatch) -> str:
    """Both backends validate the same Imagen body the same way."""
    monkeypatch.setenv("VERTEX_MODEL_ID", request.param)
    if request.param.startswith("gemini-"):
        monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)  # served in the global location only
    return request.param


def subject_body(**parameters) -> dict:
    body = load_golden("imagen-subject-example.json")["body"]
    body["parameters"] = {"sampleCount": 1, **parameters}
    return body


def mask_body(mask_config: dict) -> dict:
    """A RAW image and a semantic MASK (the one reference type that carries integers of its own)."""
    raw = {"referenceType": "REFERENCE_TYPE_RAW", "referenceId": 1,
           "referenceImage": {"bytesBase64Encoded": png_b64(256, 256)}}  # fmt: skip
    mask = {"referenceType": "REFERENCE_TYPE_MASK", "referenceId": 2, "maskImageConfig": mask_config}
    return {"instances": [{"prompt": "a red door in [1]", "referenceImages": [raw, mask]}],
            "parameters": {"sampleCount": 1}}  # fmt: skip


def post(client, body, headers: dict | None = None) -> tuple[int, dict]:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = client.post("/", data=raw, content_type="application/json", headers=headers or {})
    return response.status_code, response.get_json()


def answer_for(body: dict) -> tuple[int, dict, dict]:
    """A successful answer in the shape of whichever endpoint was called."""
    image = png_b64(64, 64)
    if "contents" in body:
        parts = [{"inlineData": {"mimeType": "image/png", "data": image}}]
        return 200, {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}, {}
    count = body["parameters"].get("sampleCount", 4)
    return 200, {"predictions": [{"bytesBase64Encoded": image, "mimeType": "image/png"}] * count}, {}


def assert_refused_before_vertex(google, status: int, result: dict, field: str, expected_status: int = 400) -> None:
    assert status == expected_status, result
    assert [detail["field"] for detail in result["error"]["details"]] == [field], result
    assert google.predictions == [] and google.tokens_issued == 0


def set_reference(body: dict, index: int, **values) -> dict:
    body["instances"][0]["referenceImages"][index].update(values)
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (subject_body(seed=10**30), "parameters.seed"),
        (subject_body(seed=-1), "parameters.seed"),
        (subject_body(seed=INT32_MAX + 1), "parameters.seed"),
        (subject_body(sampleCount=10**30), "parameters.sampleCount"),
        (set_reference(subject_body(), 1, referenceId=10**40), "instances[0].referenceImages[1].referenceId"),
        (set_reference(subject_body(), 0, referenceId=-1), "instances[0].referenceImages[0].referenceId"),
        (set_reference(subject_body(), 0, referenceId=INT32_MAX + 1), "instances[0].referenceImages[0].referenceId"),
        (mask_body({"maskMode": "MASK_MODE_SEMANTIC", "maskClasses": [10**30]}),
         "instances[0].referenceImages[1].maskImageConfig.maskClasses[0]"),
        (mask_body({"maskMode": "MASK_MODE_SEMANTIC", "maskClasses": [-1]}),
         "instances[0].referenceImages[1].maskImageConfig.maskClasses[0]"),
        (mask_body({"maskMode": "MASK_MODE_SEMANTIC", "maskClasses": [1] * 195}),
         "instances[0].referenceImages[1].maskImageConfig.maskClasses"),
        (mask_body({"maskMode": "MASK_MODE_BACKGROUND", "dilation": 10**400}),
         "instances[0].referenceImages[1].maskImageConfig.dilation"),
    ],
    ids=["seed-1e30", "seed-negative", "seed-int32-plus-1", "sampleCount-1e30",
         "referenceId-1e40", "referenceId-negative", "referenceId-int32-plus-1", "maskClass-1e30",
         "maskClass-negative", "maskClasses-195", "dilation-1e400"],
)  # fmt: skip
def test_an_integer_out_of_vertexs_range_is_400_naming_its_path(client, google, body, field):
    status, result = post(client, body)

    assert_refused_before_vertex(google, status, result, field)
    assert result["error"]["code"] == "invalid_request"


def test_a_seed_of_1e999_which_json_reads_as_infinity_is_400_naming_it(client, google):
    raw = json.dumps(subject_body(seed=7)).replace('"seed": 7', '"seed": 1e999')

    status, result = post(client, raw)

    assert_refused_before_vertex(google, status, result, "parameters.seed")


def test_the_bounds_themselves_are_accepted_and_sent_as_given(client, google, backend):
    google.default = answer_for
    body = subject_body(seed=INT32_MAX)
    set_reference(body, 0, referenceId=0)
    set_reference(body, 1, referenceId=INT32_MAX)
    body["instances"][0]["prompt"] = "a portrait of [0] and [2147483647]"

    status, result = post(client, body)

    assert status == 200, result
    [seen] = google.predictions
    if backend.startswith("imagen-"):
        assert seen.body == body
    else:
        assert seen.body["generationConfig"]["seed"] == INT32_MAX


def test_gemini_seeds_per_sample_stay_within_int32(client, google, backend):
    if not backend.startswith("gemini-"):
        pytest.skip("Imagen takes one seed for all its samples")
    google.default = answer_for

    status, result = post(client, subject_body(seed=INT32_MAX - 1, sampleCount=3))

    assert status == 200, result
    seeds = sorted(seen.body["generationConfig"]["seed"] for seen in google.predictions)
    assert seeds == [0, INT32_MAX - 1, INT32_MAX], "seed + i wraps around instead of overflowing int32"


def test_an_oversized_reference_image_is_413_naming_its_field(client, google, backend):
    from vertex import model_spec

    limit = model_spec(backend).max_input_bytes
    body = subject_body()
    set_reference(body, 1, referenceImage={"bytesBase64Encoded": b64(b"\x89PNG" + b"\0" * limit)})

    status, result = post(client, body)

    field = "instances[0].referenceImages[1].referenceImage.bytesBase64Encoded"
    assert_refused_before_vertex(google, status, result, field, expected_status=413)
    assert result["error"]["code"] == "payload_too_large"
    assert f"{limit:,}" in result["error"]["details"][0]["message"]


LONE = "\ud800"


def with_style(body: dict, description: str) -> None:
    body["instances"][0]["referenceImages"][0] = {
        "referenceType": "REFERENCE_TYPE_STYLE", "referenceId": 2,
        "referenceImage": body["instances"][0]["referenceImages"][0]["referenceImage"],
        "styleImageConfig": {"styleDescription": description},
    }  # fmt: skip


SUBJECT_DESCRIPTION = "instances[0].referenceImages[1].subjectImageConfig.subjectDescription"


@pytest.mark.parametrize(
    ("place", "field"),
    [
        (lambda b: b["instances"][0].update(prompt=f"a man [1] {LONE}"), "instances[0].prompt"),
        (lambda b: b["parameters"].update(negativePrompt=f"blur{LONE}"), "parameters.negativePrompt"),
        (lambda b: b["instances"][0]["referenceImages"][1]["subjectImageConfig"].update(
            subjectDescription=f"{LONE}a man"), SUBJECT_DESCRIPTION),
        (lambda b: with_style(b, "\udfff"), "instances[0].referenceImages[0].styleImageConfig.styleDescription"),
        (lambda b: b["parameters"].update(aspectRatio=f"1:1{LONE}"), "parameters.aspectRatio"),
    ],
    ids=["prompt", "negativePrompt", "subjectDescription", "styleDescription", "aspectRatio"],
)  # fmt: skip
def test_a_lone_surrogate_in_a_text_field_is_400_naming_it(client, google, place, field):
    body = subject_body()
    place(body)

    status, result = post(client, json.dumps(body))  # json.dumps writes it as the escape "\ud800"

    assert status == 400, result
    assert result["error"]["details"][0]["field"] == field
    assert google.predictions == [] and google.tokens_issued == 0


def test_the_request_model_refuses_a_lone_surrogate_whatever_parsed_the_body():
    """Defence in depth: the body parser refuses one too, but the request model must not rely on it."""
    from imagegen import ImageGenError, build_customization_request

    body = subject_body(negativePrompt=f"x{LONE}")

    with pytest.raises(ImageGenError) as caught:
        build_customization_request(body)

    assert caught.value.status == 400
    assert [detail["field"] for detail in caught.value.details] == ["parameters.negativePrompt"]


def test_a_surrogate_pair_is_text_and_goes_through(client, google):
    google.default = answer_for
    raw = json.dumps(subject_body()).replace("a full-body portrait", "a fox \\ud83e\\udd8a portrait", 1)

    status, result = post(client, raw)

    assert status == 200, result


@pytest.mark.parametrize(
    "trace",
    ['<script>alert("x")</script>/1;o=1', "x" * 10_000, "0123456789abcdef0123456789abcdef0; Set-Cookie: a=b/1"],
    ids=["markup", "10k", "longer-than-a-trace-id"],
)
def test_a_callers_trace_header_is_never_echoed_as_the_request_id(client, monkeypatch, trace):
    import main

    monkeypatch.setattr(main, "_customize", lambda request: 1 / 0)

    status, result = post(client, subject_body(), headers={"X-Cloud-Trace-Context": trace})

    assert status == 500
    message = result["error"]["message"]
    request_id = message.rsplit(" ", 1)[-1]
    assert len(request_id) == 32 and all(c in "0123456789abcdef" for c in request_id), message
    assert "script" not in message and "x" * 40 not in message and "Set-Cookie" not in message


def test_a_well_formed_trace_id_is_the_request_id(client, monkeypatch):
    import main

    monkeypatch.setattr(main, "_customize", lambda request: 1 / 0)
    trace = "0123456789abcdef0123456789abcdef"

    status, result = post(client, subject_body(), headers={"X-Cloud-Trace-Context": f"{trace}/42;o=1"})

    assert status == 500 and result["error"]["message"].endswith(f"request id {trace}")


def test_nothing_the_caller_sends_reaches_the_url(client, google, backend):
    """The URL and the headers sent to Vertex come from the deployment's configuration only."""
    google.default = answer_for
    body = subject_body()
    body["instances"][0]["prompt"] = "../../projects/other/locations/x/publishers/google/models/y:predict?a=b#[1]"

    status, _ = post(client, body, headers={"X-Cloud-Trace-Context": "a/b", "X-Goog-User-Project": "other"})

    assert status == 200
    [seen] = google.predictions
    assert seen.path.endswith(f"/models/{backend}:{'generateContent' if 'gemini' in backend else 'predict'}")
    assert "other" not in seen.path and "x-goog-user-project" not in seen.headers
