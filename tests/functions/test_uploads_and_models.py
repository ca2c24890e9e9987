"""POST /v1/uploads and GET /v1/models."""

from __future__ import annotations

import importlib
import json
from urllib.parse import parse_qs, urlparse

import pytest
from harness import INPUT_BUCKET, call, load_event

uploads = importlib.import_module("uploads").handler
models = importlib.import_module("models").handler


def upload_event(body) -> dict:
    event = load_event("api-post-upload.json")
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


@pytest.mark.parametrize(("content_type", "extension"), [("image/png", "png"), ("image/jpeg", "jpg")])
def test_upload_is_a_short_lived_presigned_put_into_uploads(aws, content_type, extension):
    status, body, _ = call(uploads, upload_event({"contentType": content_type}))

    assert status == 200
    bucket, _, key = body["s3Uri"].removeprefix("s3://").partition("/")
    assert bucket == INPUT_BUCKET and key.startswith("uploads/") and key.endswith(f".{extension}")
    assert body["expiresIn"] == 900 and body["headers"] == {"Content-Type": content_type}
    url = urlparse(body["uploadUrl"])
    query = parse_qs(url.query)
    assert url.path.endswith(key)
    assert query["X-Amz-Expires"] == ["900"]
    assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")


def test_the_upload_url_puts_the_object_where_s3uri_says(aws):
    import requests  # moto answers requests' calls to AWS endpoints inside mock_aws

    _, body, _ = call(uploads, upload_event({"contentType": "image/png"}))

    put = requests.put(body["uploadUrl"], data=b"\x89PNG\r\n\x1a\n", headers=body["headers"], timeout=5)

    assert put.status_code == 200
    key = body["s3Uri"].split("/", 3)[3]
    stored = aws.s3.get_object(Bucket=INPUT_BUCKET, Key=key)
    assert stored["ContentType"] == "image/png" and stored["Body"].read() == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contentType": "image/gif"}, "contentType"),
        ({}, "contentType"),
        ({"contentType": "image/png", "size": 5}, "size"),
        ("not json", "body"),
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
    assert names == ["nova-canvas", "titan-image-v1", "titan-image-v2", "stable-image-core"]
    nova = body["models"][0]
    assert "background-removal" in nova["tasks"]
    assert nova["limits"]["cfgScale"] == {"min": 1.1, "max": 10, "default": 6.5}
    assert "status" in nova["lifecycle"]


def test_models_shows_overridden_ids_and_only_enabled_models(aws, monkeypatch):
    from core import clients

    monkeypatch.setenv("IMAGEGEN_MODELS", "nova-canvas,stable-image-core")
    monkeypatch.setenv("IMAGEGEN_MODEL_IDS", '{"stable-image-core": "stability.stable-image-core-v1:0"}')
    clients.reset()

    _, body, _ = call(models, load_event("api-get-models.json"))

    assert {m["name"]: m["modelId"] for m in body["models"]} == {
        "nova-canvas": "amazon.nova-canvas-v1:0",
        "stable-image-core": "stability.stable-image-core-v1:0",
    }
