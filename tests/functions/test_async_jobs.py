"""mode async / auto: request.json -> Step Functions -> publish or fail -> manifest -> GET /v1/jobs."""

from __future__ import annotations

import base64
import importlib
import json

import pytest
from fake_bedrock import images_for
from harness import API_BASE_URL, INPUT_BUCKET, OUTPUT_BUCKET, REGION, api_event, call, job_event, load_event
from iam_audit import RECORDER
from imaging import b64, png_bytes

text_to_image = importlib.import_module("text_to_image").handler
image_variation = importlib.import_module("image_variation").handler
jobs_handler = importlib.import_module("jobs").handler
publish = importlib.import_module("publish").handler
fail = importlib.import_module("fail").handler


def run_model_like_the_state_machine(aws, job_id: str, responder=images_for) -> None:
    """What the state machine's bedrock:invokeModel task does: S3 input -> model -> S3 output."""
    execution = aws.sfn.describe_execution(
        executionArn=f"{aws.state_machine_arn.replace(':stateMachine:', ':execution:')}:{job_id}"
    )
    for call_ in json.loads(execution["input"])["calls"]:
        RECORDER.record_state_machine(call_["modelId"], call_["input"], call_["output"], REGION)
        _, request_key = call_["input"].split(f"s3://{OUTPUT_BUCKET}/")
        _, response_key = call_["output"].split(f"s3://{OUTPUT_BUCKET}/")
        status, native = responder(call_["modelId"], aws.json(request_key))
        assert status == 200
        aws.s3.put_object(Bucket=OUTPUT_BUCKET, Key=response_key, Body=json.dumps(native).encode())


def publish_event(job_id: str) -> dict:
    return {**load_event("sfn-publish.json"), "jobId": job_id}


def test_async_round_trip_request_json_execution_publish_manifest_jobs(aws):
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/in.png", Body=png_bytes(512, 512))
    body = {"images": [f"s3://{INPUT_BUCKET}/uploads/in.png"], "numberOfImages": 2, "mode": "async"}

    status, started, headers = call(image_variation, api_event("/v1/image-variation", body))

    assert status == 202, started
    job_id = started["id"]
    # Absolute, and under the stage the caller used: a client can follow it as it is.
    status_url = f"{API_BASE_URL}/v1/jobs/{job_id}"
    assert started == {"id": job_id, "status": "RUNNING", "statusUrl": status_url}
    assert headers["Location"] == status_url
    assert aws.bedrock.calls == [], "the state machine makes the model call, not the API"
    # The native body is stored with the s3:// image already resolved to its bytes.
    request = aws.json(f"jobs/{job_id}/request.json")
    assert request["taskType"] == "IMAGE_VARIATION"
    assert base64.b64decode(request["imageVariationParams"]["images"][0]) == png_bytes(512, 512)
    execution = aws.sfn.describe_execution(
        executionArn=aws.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{job_id}"
    )
    assert execution["name"] == job_id
    assert json.loads(execution["input"]) == {
        "jobId": job_id,
        "calls": [
            {
                "modelId": "amazon.nova-canvas-v1:0",
                "input": f"s3://{OUTPUT_BUCKET}/jobs/{job_id}/request.json",
                "output": f"s3://{OUTPUT_BUCKET}/jobs/{job_id}/response.json",
            }
        ],
    }

    status, running, _ = call(jobs_handler, job_event(job_id))
    assert status == 200 and running["status"] == "RUNNING" and running["task"] == "image-variation"

    run_model_like_the_state_machine(aws, job_id)
    assert publish(publish_event(job_id), None) == {"id": job_id, "status": "SUCCEEDED"}

    status, done, _ = call(jobs_handler, job_event(job_id))
    assert status == 200 and done["status"] == "SUCCEEDED"
    assert len(done["images"]) == 2 and done["requested"] == 2
    assert all(image["url"].startswith("https://") for image in done["images"])
    assert aws.keys(prefix=f"outputs/{job_id}/") == [
        f"outputs/{job_id}/0.png",
        f"outputs/{job_id}/1.png",
        f"outputs/{job_id}/manifest.json",
    ]


