"""Bad input answered 4xx without reaching the model; each Bedrock failure mapped per the contract."""

from __future__ import annotations

import importlib

import pytest
from fake_bedrock import error
from harness import BEDROCK_REGION, INPUT_BUCKET, LambdaContext, api_event, call
from imaging import png_bytes
from stacks import VARIANT

text_to_image = importlib.import_module("text_to_image").handler
background_removal = importlib.import_module("background_removal").handler


def post(body=None, *, raw=None, context=None):
    return call(text_to_image, api_event("/v1/text-to-image", body, raw=raw), context)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"prompt": "x"', "body"),
        ("[1, 2]", "body"),
        ('{"prompt": NaN}', "body"),
        ("", "body"),
        # Deeper than the JSON parser recurses: still the caller's mistake, never a 500.
        ('{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}", "body"),
        ("[" * 100_000, "body"),
    ],
)
def test_malformed_body_is_400_naming_body(aws, raw, field):
    status, body, _ = post(raw=raw)

    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["details"][0]["field"] == field
    assert aws.bedrock.calls == []


def test_invalid_fields_are_400_with_details_and_never_reach_the_model(aws):
    status, body, _ = post({"prompt": "x", "cfgScale": 11, "seed": -1})

    assert status == 400
    assert {d["field"] for d in body["error"]["details"]} == {"cfgScale", "seed"}
    assert aws.bedrock.calls == []

    status, body, _ = post({"prompt": "x", "colour": "red"})

    assert status == 400
    assert body["error"]["details"] == [{"field": "colour", "message": "unknown field"}]
    assert aws.bedrock.calls == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x", "width": 0}, "width"),
        ({"prompt": "x", "height": 0, "width": 1024}, "width"),
        ({"prompt": "x", "height": 0}, "height"),
        ({"model": "titan-image-v2", "prompt": "x", "width": 0, "height": 0}, "width"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "\n\t "}, "prompt"),
        ({"prompt": "x", "negativePrompt": "  "}, "negativePrompt"),
    ],
)
def test_zero_sizes_and_blank_text_are_values_and_refused_by_name(aws, body, field):
    status, result, _ = post(body)

    assert status == 400, result
    assert field in {d["field"] for d in result["error"]["details"]}
    assert aws.bedrock.calls == []


def test_unsupported_model_field_is_400_unsupported(aws):
    status, body, _ = post({"model": "titan-image-v1", "prompt": "x", "aspectRatio": "1:1"})

    assert status == 400 and body["error"]["code"] == "unsupported"
    assert aws.bedrock.calls == []


def test_image_in_another_bucket_is_refused(aws):
    status, body, _ = call(
        background_removal, api_event("/v1/background-removal", {"image": "s3://someone-else/x.png"})
    )

    assert status == 400
    assert body["error"]["details"][0]["field"] == "image"
    assert f"s3://{INPUT_BUCKET}/" in body["error"]["details"][0]["message"]
    assert aws.bedrock.calls == []


def test_image_from_the_input_bucket_is_fetched_and_sent_inline(aws):
    data = png_bytes(320, 320)
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/a.png", Body=data)

    status, body, _ = call(
        background_removal, api_event("/v1/background-removal", {"image": f"s3://{INPUT_BUCKET}/uploads/a.png"})
    )

    assert status == 200, body
    import base64

    assert base64.b64decode(aws.bedrock.calls[0].body["backgroundRemovalParams"]["image"]) == data


def test_missing_input_object_is_400_naming_the_field(aws):
    status, body, _ = call(
        background_removal, api_event("/v1/background-removal", {"image": f"s3://{INPUT_BUCKET}/uploads/none.png"})
    )

    assert status == 400
    assert body["error"]["details"] == [
        {"field": "image", "message": f"s3://{INPUT_BUCKET}/uploads/none.png does not exist (upload it first)"}
    ]


def test_oversized_input_object_is_413_before_it_is_read(aws):
    from core import clients

    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/huge.png", Body=b"\x89PNG" + b"\0" * 10_485_760)
    reads = []
    clients.s3().meta.events.register("provide-client-params.s3.GetObject", lambda params, **kw: reads.append(params))

    status, body, _ = call(
        background_removal, api_event("/v1/background-removal", {"image": f"s3://{INPUT_BUCKET}/uploads/huge.png"})
    )

    assert status == 413
    assert body["error"]["details"][0]["field"] == "image"
    assert reads == [] and aws.bedrock.calls == []


def test_model_not_enabled_in_this_deployment_is_400(aws, monkeypatch):
    from core import clients

    monkeypatch.setenv("IMAGEGEN_MODELS", "titan-image-v2")
    clients.reset()

    status, body, _ = post({"prompt": "x"})

    assert status == 400 and body["error"]["code"] == "unsupported"
    assert body["error"]["details"][0]["field"] == "model"


