"""A triggered job's model call is paid once, whatever SQS delivers: at least once, and the
same message to two workers at a time
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues-at-least-once-delivery.html)."""

from __future__ import annotations

import importlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fake_bedrock import error
from harness import INPUT_BUCKET, OUTPUT_BUCKET
from imaging import png_bytes
from test_triggers import batch, manifest_of, s3_record

from core import claims, layout

trigger = importlib.import_module("trigger").handler
KEY = "triggers/background-removal/shoe.png"


@pytest.fixture
def atomic_conditional_writes(monkeypatch):
    """S3 decides a conditional write atomically: "If multiple conditional writes occur for the
    same object name, the first write operation to finish succeeds"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html). moto checks,
    then writes; under threads two writers could both pass its check. Serialized here, as S3 is."""
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    put_object = S3Response.put_object

    def serialized(self, *args, **kwargs):
        with lock:
            return put_object(self, *args, **kwargs)

    monkeypatch.setattr(S3Response, "put_object", serialized)


def _job_id() -> str:
    return layout.derived_job_id(INPUT_BUCKET, KEY, "v1")


def test_ten_concurrent_deliveries_of_one_object_make_one_model_call(aws, atomic_conditional_writes):
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=KEY, Body=png_bytes(512, 512))
    aws.bedrock.delay = 0.3  # every delivery arrives while the first call is under way

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda n: trigger(batch(s3_record(KEY, message_id=f"m-{n}")), None), range(10)))

    assert len(aws.bedrock.calls) == 1
    assert manifest_of(aws, KEY)["status"] == "SUCCEEDED"
    # The other nine are left to SQS; delivered again, they find the manifest.
    assert sum(len(answer["batchItemFailures"]) for answer in answers) == 9
    aws.bedrock.delay = 0
    assert trigger(batch(s3_record(KEY, message_id="m-late")), None) == {"batchItemFailures": []}
    assert len(aws.bedrock.calls) == 1


def test_a_retryable_fault_releases_the_claim_so_the_next_delivery_runs_at_once(aws, no_retry_sleep):
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=KEY, Body=png_bytes(512, 512))
    aws.bedrock.always(*error(429, "ThrottlingException", "slow down"))

    assert trigger(batch(s3_record(KEY)), None) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    throttled_calls = len(aws.bedrock.calls)

    from fake_bedrock import images_for

    aws.bedrock.respond(images_for)
    assert trigger(batch(s3_record(KEY, message_id="m-2")), None) == {"batchItemFailures": []}
    assert len(aws.bedrock.calls) == throttled_calls + 1
    assert manifest_of(aws, KEY)["status"] == "SUCCEEDED"


def test_a_job_claimed_by_a_live_delivery_is_left_to_sqs_without_a_model_call(aws):
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=KEY, Body=png_bytes(512, 512))
    assert claims.claim(OUTPUT_BUCKET, _job_id(), "another worker") is not None

    assert trigger(batch(s3_record(KEY)), None) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert aws.bedrock.calls == []


def test_the_claim_of_a_delivery_that_died_is_taken_over_once_it_outlived_any_worker(aws, monkeypatch):
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=KEY, Body=png_bytes(512, 512))
    assert claims.claim(OUTPUT_BUCKET, _job_id(), "a worker that timed out") is not None
    # As if the claim were older than a worker can run.
    monkeypatch.setattr(claims, "CLAIM_TTL_SECONDS", 0)
    time.sleep(0.01)

    assert trigger(batch(s3_record(KEY)), None) == {"batchItemFailures": []}
    assert len(aws.bedrock.calls) == 1 and manifest_of(aws, KEY)["status"] == "SUCCEEDED"


def test_two_deliveries_cannot_both_take_over_one_stale_claim(aws, monkeypatch):
    assert claims.claim(OUTPUT_BUCKET, _job_id(), "dead") is not None
    monkeypatch.setattr(claims, "CLAIM_TTL_SECONDS", 0)
    time.sleep(0.01)

    first = claims.claim(OUTPUT_BUCKET, _job_id(), "m-1")
    second = claims.claim(OUTPUT_BUCKET, _job_id(), "m-2")

    # The first took it over; to the second it is a fresh claim of a live delivery... unless
    # the TTL is zero, when it may take it over in turn, but never with the first's ETag.
    assert first is not None
    assert second is None or second.etag != first.etag
    monkeypatch.setattr(claims, "CLAIM_TTL_SECONDS", 3600)
    assert claims.claim(OUTPUT_BUCKET, _job_id(), "m-3") is None