def test_auto_mode_goes_async_over_the_pixel_threshold(aws):
    small = {"prompt": "x", "width": 1024, "height": 1024, "numberOfImages": 4}
    large = {**small, "numberOfImages": 5}
    premium = {**small, "quality": "premium"}

    assert call(text_to_image, api_event("/v1/text-to-image", small))[0] == 200
    assert call(text_to_image, api_event("/v1/text-to-image", large))[0] == 202
    assert call(text_to_image, api_event("/v1/text-to-image", premium))[0] == 202


def test_sync_mode_stays_sync_over_the_threshold(aws):
    body = {"prompt": "x", "width": 1024, "height": 1024, "numberOfImages": 5, "mode": "sync"}

    assert call(text_to_image, api_event("/v1/text-to-image", body))[0] == 200


def test_async_threshold_is_configurable(aws, monkeypatch):
    from core import clients

    monkeypatch.setenv("IMAGEGEN_ASYNC_THRESHOLD_PIXELS", str(512 * 512))
    clients.reset()
    from fake_bedrock import FakeBedrock

    FakeBedrock().install(clients.bedrock())

    assert call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "width": 512, "height": 512}))[0] == 200
    assert call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "width": 528, "height": 512}))[0] == 202


def test_base64_with_async_mode_is_400(aws):
    status, body, _ = call(
        text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async", "responseFormat": "base64"})
    )

    assert status == 400 and body["error"]["details"][0]["field"] == "responseFormat"


def test_stable_image_core_fan_out_runs_async_as_one_call_per_image(aws):
    body = {"model": "stable-image-core", "prompt": "x", "numberOfImages": 3, "seed": 7, "mode": "async"}

    status, started, _ = call(text_to_image, api_event("/v1/text-to-image", body))

    assert status == 202
    job_id = started["id"]
    assert [aws.json(f"jobs/{job_id}/request-{i}.json")["seed"] for i in range(3)] == [7, 8, 9]
    run_model_like_the_state_machine(aws, job_id)
    publish(publish_event(job_id), None)
    _, done, _ = call(jobs_handler, job_event(job_id))
    assert done["status"] == "SUCCEEDED"
    assert [image["seed"] for image in done["images"]] == [7, 8, 9]


def test_publish_of_a_fully_filtered_response_fails_the_job_with_the_reason(aws):
    _, started, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async"}))
    job_id = started["id"]
    run_model_like_the_state_machine(
        aws, job_id, lambda m, b: (200, {"images": [], "error": "blocked by our content filters"})
    )

    assert publish(publish_event(job_id), None)["status"] == "FAILED"

    _, job, _ = call(jobs_handler, job_event(job_id))
    assert job["status"] == "FAILED"
    assert job["error"]["code"] == "content_filtered" and "content filters" in job["error"]["message"]


def test_fail_step_records_the_bedrock_error_with_the_sync_code(aws):
    _, started, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async"}))
    event = {**load_event("sfn-fail.json"), "jobId": started["id"]}

    assert fail(event, None) == {"id": started["id"], "status": "FAILED"}

    _, job, _ = call(jobs_handler, job_event(started["id"]))
    assert job["status"] == "FAILED" and job["task"] == "text-to-image"
    assert job["error"]["code"] == "throttled"
    # Our words and Bedrock's code; Bedrock's own text stays in the log.
    assert "throttling" in job["error"]["message"] and "ThrottlingException" in job["error"]["message"]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"Error": "Bedrock.ModelTimeoutException", "Cause": "Model has timed out"}, "upstream_timeout"),
        ({"Error": "Bedrock.ValidationException", "Cause": "blocked by our content filters"}, "content_filtered"),
        ({"Error": "States.Timeout", "Cause": ""}, "upstream_timeout"),
        (
            {"Error": "Lambda.Unknown", "Cause": json.dumps({"errorMessage": "boom", "errorType": "X"})},
            "upstream_error",
        ),
    ],
)
def test_fail_step_maps_state_machine_errors(aws, error, code):
    _, started, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async"}))

    fail({"jobId": started["id"], "error": error}, None)

    assert aws.json(f"outputs/{started['id']}/manifest.json")["error"]["code"] == code


def test_a_failed_execution_without_manifest_reports_failed(aws):
    _, started, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async"}))
    arn = aws.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{started['id']}"
    aws.sfn.stop_execution(executionArn=arn, error="States.Runtime", cause="the state machine broke")

    status, job, _ = call(jobs_handler, job_event(started["id"]))

    assert status == 200 and job["status"] == "FAILED"
    assert job["error"]["code"] == "upstream_error" and "ABORTED" in job["error"]["message"]