@pytest.mark.deployed_as("variant")
def test_model_id_overrides_are_the_ids_called_and_the_role_allows_them(aws, monkeypatch):
    """A successor id and a cross-Region inference profile id, as the variant stack deploys them:
    the audit checks the profile's ARN and its foundation model in another region."""
    from fake_bedrock import FakeBedrock

    from core import clients

    monkeypatch.setenv("IMAGEGEN_MODEL_IDS", VARIANT["model_ids"])
    monkeypatch.setenv("IMAGEGEN_BEDROCK_REGION", VARIANT["bedrock_region"])
    clients.reset()
    fake = FakeBedrock()
    fake.install(clients.bedrock())

    status, body, _ = post({"model": "stable-image-core", "prompt": "x"})
    assert status == 200 and body["modelId"] == "us.stability.stable-image-core-v1:1"
    status, body, _ = post({"model": "titan-image-v2", "prompt": "x"})
    assert status == 200 and body["modelId"] == "amazon.titan-image-generator-v2:1"

    assert [call.model_id for call in fake.calls] == [
        "us.stability.stable-image-core-v1:1",
        "amazon.titan-image-generator-v2:1",
    ]


# --- Bedrock failures ------------------------------------------------------------------


def test_throttling_after_retries_is_429_with_retry_after(aws, no_retry_sleep):
    aws.bedrock.always(*error(429, "ThrottlingException", "Too many requests, please wait before trying again."))

    status, body, headers = post({"prompt": "x"})

    assert status == 429 and body["error"]["code"] == "throttled"
    assert int(headers["Retry-After"]) > 0
    assert len(aws.bedrock.calls) == 3, "adaptive retries made every attempt"


def test_throttling_that_clears_on_retry_succeeds(aws, no_retry_sleep):
    from fake_bedrock import images_for

    answers = [error(429, "ThrottlingException", "slow down")]
    aws.bedrock.respond(lambda model_id, body: answers.pop() if answers else images_for(model_id, body))

    status, _, _ = post({"prompt": "x"})

    assert status == 200 and len(aws.bedrock.calls) == 2


def test_model_timeout_is_504_suggesting_async(aws):
    aws.bedrock.always(*error(408, "ModelTimeoutException", "Model has timed out in processing the request."))

    status, body, _ = post({"prompt": "x"})

    assert status == 504 and body["error"]["code"] == "upstream_timeout"
    assert '"mode": "async"' in body["error"]["message"]


def test_read_timeout_is_504_suggesting_async(aws, no_retry_sleep):
    aws.bedrock.timeout()

    status, body, _ = post({"prompt": "x"})

    assert status == 504 and "async" in body["error"]["message"]


def test_a_call_that_cannot_finish_within_the_api_timeout_answers_504_in_time(aws, monkeypatch):
    import time

    aws.bedrock.delay = 3

    started = time.monotonic()
    status, body, _ = post({"prompt": "x"}, context=LambdaContext(remaining_ms=4_000))
    elapsed = time.monotonic() - started

    assert status == 504 and "async" in body["error"]["message"]
    assert elapsed < 2, "the handler answers before the call would have finished"


def test_content_filter_validation_exception_is_422_with_the_models_reason(aws):
    reason = "This request has been blocked by our content filters."
    aws.bedrock.always(*error(400, "ValidationException", reason))

    status, body, _ = post({"prompt": "x"})

    assert status == 422 and body["error"]["code"] == "content_filtered"
    assert reason in body["error"]["message"]


def test_other_validation_exception_is_400_with_bedrocks_message(aws):
    aws.bedrock.always(*error(400, "ValidationException", "Malformed input request: #: extraneous key [x]"))

    status, body, _ = post({"prompt": "x"})

    assert status == 400 and body["error"]["code"] == "invalid_request"
    assert "extraneous key [x]" in body["error"]["message"]


def test_access_denied_is_502_saying_what_to_do_without_bedrocks_message(aws, caplog):
    caplog.set_level("INFO", logger="imagegen")
    raw = (
        "User: arn:aws:sts::123456789012:assumed-role/ImageGen-TextToImageRole/fn is not authorized to perform: "
        "bedrock:InvokeModel on resource: arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-canvas-v1:0"
    )
    aws.bedrock.always(*error(403, "AccessDeniedException", raw))

    status, body, _ = post({"prompt": "x"})

    assert status == 502 and body["error"]["code"] == "upstream_error"
    message = body["error"]["message"]
    assert "amazon.nova-canvas-v1:0" in message and BEDROCK_REGION in message
    # Bedrock's model-access page is retired: a Marketplace model subscribes on its first call
    # (https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html).
    assert "model access" not in message and "make deploy" in message
    assert "aws-marketplace:Subscribe" in message and "--accept-agreements" in message
    assert "assumed-role" not in message and "123456789012" not in message and "fake-request" in message
    assert raw in caplog.text and "fake-request" in caplog.text, "logged whole, with Bedrock's request id"


