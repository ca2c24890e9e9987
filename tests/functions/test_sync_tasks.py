"""The six task routes on the sync path: validation, the Bedrock call, S3 outputs, the response."""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
from urllib.parse import parse_qs, urlparse

import pytest
from harness import BEDROCK_REGION, OUTPUT_BUCKET, REGION, api_event, call, job_event
from imaging import b64, mask_b64, png_b64, png_bytes

from imagegen.images import inspect_image

text_to_image = importlib.import_module("text_to_image")
jobs_handler = importlib.import_module("jobs").handler

IMAGE = png_b64(512, 512)
TASK_BODIES = {
    "text-to-image": {"prompt": "a lighthouse at dusk", "width": 512, "height": 512},
    "color-guided": {"prompt": "a vase", "colors": ["#FF0000", "#00AA00"], "width": 512, "height": 512},
    "image-variation": {"images": [IMAGE], "similarityStrength": 0.8},
    "inpainting": {"image": IMAGE, "maskImage": mask_b64(512, 512), "prompt": "a red door"},
    "outpainting": {"image": IMAGE, "maskPrompt": "the house", "prompt": "a garden"},
    "background-removal": {"image": IMAGE},
}
TASK_TYPES = {
    "text-to-image": "TEXT_IMAGE",
    "color-guided": "COLOR_GUIDED_GENERATION",
    "image-variation": "IMAGE_VARIATION",
    "inpainting": "INPAINTING",
    "outpainting": "OUTPAINTING",
    "background-removal": "BACKGROUND_REMOVAL",
}


def handler_for(task: str):
    return importlib.import_module(task.replace("-", "_")).handler


@pytest.mark.parametrize("task", list(TASK_BODIES))
def test_each_task_route_returns_stored_images_with_presigned_urls(aws, task):
    status, body, headers = call(handler_for(task), api_event(f"/v1/{task}", TASK_BODIES[task]))

    assert status == 200, body
    assert body["status"] == "SUCCEEDED" and body["task"] == task
    assert body["model"] == "nova-canvas" and body["modelId"] == "amazon.nova-canvas-v1:0"
    assert body["requested"] == 1 and body["filtered"] == 0
    [image] = body["images"]
    key = f"outputs/{body['id']}/0.png"
    assert image["s3Uri"] == f"s3://{OUTPUT_BUCKET}/{key}"
    assert image["contentType"] == "image/png"
    stored = aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key=key)
    data = stored["Body"].read()
    assert (image["width"], image["height"]) == inspect_image(data).size
    assert stored["ContentType"] == "image/png"
    assert stored["Metadata"] == {"job-id": body["id"], "model": "amazon.nova-canvas-v1:0", "seed": "12"}
    url = urlparse(image["url"])
    assert url.path.endswith(key) and parse_qs(url.query)["X-Amz-Expires"] == ["3600"]
    # The bucket's regional host, which serves a new bucket at once (the global one redirects).
    assert url.netloc == f"{OUTPUT_BUCKET}.s3.{REGION}.amazonaws.com"
    assert headers["Cache-Control"] == "no-store"
    [sent] = aws.bedrock.calls
    assert sent.model_id == "amazon.nova-canvas-v1:0"
    assert sent.body["taskType"] == TASK_TYPES[task]
    # Signed for Bedrock's own region, which differs from the stack's.
    assert f"/{BEDROCK_REGION}/bedrock/aws4_request" in sent.headers["Authorization"]


def test_manifest_is_written_after_every_image(aws):
    order = []
    aws_s3 = __import__("core.clients", fromlist=["s3"]).s3()
    aws_s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **kw: order.append(params["Key"]))

    status, body, _ = call(
        text_to_image.handler, api_event("/v1/text-to-image", {"prompt": "boats", "numberOfImages": 3})
    )

    assert status == 200
    prefix = f"outputs/{body['id']}/"
    assert order == [f"{prefix}0.png", f"{prefix}1.png", f"{prefix}2.png", f"{prefix}manifest.json"]
    manifest = aws.json(f"{prefix}manifest.json")
    assert manifest["status"] == "SUCCEEDED"
    assert [i["s3Uri"] for i in manifest["images"]] == [i["s3Uri"] for i in body["images"]]
    assert manifest["parameters"]["prompt"] == "boats" and manifest["parameters"]["numberOfImages"] == 3
    assert "modelMs" in manifest["timings"] and manifest["timings"]["finishedAt"].endswith("Z")