@pytest.mark.parametrize("job_id", ["../../etc/passwd", "0123456789ABCDEF0123456789ABCDEF", "abc", "0" * 33])
def test_job_ids_of_the_wrong_form_are_400(aws, job_id):
    status, body, _ = call(jobs_handler, job_event(job_id))

    assert status == 400 and body["error"]["details"][0]["field"] == "id"


def test_unknown_job_is_404(aws):
    status, body, _ = call(jobs_handler, job_event("0123456789abcdef0123456789abcdef"))

    assert status == 404 and body["error"]["code"] == "not_found"


def test_inline_base64_never_lands_in_the_manifest(aws):
    data = png_bytes(512, 512)
    body = {"images": [b64(data)], "mode": "async"}

    _, started, _ = call(image_variation, api_event("/v1/image-variation", body))
    run_model_like_the_state_machine(aws, started["id"])
    publish(publish_event(started["id"]), None)

    manifest = aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key=f"outputs/{started['id']}/manifest.json")["Body"].read()
    assert b64(data)[:64].encode() not in manifest
    assert json.loads(manifest)["parameters"]["images[0]"] == {"contentType": "image/png", "width": 512, "height": 512}


def test_a_job_finishing_while_it_is_read_reads_as_its_outcome_never_as_failed(aws):
    """The manifest is read (absent), then the job finishes and its execution ends before
    DescribeExecution answers: the manifest is read again instead of reporting the ended
    execution (in AWS that window read 404, locally FAILED "ended ABORTED")."""
    from core import clients

    _, started, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async"}))
    job_id = started["id"]
    run_model_like_the_state_machine(aws, job_id)
    execution_arn = f"{aws.state_machine_arn.replace(':stateMachine:', ':execution:')}:{job_id}"

    def finish_in_between(**kwargs):
        clients.stepfunctions().meta.events.unregister("before-call.sfn.DescribeExecution", finish_in_between)
        with RECORDER.outside():
            publish(publish_event(job_id), None)
            aws.sfn.stop_execution(executionArn=execution_arn)

    clients.stepfunctions().meta.events.register("before-call.sfn.DescribeExecution", finish_in_between)

    status, job, _ = call(jobs_handler, job_event(job_id))

    assert status == 200 and job["status"] == "SUCCEEDED" and len(job["images"]) == 1


def test_an_execution_that_ended_without_a_manifest_is_a_failed_job(aws):
    _, started, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async"}))
    execution_arn = f"{aws.state_machine_arn.replace(':stateMachine:', ':execution:')}:{started['id']}"
    aws.sfn.stop_execution(executionArn=execution_arn)  # an operator stopped it

    status, job, _ = call(jobs_handler, job_event(started["id"]))

    assert status == 200 and job["status"] == "FAILED"
    assert "ABORTED" in job["error"]["message"]


ASYNC_BODIES = {
    "text-to-image": lambda uri: {"prompt": "x", "conditionImage": uri},
    "color-guided": lambda uri: {"prompt": "x", "colors": ["#FF0000"], "referenceImage": uri},
    "image-variation": lambda uri: {"images": [uri]},
    "inpainting": lambda uri: {"image": uri, "maskPrompt": "the cat", "prompt": "a dog"},
    "outpainting": lambda uri: {"image": uri, "maskPrompt": "the cat", "prompt": "a garden"},
    "background-removal": lambda uri: {"image": uri},
}


@pytest.mark.parametrize("prefix", ["uploads/", "triggers/background-removal/"])
@pytest.mark.parametrize("task", sorted(ASYNC_BODIES))
def test_every_task_runs_as_a_job_with_an_input_from_the_input_bucket(aws, task, prefix):
    """Each task's function reads inputs under uploads/ and triggers/, writes the job's request
    and starts the execution; the IAM audit checks each of those against that function's role."""
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=f"{prefix}in.png", Body=png_bytes(512, 512))
    body = {**ASYNC_BODIES[task](f"s3://{INPUT_BUCKET}/{prefix}in.png"), "mode": "async"}

    status, started, _ = call(importlib.import_module(task.replace("-", "_")).handler, api_event(f"/v1/{task}", body))

    assert status == 202, started
    assert f"jobs/{started['id']}/request.json" in aws.keys(prefix=f"jobs/{started['id']}/")
