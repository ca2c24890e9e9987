"""The sync path answers within API Gateway's integration timeout counted from the request:
a cold start's init is part of it (API Gateway's IntegrationLatency runs "between when API
Gateway relays a request to the backend and when it receives a response from the backend",
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html)."""

from __future__ import annotations

import importlib
import time

import pytest
from harness import api_event, call

from core import http

text_to_image = importlib.import_module("text_to_image").handler

# With a 6 s API timeout and the 3 s kept back for storing, a request may spend 3 s at the model;
# it has waited 2.5 s before the handler ran, so 0.5 s are left for a call that takes 1.5 s.
API_TIMEOUT_SECONDS = "6"
WAITED_SECONDS = 2.5


@pytest.fixture
def short_api_timeout(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_SYNC_TIMEOUT_SECONDS", API_TIMEOUT_SECONDS)
    aws.reconfigure()
    aws.bedrock.delay = 1.5
    monkeypatch.setattr(http, "_first_request", False)
    return aws


def test_a_cold_start_counts_against_the_api_timeout(short_api_timeout, monkeypatch):
    monkeypatch.setattr(http, "_first_request", True)
    monkeypatch.setattr(http, "_LOADED_AT", time.monotonic() - WAITED_SECONDS)

    started = time.monotonic()
    status, body, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x"}))

    assert status == 504 and '"mode": "async"' in body["error"]["message"]
    assert time.monotonic() - started < 1.2, "answered when the API's time (not the handler's) ran out"


def test_the_time_a_request_waited_at_the_gateway_counts_against_the_api_timeout(short_api_timeout):
    event = api_event("/v1/text-to-image", {"prompt": "x"})
    event["requestContext"]["requestTimeEpoch"] = int((time.time() - WAITED_SECONDS) * 1000)

    status, _, _ = call(text_to_image, event)

    assert status == 504


def test_a_warm_container_gets_the_whole_budget(short_api_timeout):
    event = api_event("/v1/text-to-image", {"prompt": "x"})
    event["requestContext"]["requestTimeEpoch"] = int(time.time() * 1000)

    status, body, _ = call(text_to_image, event)

    assert status == 200, body


@pytest.mark.parametrize("skew_seconds", [-30, 3600])
def test_a_gateway_clock_that_disagrees_is_not_taken_for_waiting(short_api_timeout, skew_seconds):
    event = api_event("/v1/text-to-image", {"prompt": "x"})
    event["requestContext"]["requestTimeEpoch"] = int((time.time() - skew_seconds) * 1000)

    status, body, _ = call(text_to_image, event)

    assert status == 200, body


# --- triggers: a model call is paid once, and its retries fit the function's time ---------

trigger = importlib.import_module("trigger").handler


def _dropped_image(aws) -> dict:
    from harness import INPUT_BUCKET
    from imaging import png_bytes
    from test_triggers import batch, s3_record

    key = "triggers/background-removal/shoe.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))
    return batch(s3_record(key))


def test_a_read_timeout_is_never_retried_into_a_second_paid_generation(aws, no_retry_sleep):
    """The request reached the model: it may have generated, and billed, the images."""
    from harness import LambdaContext

    aws.bedrock.timeout()

    result = trigger(_dropped_image(aws), LambdaContext(remaining_ms=600_000))

    assert len(aws.bedrock.calls) == 1
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}, "SQS retries the message later"


def test_throttled_calls_are_retried_while_another_attempt_fits_the_time_left(aws, no_retry_sleep):
    from fake_bedrock import error
    from harness import LambdaContext

    aws.bedrock.always(*error(429, "ThrottlingException", "Too many requests"))

    trigger(_dropped_image(aws), LambdaContext(remaining_ms=600_000))
    assert len(aws.bedrock.calls) == 8, "the long client's attempts, each of which fits"

    aws.bedrock.calls.clear()
    # 5 minutes left: one attempt at the 300 s read timeout would not end before the function's.
    result = trigger(_dropped_image(aws), LambdaContext(remaining_ms=300_000))
    assert len(aws.bedrock.calls) == 1
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
