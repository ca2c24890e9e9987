"""POST /v1/uploads and GET /v1/models."""

from __future__ import annotations

import base64
import importlib
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from harness import INPUT_BUCKET, REGION, call, load_event
from s3_post_policy import refusal

from core import clients
from imagegen.registry import BEDROCK_MODELS

PNG_HEADER = b"\x89PNG\r\n\x1a\n"

uploads = importlib.import_module("uploads").handler
models = importlib.import_module("models").handler


def upload_event(body) -> dict:
    event = load_event("api-post-upload.json")
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def upload(aws, content_type: str = "image/png") -> dict:
    status, body, _ = call(uploads, upload_event({"contentType": content_type}))
    assert status == 200, body
    return body


@pytest.mark.parametrize(("content_type", "extension"), [("image/png", "png"), ("image/jpeg", "jpg")])
def test_upload_is_a_presigned_post_whose_policy_fixes_key_type_and_size(aws, content_type, extension):
    body = upload(aws, content_type)

    bucket, _, key = body["s3Uri"].removeprefix("s3://").partition("/")
    assert bucket == INPUT_BUCKET and key.startswith("uploads/") and key.endswith(f".{extension}")
    # The bucket's regional host: the global one redirects new buckets outside us-east-1.
    assert body["uploadUrl"] == f"https://{INPUT_BUCKET}.s3.{REGION}.amazonaws.com/"
    assert body["expiresIn"] == 900
    # The largest input any served model takes (Nova Canvas and Stable Image Core: 10 MiB).
    assert body["maxBytes"] == 10 * 1024 * 1024
    fields = body["fields"]
    assert fields["key"] == key and fields["Content-Type"] == content_type
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"key": key} in policy["conditions"] and {"Content-Type": content_type} in policy["conditions"]
    assert ["content-length-range", 1, body["maxBytes"]] in policy["conditions"]
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert 0 < (expires - datetime.now(UTC)).total_seconds() <= 900


def test_the_upload_limit_follows_the_served_models(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_MODELS", "titan-image-v2")  # Titan takes inputs up to 5 MB
    clients.reset()

    assert upload(aws)["maxBytes"] == 5_000_000


def test_s3_accepts_the_upload_the_policy_describes_and_nothing_else(aws):
    body = upload(aws)
    fields = body["fields"]
    secret = boto3.session.Session().get_credentials().secret_key  # what the function signed with

    assert refusal(fields, 1024, secret) is None
    assert refusal(fields, body["maxBytes"], secret) is None
    assert "outside" in refusal(fields, body["maxBytes"] + 1, secret)
    assert "outside" in refusal(fields, 0, secret)
    assert "Content-Type" in refusal({**fields, "Content-Type": "text/html"}, 1024, secret)
    assert "key" in refusal({**fields, "key": "uploads/other.png"}, 1024, secret)
    assert "signature" in refusal(fields, 1024, "another-secret")
    later = datetime.now(UTC) + timedelta(seconds=901)
    assert refusal(fields, 1024, secret, now=later) == "policy expired"


def test_the_upload_form_stores_the_object_where_s3uri_says(aws):
    import requests  # moto answers requests' calls to AWS endpoints inside mock_aws

    body = upload(aws)

    posted = requests.post(
        body["uploadUrl"], data=body["fields"], files={"file": ("in.png", PNG_HEADER, "image/png")}, timeout=5
    )

    assert posted.status_code == 204, posted.text
    key = body["s3Uri"].split("/", 3)[3]
    assert aws.s3.get_object(Bucket=INPUT_BUCKET, Key=key)["Body"].read() == PNG_HEADER


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contentType": "image/gif"}, "contentType"),
        ({}, "contentType"),
        ({"contentType": "image/png", "size": 5}, "size"),
        ("not json", "body"),
        ("[" * 100_000, "body"),
    ],
)
def test_bad_upload_requests_are_400_naming_the_field(aws, body, field):
    status, result, _ = call(uploads, upload_event(body))

    assert status == 400
    assert result["error"]["details"][0]["field"] == field


def test_models_lists_the_bedrock_models_with_tasks_limits_and_lifecycle(aws):
    status, body, _ = call(models, load_event("api-get-models.json"))

    assert status == 200
    names = [m["name"] for m in body["models"]]
    assert names == list(BEDROCK_MODELS)
    nova = body["models"][0]
    assert "background-removal" in nova["tasks"]
    assert nova["limits"]["cfgScale"] == {"min": 1.1, "max": 10, "default": 6.5}
    assert "status" in nova["lifecycle"]


def test_models_shows_overridden_ids_and_only_enabled_models(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_MODELS", "nova-canvas,stable-image-core")
    monkeypatch.setenv("IMAGEGEN_MODEL_IDS", '{"stable-image-core": "stability.stable-image-core-v1:0"}')
    clients.reset()

    _, body, _ = call(models, load_event("api-get-models.json"))

    assert {m["name"]: m["modelId"] for m in body["models"]} == {
        "nova-canvas": "amazon.nova-canvas-v1:0",
        "stable-image-core": "stability.stable-image-core-v1:0",
    }


def test_models_names_the_model_each_served_task_gets_by_default(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_MODELS", "nova-canvas,stable-image-core")
    monkeypatch.setenv("IMAGEGEN_DEFAULT_MODELS", '{"text-to-image": "nova-canvas", "inpainting": "nova-canvas"}')
    clients.reset()

    _, body, _ = call(models, load_event("api-get-models.json"))

    assert body["defaults"]["text-to-image"] == "nova-canvas"
    assert body["defaults"]["color-guided"] == "nova-canvas"
    assert set(body["defaults"]) == {task for model in body["models"] for task in model["tasks"]}
