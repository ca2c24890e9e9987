"""A job is never reported SUCCEEDED before all its images and its manifest are stored."""

from __future__ import annotations

import importlib
import json

import pytest
from botocore.exceptions import ConnectionClosedError
from harness import OUTPUT_BUCKET, api_event, call, job_event

from core import clients

text_to_image = importlib.import_module("text_to_image").handler
jobs_handler = importlib.import_module("jobs").handler
publish = importlib.import_module("publish").handler


def fail_puts_of(suffix: str) -> list[str]:
    """Drop the connection of every PutObject whose key ends with ``suffix`` (retries included).

    Raised before moto sees the request, so the object is really not written.
    """
    attempts: list[str] = []

    def maybe_fail(request, **kwargs):
        if request.url.split("?")[0].endswith(suffix):
            attempts.append(request.url)
            raise ConnectionClosedError(endpoint_url=request.url)
        return None

    clients.s3().meta.events.register_first("before-send.s3.PutObject", maybe_fail)
    return attempts


def test_s3_failure_mid_job_answers_502_and_never_reports_success(aws, no_retry_sleep):
    attempts = fail_puts_of("/1.png")

    status, body, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "numberOfImages": 3}))

    assert status == 502
    assert body["error"]["code"] == "upstream_error" and "did not succeed" in body["error"]["message"]
    assert len(attempts) == 3, "the write was retried before giving up"
    [manifest_key] = [k for k in aws.keys(prefix="outputs/") if k.endswith("manifest.json")]
    job_id = manifest_key.split("/")[1]
    manifest = aws.json(manifest_key)
    assert manifest["status"] == "FAILED" and manifest["images"] == []
    assert f"outputs/{job_id}/1.png" not in aws.keys(prefix="outputs/")
    status, job, _ = call(jobs_handler, job_event(job_id))
    assert job["status"] == "FAILED"


def test_s3_failure_on_the_manifest_itself_is_502_with_no_manifest(aws, no_retry_sleep):
    fail_puts_of("/manifest.json")

    status, _, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x"}))

    assert status == 502
    assert not [k for k in aws.keys(prefix="outputs/") if k.endswith("manifest.json")]


def test_publish_raises_on_s3_failure_so_the_state_machine_retries(aws, no_retry_sleep):
    _, started, _ = call(
        text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async", "numberOfImages": 2})
    )
    job_id = started["id"]
    native = {"images": [__import__("imaging").png_b64(64, 64)] * 2, "error": None}
    aws.s3.put_object(Bucket=OUTPUT_BUCKET, Key=f"jobs/{job_id}/response.json", Body=json.dumps(native).encode())
    fail_puts_of("/1.png")

    with pytest.raises(Exception, match="storing"):
        publish({"jobId": job_id}, None)

    _, job, _ = call(jobs_handler, job_event(job_id))
    assert job["status"] == "RUNNING"


def test_publish_without_the_model_response_raises(aws):
    _, started, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "mode": "async"}))

    with pytest.raises(RuntimeError, match="response"):
        publish({"jobId": started["id"]}, None)


def test_an_s3_access_denial_is_502_without_the_roles_arn(aws, caplog):
    """S3's AccessDenied message names the role and account; the caller gets the code only."""
    from botocore.awsrequest import AWSResponse

    denial = (
        b"<Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/ImageGen-Task/fn "
        b"is not authorized to perform: s3:PutObject</Message><RequestId>REQ-1</RequestId></Error>"
    )

    class _Raw:
        def stream(self, **kwargs):
            yield denial

    def deny(request, **kwargs):
        return AWSResponse(request.url, 403, {"x-amz-request-id": "REQ-1"}, _Raw())

    clients.s3().meta.events.register_first("before-send.s3.PutObject", deny)
    caplog.set_level("WARNING", logger="imagegen")

    status, body, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x"}))

    assert status == 502 and "AccessDenied" in body["error"]["message"]
    assert "arn:aws" not in json.dumps(body) and "123456789012" not in json.dumps(body)
    assert "assumed-role/ImageGen-Task" in caplog.text, "the operator's log keeps the whole message"
