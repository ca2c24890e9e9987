"""Whatever a client sends to a task route, the answer is never a 5xx."""

from __future__ import annotations

import importlib
import json

from harness import api_event, call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import payloads

from imagegen.registry import TASKS

models = st.sampled_from(["nova-canvas", "titan-image-v1", "titan-image-v2", "stable-image-core", None])
raw_bodies = st.one_of(st.text(max_size=40), st.just("null"), st.just(""))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task=st.sampled_from(TASKS), payload=payloads, model=models, raw=st.none() | raw_bodies)
def test_no_client_input_produces_a_5xx(aws, task, payload, model, raw):
    if isinstance(payload, dict) and model:
        payload = {**payload, "model": model}
    handler = importlib.import_module(task.replace("-", "_")).handler

    status, body, _ = call(handler, api_event(f"/v1/{task}", raw=json.dumps(payload) if raw is None else raw))

    assert status < 500, body
    if status >= 400:
        assert body["error"]["code"] in {"invalid_request", "unsupported", "payload_too_large"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task=st.sampled_from(TASKS) | st.text(max_size=12), payload=payloads)
def test_a_triggered_request_with_any_input_ends_as_a_manifest_never_in_the_dead_letter_queue(aws, task, payload):
    import uuid

    from harness import INPUT_BUCKET, OUTPUT_BUCKET

    from core.layout import derived_job_id

    trigger = importlib.import_module("trigger").handler
    key = f"triggers/requests/{uuid.uuid4().hex}.json"
    request = {**payload, "task": task} if isinstance(payload, dict) else payload
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=json.dumps(request).encode())
    record = {
        "messageId": "m-1",
        "body": json.dumps(
            {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": INPUT_BUCKET},
                                                                   "object": {"key": key, "eTag": "e1"}}}]}
        ),
    }  # fmt: skip

    assert trigger({"Records": [record]}, None) == {"batchItemFailures": []}
    manifest = aws.json(f"outputs/{derived_job_id(INPUT_BUCKET, key, 'e1')}/manifest.json", OUTPUT_BUCKET)
    assert manifest["status"] in {"SUCCEEDED", "FAILED"}
    if manifest["status"] == "FAILED":
        assert manifest["error"]["code"] in {"invalid_request", "unsupported", "payload_too_large"}, manifest
