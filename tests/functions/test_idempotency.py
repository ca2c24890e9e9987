"""Idempotency-Key (DESIGN §7): a POST sent again with the same key gets the first answer, and
the model is called once; the real Powertools over moto's DynamoDB, under the IAM audit."""

from __future__ import annotations

import importlib
import json
import threading
import time

import pytest
from fake_bedrock import error, images_for
from harness import IDEMPOTENCY_TABLE, OUTPUT_BUCKET, api_event, call
from test_spend import as_key, team

from core import idempotency
from core.topology import TABLES

text_to_image = importlib.import_module("text_to_image").handler
images_generations = importlib.import_module("images_generations").handler

FOX = {"prompt": "a fox", "width": 512, "height": 512}
KEY = "8d0c6c1e-5f7a-4d2b-9c43-0e5b1f3a7d21"


def keyed(path: str, body: dict, key: str = KEY, header: str = "Idempotency-Key") -> dict:
    event = api_event(path, body)
    event["headers"][header] = key
    return event


def records(aws) -> list[dict]:
    return aws.dynamodb.scan(TableName=IDEMPOTENCY_TABLE)["Items"]


def executions(aws) -> list[dict]:
    return aws.sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]


# --- the same request again ------------------------------------------------------------------


def test_a_retried_request_with_the_same_key_makes_one_model_call(aws):
    first = call(text_to_image, keyed("/v1/text-to-image", FOX))
    again = call(text_to_image, keyed("/v1/text-to-image", FOX))

    assert first[0] == again[0] == 200, first[1]
    assert again[1] == first[1], "the first answer: the same job id, the same images"
    assert len(aws.bedrock.calls) == 1
    assert again[2]["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first[2]


def test_a_retried_async_request_starts_one_job(aws):
    body = {**FOX, "mode": "async"}

    first = call(text_to_image, keyed("/v1/text-to-image", body))
    again = call(text_to_image, keyed("/v1/text-to-image", body))

    assert first[0] == again[0] == 202, first[1]
    assert again[1]["id"] == first[1]["id"] and again[2]["Location"] == first[2]["Location"]
    assert len(executions(aws)) == 1


def test_a_retry_while_the_first_is_running_is_a_409_with_retry_after_and_no_second_call(aws):
    aws.bedrock.delay = 1.0
    answers = {}
    first = threading.Thread(target=lambda: answers.update(first=call(text_to_image, keyed("/v1/text-to-image", FOX))))
    first.start()
    deadline = time.monotonic() + 10
    while not aws.bedrock.calls and time.monotonic() < deadline:
        time.sleep(0.01)

    status, body, headers = call(text_to_image, keyed("/v1/text-to-image", FOX))
    first.join()

    assert status == 409, body
    assert body["error"]["code"] == "idempotency_in_progress" and "Idempotency-Key" in body["error"]["message"]
    assert int(headers["Retry-After"]) > 0
    assert answers["first"][0] == 200
    # Once the first has its answer, the retry gets it.
    assert call(text_to_image, keyed("/v1/text-to-image", FOX))[1] == answers["first"][1]
    assert len(aws.bedrock.calls) == 1


# --- what a key is ---------------------------------------------------------------------------


def test_the_same_key_with_another_body_is_a_422_naming_the_header(aws):
    call(text_to_image, keyed("/v1/text-to-image", FOX))

    status, body, _ = call(text_to_image, keyed("/v1/text-to-image", {**FOX, "prompt": "a wolf"}))

    assert status == 422
    assert body["error"]["code"] == "idempotency_key_reused"
    assert body["error"]["details"][0]["field"] == "Idempotency-Key"
    assert len(aws.bedrock.calls) == 1


def test_the_same_key_on_another_route_is_a_422(aws):
    call(text_to_image, keyed("/v1/text-to-image", FOX))

    status, body, _ = call(images_generations, keyed("/v1/images/generations", {"prompt": "a fox"}))

    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"


def test_two_teams_sending_the_same_key_each_get_their_own_answer(aws):
    team(aws, "red", "k-red")
    team(aws, "blue", "k-blue")

    red = call(text_to_image, as_key(keyed("/v1/text-to-image", FOX), "k-red"))
    blue = call(text_to_image, as_key(keyed("/v1/text-to-image", FOX), "k-blue"))
    red_again = call(text_to_image, as_key(keyed("/v1/text-to-image", FOX), "k-red"))

    assert red[0] == blue[0] == 200
    assert red[1]["id"] != blue[1]["id"]
    assert red_again[1]["id"] == red[1]["id"]
    assert len(aws.bedrock.calls) == 2


def test_the_header_name_is_matched_in_any_case(aws):
    first = call(text_to_image, keyed("/v1/text-to-image", FOX, header="idempotency-key"))
    again = call(text_to_image, keyed("/v1/text-to-image", FOX, header="IDEMPOTENCY-KEY"))

    assert again[1]["id"] == first[1]["id"]
    assert len(aws.bedrock.calls) == 1


@pytest.mark.parametrize("key", ["", "k" * 256, "clé", "a\x01b", "line\nbreak"])
def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_a_400_naming_the_header(aws, key):
    status, body, _ = call(text_to_image, keyed("/v1/text-to-image", FOX, key=key))

    assert status == 400, body
    assert body["error"]["details"][0]["field"] == "Idempotency-Key"
    assert aws.bedrock.calls == [] and records(aws) == []


def test_a_deployment_without_the_table_refuses_the_header(aws, monkeypatch):
    monkeypatch.delenv("IMAGEGEN_IDEMPOTENCY_TABLE")
    aws.reconfigure()

    status, body, _ = call(text_to_image, keyed("/v1/text-to-image", FOX))

    assert status == 400 and body["error"]["details"][0]["field"] == "Idempotency-Key"
    assert aws.bedrock.calls == []


# --- what is kept ----------------------------------------------------------------------------


def test_a_400_is_not_kept_and_the_key_serves_the_corrected_request(aws):
    bad = {**FOX, "width": 13}

    assert call(text_to_image, keyed("/v1/text-to-image", bad))[0] == 400
    assert records(aws) == []
    status, body, _ = call(text_to_image, keyed("/v1/text-to-image", FOX))

    assert status == 200, body
    assert len(aws.bedrock.calls) == 1


def test_a_throttled_answer_is_not_kept_and_the_retry_calls_the_model(aws, no_retry_sleep):
    aws.bedrock.always(*error(429, "ThrottlingException", "Too many requests, please wait before trying again."))
    status, _, headers = call(text_to_image, keyed("/v1/text-to-image", FOX))
    assert status == 429 and "Retry-After" in headers
    throttled = len(aws.bedrock.calls)

    aws.bedrock.respond(images_for)
    status, body, _ = call(text_to_image, keyed("/v1/text-to-image", FOX))

    assert status == 200, body
    assert len(aws.bedrock.calls) == throttled + 1


def test_a_record_lasts_24_hours_and_a_running_request_holds_its_key_for_its_functions_time(aws):
    before = time.time()
    call(text_to_image, keyed("/v1/text-to-image", FOX))

    [record] = records(aws)
    assert record["status"]["S"] == "COMPLETED"
    assert before + 24 * 3600 - 5 <= int(record["expiration"]["N"]) <= time.time() + 24 * 3600 + 5
    # LambdaContext's 29 s: the longest a dead request keeps the key from its retry.
    held = int(record["in_progress_expiration"]["N"]) / 1000 - before
    assert 0 < held <= 29 + 5
    # The key is the caller's key hashed, never the key itself.
    assert KEY not in json.dumps(record)


def test_the_records_attributes_are_the_tables_key_and_ttl():
    assert TABLES["idempotency"] == (idempotency.KEY_ATTRIBUTE, None, idempotency.EXPIRY_ATTRIBUTE)


def test_an_answer_too_large_for_a_record_is_kept_in_the_output_bucket_and_replayed_whole(aws, monkeypatch):
    # The test's images are small: the limit is lowered to what a real base64 answer exceeds.
    monkeypatch.setattr(idempotency, "MAX_RECORD_BYTES", 1000)
    body = {**FOX, "responseFormat": "base64"}

    first = text_to_image(keyed("/v1/text-to-image", body), None)
    again = text_to_image(keyed("/v1/text-to-image", body), None)

    assert first["statusCode"] == again["statusCode"] == 200
    assert again["body"] == first["body"] and "base64" in json.loads(again["body"])["images"][0]
    assert len(aws.bedrock.calls) == 1
    [record] = records(aws)
    assert len(record["data"]["S"]) < 1000
    assert aws.keys(OUTPUT_BUCKET, idempotency.ANSWERS_PREFIX) == [json.loads(record["data"]["S"])["bodyKey"]]


def failing(operation: str):
    """The idempotency table's ``operation`` failing as an unreachable DynamoDB does (the spend
    table, on the same client, still answers)."""
    from botocore.exceptions import EndpointConnectionError

    from core import clients

    def fail(params, **kwargs):
        if params.get("TableName") == IDEMPOTENCY_TABLE:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-west-2.amazonaws.com")

    clients.dynamodb().meta.events.register(f"before-parameter-build.dynamodb.{operation}", fail)


def test_a_table_that_fails_before_the_answer_refuses_the_request_without_a_model_call(aws):
    failing("PutItem")

    status, body, _ = call(text_to_image, keyed("/v1/text-to-image", FOX))

    assert status == 502 and "Idempotency-Key" in body["error"]["message"]
    assert aws.bedrock.calls == []


def test_a_table_that_fails_after_the_answer_still_sends_the_paid_answer(aws):
    failing("UpdateItem")

    status, body, _ = call(text_to_image, keyed("/v1/text-to-image", FOX))

    assert status == 200 and body["images"], body
    # The unfinished record holds the key until the function's time is up: no second call.
    assert call(text_to_image, keyed("/v1/text-to-image", FOX))[0] == 409
    assert len(aws.bedrock.calls) == 1


# --- the OpenAI routes -----------------------------------------------------------------------


def test_openai_generations_with_the_same_key_call_the_model_once(aws):
    body = {"prompt": "a fox", "model": "gpt-image-1", "size": "1024x1024"}

    first = call(images_generations, keyed("/v1/images/generations", body))
    again = call(images_generations, keyed("/v1/images/generations", body))

    assert first[0] == again[0] == 200, first[1]
    assert again[1] == first[1] and "b64_json" in again[1]["data"][0]
    assert again[2]["X-ImageGen-Job-Id"] == first[2]["X-ImageGen-Job-Id"]
    assert len(aws.bedrock.calls) == 1


def test_openai_routes_answer_a_reused_key_in_openais_error_shape(aws):
    call(images_generations, keyed("/v1/images/generations", {"prompt": "a fox"}))

    status, body, _ = call(images_generations, keyed("/v1/images/generations", {"prompt": "a wolf"}))

    assert status == 422
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "Idempotency-Key"
    assert body["error"]["code"] == "idempotency_key_reused"