def test_a_sync_job_is_readable_afterwards_with_fresh_urls(aws):
    _, body, _ = call(text_to_image.handler, api_event("/v1/text-to-image", {"prompt": "boats"}))

    status, job, _ = call(jobs_handler, job_event(body["id"]))

    assert status == 200 and job["status"] == "SUCCEEDED"
    assert [i["s3Uri"] for i in job["images"]] == [i["s3Uri"] for i in body["images"]]
    assert job["images"][0]["url"].startswith("https://")


def test_presign_ttl_comes_from_configuration(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_PRESIGN_TTL_SECONDS", "600")
    __import__("core.config", fromlist=["settings"]).settings.cache_clear()

    _, body, _ = call(text_to_image.handler, api_event("/v1/text-to-image", {"prompt": "boats"}))

    assert parse_qs(urlparse(body["images"][0]["url"]).query)["X-Amz-Expires"] == ["600"]


def test_base64_response_carries_the_image_bytes(aws):
    event = api_event("/v1/text-to-image", {"prompt": "boats", "width": 320, "height": 320, "responseFormat": "base64"})

    status, body, _ = call(text_to_image.handler, event)

    assert status == 200
    [image] = body["images"]
    assert "url" not in image
    data = base64.b64decode(image["base64"])
    assert inspect_image(data).size == (320, 320)
    stored = aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key=f"outputs/{body['id']}/0.png")["Body"].read()
    assert stored == data


def test_base64_response_over_lambdas_6mb_limit_is_413_pointing_to_urls(aws):
    import os

    from PIL import Image

    noise = Image.frombytes("RGB", (1024, 1024), os.urandom(1024 * 1024 * 3))
    buffer = __import__("io").BytesIO()
    noise.save(buffer, "PNG", compress_level=0)
    big = b64(buffer.getvalue())  # ~4 MB of base64 each
    aws.bedrock.always(200, {"images": [big, big], "error": None})
    event = api_event("/v1/text-to-image", {"prompt": "static", "numberOfImages": 2, "responseFormat": "base64"})

    status, body, _ = call(text_to_image.handler, event)

    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert "6 MB" in body["error"]["message"] and "image URLs" in body["error"]["message"]
    assert body["error"]["details"][0]["field"] == "responseFormat"


