"""S3 upload triggers through SQS: one job per object, idempotent ids, partial batch failures."""

from __future__ import annotations

import copy
import importlib
import json
from urllib.parse import quote_plus

from fake_bedrock import error, images_for
from harness import INPUT_BUCKET, load_event
from imaging import png_bytes

from core.layout import derived_job_id

trigger = importlib.import_module("trigger").handler


def s3_record(key: str, *, message_id: str = "m-1", version: str = "v1", bucket: str = INPUT_BUCKET) -> dict:
    """One SQS record carrying an S3 ObjectCreated notification, from the sample event."""
    record = copy.deepcopy(load_event("sqs-s3-object-created.json")["Records"][0])
    notification = json.loads(record["body"])
    s3 = notification["Records"][0]["s3"]
    s3["bucket"]["name"] = bucket
    s3["object"]["key"] = quote_plus(key, safe="/")
    s3["object"]["versionId"] = version
    record["body"] = json.dumps(notification)
    record["messageId"] = message_id
    return record


def batch(*records: dict) -> dict:
    return {"Records": list(records)}


def manifest_of(aws, key: str, version: str = "v1") -> dict:
    return aws.json(f"outputs/{derived_job_id(INPUT_BUCKET, key, version)}/manifest.json")


def test_the_sample_event_runs_background_removal_on_the_image(aws):
    key = "triggers/background-removal/product shot.png"  # the sample's key is URL-encoded
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))
    event = load_event("sqs-s3-object-created.json")
    event["Records"][0]["body"] = event["Records"][0]["body"].replace("imagegen-input", INPUT_BUCKET)

    assert trigger(event, None) == {"batchItemFailures": []}

    version = "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    manifest = manifest_of(aws, key, version)
    assert manifest["status"] == "SUCCEEDED" and manifest["task"] == "background-removal"
    assert manifest["source"] == {"bucket": INPUT_BUCKET, "key": key, "version": version}
    assert aws.bedrock.calls[0].body["taskType"] == "BACKGROUND_REMOVAL"


def test_a_redelivered_message_of_a_finished_job_is_acknowledged_without_a_second_model_call(aws):
    key = "triggers/image-variation/shoe.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))

    assert trigger(batch(s3_record(key)), None) == {"batchItemFailures": []}
    first = aws.keys(prefix="outputs/")
    assert trigger(batch(s3_record(key, message_id="m-2")), None) == {"batchItemFailures": []}

    assert aws.keys(prefix="outputs/") == first and len(first) == 2
    assert len(aws.bedrock.calls) == 1, "SQS delivers at least once; the images are paid for once"
    # A new version of the object is a new job.
    trigger(batch(s3_record(key, version="v2")), None)
    assert len(aws.keys(prefix="outputs/")) == 4 and len(aws.bedrock.calls) == 2


def test_a_redelivered_message_of_a_finally_failed_job_makes_no_model_call(aws, no_retry_sleep):
    """A content filter's verdict, an invalid request: running it again pays again for the same answer."""
    key = "triggers/background-removal/a.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))
    aws.bedrock.always(*error(400, "ValidationException", "This request has been blocked by our content filters."))
    trigger(batch(s3_record(key)), None)
    assert manifest_of(aws, key)["status"] == "FAILED" and len(aws.bedrock.calls) == 1

    aws.bedrock.respond(images_for)
    assert trigger(batch(s3_record(key, message_id="m-2")), None) == {"batchItemFailures": []}

    assert manifest_of(aws, key)["status"] == "FAILED" and len(aws.bedrock.calls) == 1


def test_a_new_version_of_the_object_is_a_new_job(aws):
    key = "triggers/background-removal/a.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))
    aws.bedrock.always(*error(400, "ValidationException", "This request has been blocked by our content filters."))
    trigger(batch(s3_record(key, version="v1")), None)

    aws.bedrock.respond(images_for)
    trigger(batch(s3_record(key, version="v2")), None)

    assert manifest_of(aws, key, "v2")["status"] == "SUCCEEDED" and len(aws.bedrock.calls) == 2