def test_a_validation_message_reaches_the_caller_with_arns_and_accounts_redacted(aws):
    aws.bedrock.always(
        *error(400, "ValidationException", "Malformed input request: width 1000 for arn:aws:iam::123456789012:x")
    )

    status, body, _ = post({"prompt": "x"})

    assert status == 400
    message = body["error"]["message"]
    assert "Malformed input request: width 1000" in message
    assert "arn:aws" not in message and "123456789012" not in message


@pytest.mark.parametrize(
    "bedrocks_message",
    [
        # What Bedrock answers an id it does not serve in the region it is called in
        # (aws-samples/amazon-bedrock-workshop issues 315 and 340).
        "The provided model identifier is invalid.",
        # ...and a model it serves only through a cross-Region inference profile.
        "Invocation of model ID arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.x with on-demand "
        "throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains "
        "this model.",
    ],
)
def test_a_model_id_or_region_bedrock_refuses_is_the_deployments_502_not_the_callers_400(aws, bedrocks_message):
    aws.bedrock.always(*error(400, "ValidationException", bedrocks_message))

    status, body, _ = post({"prompt": "x"})

    assert status == 502 and body["error"]["code"] == "upstream_error"
    message = body["error"]["message"]
    assert "amazon.nova-canvas-v1:0" in message and BEDROCK_REGION in message and "fake-request" in message
    assert "ValidationException" in message and "inference profile" in message
    assert bedrocks_message not in message and "123456789012" not in message


def test_unknown_model_id_is_502_pointing_to_the_override(aws):
    aws.bedrock.always(*error(404, "ResourceNotFoundException", "Model not found."))

    status, body, _ = post({"prompt": "x"})

    assert status == 502
    assert BEDROCK_REGION in body["error"]["message"] and "override" in body["error"]["message"]


def test_malformed_model_response_is_502(aws):
    aws.bedrock.always(200, b"<html>not json</html>")

    status, body, _ = post({"prompt": "x"})

    assert status == 502 and body["error"]["code"] == "upstream_error"


def test_image_data_and_prompts_stay_out_of_info_logs(aws, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="imagegen")
    aws.bedrock.always(*error(400, "ValidationException", "This request has been blocked by our content filters."))

    post({"prompt": "a secret prompt"})
    post({"prompt": "another secret prompt"})
    call(background_removal, api_event("/v1/background-removal", {"image": "s3://someone-else/x.png"}))

    logged = caplog.text
    assert "secret prompt" not in logged
    assert "iVBOR" not in logged  # base64 PNG


# --- upstream text never reaches the caller -------------------------------------------------

_HTML_PAGE = "<html><body><h1>502 Bad Gateway</h1><p>upstream node ip-10-0-3-17 / build 4f1c</p></body></html>"


@pytest.mark.parametrize(
    ("status", "code", "message", "ours"),
    [
        (500, "InternalServerException", _HTML_PAGE, 502),
        (503, "ServiceUnavailableException", _HTML_PAGE, 502),
        (424, "ModelErrorException", "Traceback (most recent call last): File /opt/model/run.py line 3", 502),
        (400, "ValidationException", _HTML_PAGE, 400),
        (404, "ResourceNotFoundException", "Could not resolve model in cell us-west-2-7b (internal id 99)", 502),
        (429, "ThrottlingException", "Rate exceeded for account 123456789012 on cell 7", 429),
    ],
)
def test_a_caller_reads_our_words_bedrocks_code_and_request_id_never_its_text(
    aws, caplog, no_retry_sleep, status, code, message, ours
):
    caplog.set_level("INFO", logger="imagegen")
    aws.bedrock.always(*error(status, code, message))

    answer_status, body, _ = post({"prompt": "x"})

    assert answer_status == ours
    shown = body["error"]["message"]
    assert code in shown and "fake-request" in shown
    assert message not in shown and "<" not in shown and "ip-10-0-3-17" not in shown and "cell" not in shown
    assert message in caplog.text, "the operator's log keeps Bedrock's text"


def test_a_plain_validation_reason_still_tells_the_caller_what_to_fix(aws):
    aws.bedrock.always(
        *error(400, "ValidationException", "Malformed input request: #/width: 1000 is not a multiple of 64")
    )

    status, body, _ = post({"prompt": "x"})

    assert status == 400 and "1000 is not a multiple of 64" in body["error"]["message"]
