"""The Stability models through the task routes: native bodies, webp outputs, jobs, defaults."""

from __future__ import annotations

import importlib
import json

import pytest
from harness import OUTPUT_BUCKET, api_event, call, job_event
from imaging import mask_b64, png_b64

from imagegen.registry import MODELS

IMAGE = png_b64(512, 512)
# One request per new route and per Stability model of an existing route.
REQUESTS = {
    "stable-fast-upscale": ("upscale", {"image": IMAGE}),
    "stable-creative-upscale": ("upscale", {"image": IMAGE, "prompt": "sharper", "mode": "sync"}),
    "stable-conservative-upscale": ("upscale", {"image": IMAGE, "prompt": "sharper", "mode": "sync"}),
    "stable-image-search-replace": ("search-replace", {"image": IMAGE, "prompt": "a dog", "searchPrompt": "the cat"}),
    "stable-image-search-recolor": ("search-recolor", {"image": IMAGE, "prompt": "red", "selectPrompt": "the car"}),
    "stable-image-erase-object": ("erase-object", {"image": IMAGE, "maskImage": mask_b64(512, 512)}),
    "stable-style-transfer": ("style-transfer", {"image": IMAGE, "styleImage": IMAGE}),
    "stable-image-inpaint": ("inpainting", {"image": IMAGE, "maskImage": mask_b64(512, 512), "prompt": "a door"}),
    "stable-outpaint": ("outpainting", {"image": IMAGE, "left": 100}),
    "stable-image-remove-background": ("background-removal", {"image": IMAGE}),
    "stable-image-control-sketch": ("text-to-image", {"prompt": "a castle", "conditionImage": IMAGE}),
    "stable-image-control-structure": ("text-to-image", {"prompt": "a castle", "conditionImage": IMAGE}),
    "stable-image-style-guide": ("text-to-image", {"prompt": "a castle", "styleImage": IMAGE}),
    "stable-image-ultra": ("text-to-image", {"prompt": "a castle", "aspectRatio": "16:9"}),
    "sd3-5-large": ("image-variation", {"images": [IMAGE], "prompt": "at night"}),
}


def handler_for(task: str):
    return importlib.import_module(task.replace("-", "_")).handler


@pytest.mark.parametrize("model", sorted(REQUESTS))
def test_each_stability_model_answers_through_its_route_with_its_profile_or_model_id(aws, model):
    task, body = REQUESTS[model]

    status, result, _ = call(handler_for(task), api_event(f"/v1/{task}", {"model": model, **body}))

    assert status == 200, result
    assert result["model"] == model and result["modelId"] == MODELS[model].model_id
    [sent] = aws.bedrock.calls
    assert sent.model_id == MODELS[model].model_id
    # Only the model's own native fields travel: Bedrock refuses any other key.
    assert set(sent.body) <= set(MODELS[model].native[task].fields.values()) | {"mode"}


def test_a_webp_output_is_stored_as_webp(aws):
    status, result, _ = call(
        handler_for("upscale"),
        api_event("/v1/upscale", {"model": "stable-fast-upscale", "image": IMAGE, "outputFormat": "webp"}),
    )

    assert status == 200, result
    [image] = result["images"]
    assert image["contentType"] == "image/webp" and image["s3Uri"].endswith("/0.webp")
    stored = aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key=image["s3Uri"].split("/", 3)[3])
    assert stored["ContentType"] == "image/webp"


def test_the_4k_upscalers_run_as_jobs_under_mode_auto(aws):
    status, result, _ = call(
        handler_for("upscale"),
        api_event("/v1/upscale", {"model": "stable-creative-upscale", "image": IMAGE, "prompt": "sharper"}),
    )

    assert status == 202 and result["status"] == "RUNNING"
    assert aws.bedrock.calls == []


def test_the_state_machine_calls_an_inference_profile_by_its_arn_and_its_role_allows_it(aws):
    """As AWS's tested pattern for Step Functions' bedrock:invokeModel passes a profile
    (aws-samples/serverless-patterns, sfn-bedrock-invokemodel-cdk: ModelId is the profile ARN);
    the IAM audit checks the profile ARN and the model in a region the profile routes to."""
    from test_async_jobs import publish_event, run_model_like_the_state_machine

    _, started, _ = call(
        handler_for("upscale"),
        api_event("/v1/upscale", {"model": "stable-creative-upscale", "image": IMAGE, "prompt": "sharper"}),
    )
    execution = aws.sfn.describe_execution(
        executionArn=f"{aws.state_machine_arn.replace(':stateMachine:', ':execution:')}:{started['id']}"
    )

    [invoked] = json.loads(execution["input"])["calls"]
    assert invoked["modelId"] == (
        "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.stability.stable-creative-upscale-v1:0"
    )
    run_model_like_the_state_machine(aws, started["id"])
    importlib.import_module("publish").handler(publish_event(started["id"]), None)
    _, job, _ = call(importlib.import_module("jobs").handler, job_event(started["id"]))
    assert job["status"] == "SUCCEEDED" and job["modelId"] == "us.stability.stable-creative-upscale-v1:0"


def test_a_model_this_deployment_does_not_serve_names_what_it_serves_and_the_successor(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_MODELS", "nova-canvas,stable-image-core,stable-image-ultra")
    aws.reconfigure()

    status, result, _ = call(
        handler_for("text-to-image"), api_event("/v1/text-to-image", {"model": "titan-image-v2", "prompt": "x"})
    )

    assert status == 400 and result["error"]["code"] == "unsupported"
    message = result["error"]["details"][0]["message"]
    assert "nova-canvas, stable-image-core, stable-image-ultra" in message and "successor is nova-canvas" in message
    assert aws.bedrock.calls == []


def test_a_request_naming_no_model_gets_the_deployments_default(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_DEFAULT_MODELS", json.dumps({"text-to-image": "stable-image-ultra"}))
    aws.reconfigure()

    status, result, _ = call(handler_for("text-to-image"), api_event("/v1/text-to-image", {"prompt": "x"}))

    assert status == 200 and result["model"] == "stable-image-ultra"


def test_a_past_end_of_life_model_answers_with_a_warning(aws):
    status, result, _ = call(
        handler_for("text-to-image"), api_event("/v1/text-to-image", {"model": "titan-image-v1", "prompt": "x"})
    )

    assert status == 200 and any("end-of-life" in warning for warning in result["warnings"])