def test_a_stored_request_runs_with_its_task_and_its_uploaded_images(aws):
    key = "triggers/requests/poster.json"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/sketch.png", Body=png_bytes(512, 512))
    request = {
        "task": "text-to-image",
        "prompt": "a poster",
        "numberOfImages": 2,
        "width": 512,
        "height": 512,
        "conditionImage": f"s3://{INPUT_BUCKET}/uploads/sketch.png",
    }
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=json.dumps(request).encode())

    assert trigger(batch(s3_record(key)), None) == {"batchItemFailures": []}

    manifest = manifest_of(aws, key)
    assert manifest["status"] == "SUCCEEDED" and len(manifest["images"]) == 2
    assert aws.bedrock.calls[0].body["textToImageParams"]["text"] == "a poster"


def test_a_task_that_needs_a_prompt_records_an_error_and_consumes_the_message(aws):
    key = "triggers/text-to-image/sketch.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))

    assert trigger(batch(s3_record(key)), None) == {"batchItemFailures": []}

    manifest = manifest_of(aws, key)
    assert manifest["status"] == "FAILED" and manifest["error"]["code"] == "invalid_request"
    assert any(d["field"] == "prompt" for d in manifest["error"]["details"])
    assert manifest["source"]["key"] == key
    assert aws.bedrock.calls == []


def test_inpainting_without_a_mask_is_a_recorded_error(aws):
    key = "triggers/inpainting/room.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))

    trigger(batch(s3_record(key)), None)

    assert manifest_of(aws, key)["status"] == "FAILED"
    assert aws.bedrock.calls == []


def test_invalid_inputs_become_error_manifests(aws):
    cases = {
        "triggers/background-removal/notes.txt": b"hello",
        "triggers/unknown-task/x.png": png_bytes(64, 64),
        "triggers/requests/bad.json": b"{not json",
        "triggers/requests/no-task.json": json.dumps({"prompt": "x"}).encode(),
        "triggers/requests/deep.json": b"[" * 100_000 + b"]" * 100_000,
        "triggers/requests/blank.json": json.dumps({"task": "text-to-image", "prompt": " "}).encode(),
    }
    for key, data in cases.items():
        aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=data)

    records = [s3_record(key, message_id=f"m-{i}") for i, key in enumerate(cases)]
    assert trigger(batch(*records), None) == {"batchItemFailures": []}

    for key in cases:
        manifest = manifest_of(aws, key)
        assert manifest["status"] == "FAILED" and manifest["error"]["code"] == "invalid_request", key


def test_a_poison_message_fails_only_itself(aws):
    good = "triggers/background-removal/good.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=good, Body=png_bytes(512, 512))
    poison = {**s3_record(good), "messageId": "poison", "body": "this is not an S3 notification"}

    result = trigger(batch(poison, s3_record(good, message_id="good")), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert manifest_of(aws, good)["status"] == "SUCCEEDED"


def test_throttling_is_reported_for_retry_without_a_manifest(aws, no_retry_sleep):
    key = "triggers/background-removal/a.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))
    aws.bedrock.always(*error(429, "ThrottlingException", "Too many requests"))

    result = trigger(batch(s3_record(key, message_id="throttled")), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "throttled"}]}
    assert aws.keys(prefix="outputs/") == []
    # The trigger's client may wait: more attempts than the sync path's three.
    assert len(aws.bedrock.calls) == 8


def test_an_s3_test_event_is_acknowledged(aws):
    assert trigger(load_event("sqs-s3-test-event.json"), None) == {"batchItemFailures": []}
    assert aws.bedrock.calls == []


def test_objects_outside_triggers_and_folder_markers_are_ignored(aws):
    result = trigger(
        batch(s3_record("triggers/background-removal/"), s3_record("uploads/x.png", message_id="m-2")), None
    )

    assert result == {"batchItemFailures": []}
    assert aws.keys(prefix="outputs/") == []


def test_a_fault_while_validating_fails_the_job_not_the_message(aws, monkeypatch):
    """Validation is deterministic: a message that broke it would break it on every delivery
    and end in the dead-letter queue; the job records the failure instead."""
    from core import jobs

    key = "triggers/background-removal/x.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(jobs, "prepare", broken)

    assert trigger(batch(s3_record(key)), None) == {"batchItemFailures": []}
    manifest = manifest_of(aws, key)
    assert manifest["status"] == "FAILED" and manifest["error"]["code"] == "internal"
    assert "a bug" not in json.dumps(manifest)
