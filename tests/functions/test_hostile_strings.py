"""Strings that cannot be encoded (a lone UTF-16 surrogate, which JSON may spell as "\\ud800")
are refused where they arrive, naming the field: they would otherwise fail deep inside
botocore, as an S3 key, a header or a URL, with a 500."""

from __future__ import annotations

import importlib
import json

import pytest
from harness import INPUT_BUCKET, api_event, call
from test_triggers import batch, manifest_of, s3_record

LONE = "\ud800"


def _raw(body: dict) -> str:
    # json.dumps writes the lone surrogate as the escape "\ud800", as a client would send it.
    return json.dumps(body)


@pytest.mark.parametrize(
    ("module", "path", "body", "field"),
    [
        ("background_removal", "/v1/background-removal", {"image": f"s3://{INPUT_BUCKET}/uploads/{LONE}.png"}, "image"),
        ("upscale", "/v1/upscale", {"image": f"s3://{INPUT_BUCKET}/uploads/{LONE}.png"}, "image"),
        (
            "image_variation",
            "/v1/image-variation",
            {"images": [f"s3://{INPUT_BUCKET}/uploads/{LONE}.png"]},
            "images[0]",
        ),
        ("text_to_image", "/v1/text-to-image", {"prompt": f"a fox {LONE}"}, "prompt"),
        ("text_to_image", "/v1/text-to-image", {"prompt": "a fox", f"x{LONE}": 1}, "x\\ud800"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_its_field(aws, module, path, body, field):
    handler = importlib.import_module(module).handler

    status, answer, _ = call(handler, api_event(path, raw=_raw(body)))

    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_request"
    assert answer["error"]["details"][0]["field"] == field
    assert aws.bedrock.calls == []


def test_a_surrogate_pair_is_text_and_goes_through(aws):
    handler = importlib.import_module("text_to_image").handler

    status, answer, _ = call(handler, api_event("/v1/text-to-image", raw='{"prompt": "a fox \\ud83e\\udd8a"}'))

    assert status == 200, answer


def test_utf8_encoded_surrogates_are_not_utf8(aws):
    """CESU-style bytes (ED A0 80) are not UTF-8; Python's json.loads would let them in."""
    handler = importlib.import_module("text_to_image").handler
    event = api_event("/v1/text-to-image")
    event["body"] = __import__("base64").b64encode(b'{"prompt": "a \xed\xa0\x80"}').decode()
    event["isBase64Encoded"] = True

    status, answer, _ = call(handler, event)

    assert status == 400 and answer["error"]["details"] == [{"field": "body", "message": "is not UTF-8 text"}]


def test_a_stored_trigger_request_with_a_lone_surrogate_fails_its_job_naming_the_field(aws):
    trigger = importlib.import_module("trigger").handler
    key = "triggers/requests/bad.json"
    body = _raw({"task": "background-removal", "image": f"s3://{INPUT_BUCKET}/uploads/{LONE}.png"})
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body.encode())

    assert trigger(batch(s3_record(key)), None) == {"batchItemFailures": []}

    manifest = manifest_of(aws, key)
    assert manifest["status"] == "FAILED" and manifest["error"]["code"] == "invalid_request"
    assert manifest["error"]["details"][0]["field"] == "image"
    assert aws.bedrock.calls == []


def test_a_body_of_many_unknown_fields_gets_a_short_answer_naming_the_first_ones(aws):
    """300,000 unknown keys (4 MB) would otherwise be listed one by one, past Lambda's 6 MB."""
    import time

    handler = importlib.import_module("text_to_image").handler
    body = {"prompt": "a fox", **{f"k{n}": 0 for n in range(300_000)}}

    started = time.monotonic()
    response = handler(api_event("/v1/text-to-image", body), None)
    elapsed = time.monotonic() - started

    assert response["statusCode"] == 400 and len(response["body"]) < 4_000
    details = json.loads(response["body"])["error"]["details"]
    assert len(details) == 11 and details[-1] == {"field": "body", "message": "and 299,990 more fields with errors"}
    assert elapsed < 10, elapsed