def test_an_answer_that_cannot_fit_is_refused_before_it_is_encoded_and_the_images_stay_stored(aws, monkeypatch):
    """Two ~3 MB images make at least 8 MB of base64: known from their sizes, before any encoding."""
    from PIL import Image

    from core import jobs

    noise = Image.frombytes("RGB", (1024, 1024), os.urandom(1024 * 1024 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG", compress_level=0)
    aws.bedrock.always(200, {"images": [b64(buffer.getvalue())] * 2, "error": None})
    monkeypatch.setattr(jobs, "public_view", lambda *a, **k: pytest.fail("the answer was built"))
    event = api_event("/v1/text-to-image", {"prompt": "static", "numberOfImages": 2, "responseFormat": "base64"})

    status, body, _ = call(text_to_image.handler, event)

    assert status == 413, body
    [job_id] = {key.split("/")[1] for key in aws.keys(prefix="outputs/")}
    assert f"GET /v1/jobs/{job_id}" in body["error"]["message"]
    assert aws.keys(prefix=f"outputs/{job_id}/") == [f"outputs/{job_id}/{n}.png" for n in (0, 1)] + [
        f"outputs/{job_id}/manifest.json"
    ]


def test_the_response_size_is_computed_without_serializing_it_again():
    from core import http

    for body in ({"images": [{"base64": "QUJD" * 1000}]}, {"message": 'a "quoted" \\ path\n', "n": [1, 2]}):
        rendered = http.response(200, body, {"Location": "https://x/v1/jobs/1"})
        assert http.encoded_size(rendered) == len(json.dumps(rendered))


def test_an_answer_with_base64_spliced_in_is_the_json_of_the_same_body_and_sized_exactly():
    """The model's base64 goes into the answer as it came, without the encoder scanning it."""
    from core import http

    images = [http.Base64Text("QUJD" * 1000 + "+/=="), http.Base64Text("AAAA")]
    body = {"id": 'a "job"', "images": [{"base64": images[0], "seed": 1}, {"base64": images[1]}], "note": "\\"}

    rendered, size = http.sized_response(200, body, {"Location": "https://x/v1/jobs/1"})

    assert json.loads(rendered["body"]) == json.loads(json.dumps(body))
    assert size == len(json.dumps(rendered))


def test_stable_image_core_fans_out_concurrently_with_consecutive_seeds(aws):
    event = api_event(
        "/v1/text-to-image",
        {"model": "stable-image-core", "prompt": "a fox", "numberOfImages": 3, "seed": 100, "aspectRatio": "1:1"},
    )
    aws.bedrock.delay = 0.3

    import time

    started = time.monotonic()
    status, body, _ = call(text_to_image.handler, event)
    elapsed = time.monotonic() - started

    assert status == 200, body
    assert sorted(c.body["seed"] for c in aws.bedrock.calls) == [100, 101, 102]
    assert elapsed < 0.8, "the three calls should overlap"
    assert [i["seed"] for i in body["images"]] == [100, 101, 102]
    assert body["modelId"] == "stability.stable-image-core-v1:1"


def test_partially_filtered_fan_out_is_200_with_the_models_reason(aws):
    def one_filtered(model_id, body):
        if body["seed"] == 2:
            return 200, {"seeds": [2], "finish_reasons": ["Filter reason: output image"], "images": []}
        return 200, {"seeds": [body["seed"]], "finish_reasons": [None], "images": [b64(png_bytes(64, 64))]}

    aws.bedrock.respond(one_filtered)
    event = api_event(
        "/v1/text-to-image", {"model": "stable-image-core", "prompt": "x", "numberOfImages": 3, "seed": 1}
    )

    status, body, _ = call(text_to_image.handler, event)

    assert status == 200
    assert body["requested"] == 3 and body["filtered"] == 1 and len(body["images"]) == 2
    assert any("Filter reason: output image" in w for w in body["warnings"])


def test_partially_filtered_nova_result_is_200_with_the_models_message(aws):
    message = "1 of the generated images was blocked by our content filters."
    aws.bedrock.always(200, {"images": [b64(png_bytes(64, 64))] * 2, "error": message})

    status, body, _ = call(text_to_image.handler, api_event("/v1/text-to-image", {"prompt": "x", "numberOfImages": 3}))

    assert status == 200
    assert (body["requested"], body["filtered"], len(body["images"])) == (3, 1, 2)
    assert message in body["warnings"]


def test_every_image_filtered_is_422_content_filtered(aws):
    aws.bedrock.always(200, {"images": [], "error": "All generated images were blocked by our content filters."})

    status, body, _ = call(text_to_image.handler, api_event("/v1/text-to-image", {"prompt": "x"}))

    assert status == 422
    assert body["error"]["code"] == "content_filtered"
    assert "blocked by our content filters" in body["error"]["message"]
    assert aws.keys(prefix="outputs/") == []


def test_lifecycle_warning_reaches_the_response(aws):
    body = {"model": "titan-image-v2", "prompt": "x", "width": 512, "height": 512}

    status, result, _ = call(text_to_image.handler, api_event("/v1/text-to-image", body))

    assert status == 200
    assert any("end-of-life" in w for w in result["warnings"])
    assert aws.bedrock.calls[0].model_id == "amazon.titan-image-generator-v2:0"
