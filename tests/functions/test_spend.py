"""Teams pay for what their keys start: each image's cost at the model's published price, a
monthly budget reserved before any model call and settled after, usage by day and model, and
jobs only their own team reads."""

from __future__ import annotations

import importlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fake_bedrock import error
from harness import INPUT_BUCKET, SPEND_TABLE, api_event, call, job_event
from imaging import png_bytes
from test_async_jobs import publish_event, run_model_like_the_state_machine
from test_triggers import batch, manifest_of, s3_record

from core import budgets

text_to_image = importlib.import_module("text_to_image").handler
jobs_handler = importlib.import_module("jobs").handler
usage_handler = importlib.import_module("usage").handler
publish = importlib.import_module("publish").handler
trigger = importlib.import_module("trigger").handler

# Nova Canvas, standard quality, up to 1024x1024: 0.04 USD an image (registry price).
IMAGE_USD = 0.04


def team(aws, name: str, *keys: str, budget: float | None = None) -> None:
    """What `imagegen admin keys create` records: each key's team, and the team's budget."""
    for key in keys:
        aws.dynamodb.put_item(
            TableName=SPEND_TABLE, Item={"pk": {"S": f"APIKEY#{key}"}, "sk": {"S": "TEAM"}, "team": {"S": name}}
        )
    profile = {"pk": {"S": f"TEAM#{name}"}, "sk": {"S": "PROFILE"}}
    if budget is not None:
        profile["budgetUsd"] = {"N": str(budget)}
    aws.dynamodb.put_item(TableName=SPEND_TABLE, Item=profile)


def as_key(event: dict, key: str) -> dict:
    event["requestContext"]["identity"]["apiKeyId"] = key
    return event


def generate(key: str, body: dict | None = None):
    body = body or {"prompt": "a fox", "width": 1024, "height": 1024}
    return call(text_to_image, as_key(api_event("/v1/text-to-image", body), key))


def month(aws, name: str) -> dict:
    from datetime import UTC, datetime

    item = aws.dynamodb.get_item(
        TableName=SPEND_TABLE,
        Key={"pk": {"S": f"TEAM#{name}"}, "sk": {"S": f"MONTH#{datetime.now(UTC):%Y-%m}"}},
    ).get("Item", {})
    return {name: float(value["N"]) for name, value in item.items() if "N" in value}


@pytest.fixture
def atomic_conditional_updates(monkeypatch):
    """DynamoDB applies a conditional update to one item atomically ("the condition expression
    must evaluate to true in order for the operation to succeed",
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html);
    moto evaluates, then writes, so under threads two updates could both pass. Serialized here,
    as DynamoDB is."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    update_item = DynamoHandler.update_item

    def serialized(self, *args, **kwargs):
        with lock:
            return update_item(self, *args, **kwargs)

    monkeypatch.setattr(DynamoHandler, "update_item", serialized)


# --- the cost of every image ---------------------------------------------------------------


def test_a_sync_answer_and_its_manifest_carry_the_cost_of_its_images(aws):
    status, answer, _ = generate("k1", {"prompt": "a fox", "numberOfImages": 3, "width": 1024, "height": 1024})

    assert status == 200, answer
    assert answer["cost"] == {"usd": 0.12, "model": "nova-canvas", "images": 3}
    assert aws.json(f"outputs/{answer['id']}/manifest.json")["cost"] == answer["cost"]


def test_premium_and_larger_images_cost_their_published_tier(aws):
    status, answer, _ = generate("k1", {"prompt": "a fox", "width": 2048, "height": 1024, "quality": "premium"})

    assert status == 200, answer
    assert answer["cost"]["usd"] == 0.08


def test_an_image_service_costs_per_call(aws):
    status, answer, _ = call(
        importlib.import_module("upscale").handler,
        as_key(
            api_event(
                "/v1/upscale", {"model": "stable-fast-upscale", "image": __import__("imaging").png_b64(512, 512)}
            ),
            "k1",
        ),
    )

    assert status == 200, answer
    assert answer["cost"] == {"usd": 0.03, "model": "stable-fast-upscale", "images": 1}


def test_a_prompt_blocked_before_generating_costs_nothing(aws):
    aws.bedrock.always(*error(400, "ValidationException", "This request has been blocked by our content filters."))
    team(aws, "design", "k1", budget=1)

    status, _, _ = generate("k1")

    assert status == 422
    assert month(aws, "design") == {"committed": 0.0, "spent": 0.0}


def test_the_cost_is_a_metric_by_model_and_task(aws, capsys):
    from test_observability import emf_lines, totals

    generate("k1", {"prompt": "a fox", "numberOfImages": 2, "width": 1024, "height": 1024})

    counted = totals(emf_lines(capsys.readouterr().out), "nova-canvas", "text-to-image")
    assert counted["EstimatedCostUSD"] == pytest.approx(0.08)


# --- budgets -------------------------------------------------------------------------------


def test_a_team_over_its_budget_is_refused_before_any_model_call_and_another_team_is_not(aws):
    team(aws, "design", "k-design", budget=0.05)
    team(aws, "ads", "k-ads", budget=10)

    assert generate("k-design")[0] == 200  # 0.04 of 0.05
    status, answer, _ = generate("k-design")

    assert status == 402 and answer["error"]["code"] == "budget_exceeded"
    message = answer["error"]["message"]
    assert "budget of 0.05 USD" in message and "0.04 USD spent or reserved" in message and "resets on" in message
    assert len(aws.bedrock.calls) == 1, "the refused request never reached the model"
    assert generate("k-ads")[0] == 200


def test_twenty_concurrent_requests_against_a_budget_of_five_images_make_exactly_five(aws, atomic_conditional_updates):
    team(aws, "design", "k1", budget=5 * IMAGE_USD)

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: generate("k1")[0], range(20)))

    assert statuses.count(200) == 5 and statuses.count(402) == 15
    assert len(aws.bedrock.calls) == 5
    assert month(aws, "design") == {"committed": pytest.approx(0.2), "spent": pytest.approx(0.2)}


def test_a_failed_call_releases_its_reservation(aws, no_retry_sleep):
    team(aws, "design", "k1", budget=IMAGE_USD)
    aws.bedrock.always(*error(429, "ThrottlingException", "slow down"))

    assert generate("k1")[0] == 429

    assert month(aws, "design")["committed"] == 0
    from fake_bedrock import images_for

    aws.bedrock.respond(images_for)
    assert generate("k1")[0] == 200, "the whole budget is there again"


def test_an_async_job_reserves_its_whole_cost_up_front_and_settles_when_published(aws):
    team(aws, "design", "k1", budget=1)
    body = {"prompt": "a fox", "numberOfImages": 5, "width": 1024, "height": 1024, "mode": "async"}

    status, started, _ = generate("k1", body)
    assert status == 202
    assert month(aws, "design") == {"committed": pytest.approx(0.2)}

    run_model_like_the_state_machine(aws, started["id"])
    publish(publish_event(started["id"]), None)

    assert month(aws, "design") == {"committed": pytest.approx(0.2), "spent": pytest.approx(0.2)}
    _, job, _ = call(jobs_handler, as_key(job_event(started["id"]), "k1"))
    assert job["cost"] == {"usd": 0.2, "model": "nova-canvas", "images": 5}


def test_a_team_folder_trigger_spends_the_teams_budget_and_fails_over_it(aws):
    team(aws, "design", budget=0.01)
    key = "triggers/teams/design/background-removal/shoe.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))

    assert trigger(batch(s3_record(key)), None) == {"batchItemFailures": []}

    manifest = manifest_of(aws, key)
    assert manifest["status"] == "FAILED" and manifest["error"]["code"] == "budget_exceeded"
    assert aws.bedrock.calls == []


# --- usage ---------------------------------------------------------------------------------


def test_usage_shows_the_callers_team_per_day_and_model(aws):
    from datetime import UTC, datetime

    team(aws, "design", "k1", budget=5)
    generate("k1", {"prompt": "a fox", "numberOfImages": 2, "width": 1024, "height": 1024})
    generate("k1")
    generate("k-other")  # another team's request is not design's

    status, usage, _ = call(usage_handler, as_key(api_event("/v1/usage", method="GET"), "k1"))

    assert status == 200, usage
    today = datetime.now(UTC).date().isoformat()
    assert usage["team"] == "design"
    assert usage["days"] == [{"date": today, "requests": 2, "images": 3, "usd": pytest.approx(0.12)}]
    assert usage["models"] == [{"model": "nova-canvas", "requests": 2, "images": 3, "usd": pytest.approx(0.12)}]
    assert usage["month"]["budgetUsd"] == 5 and usage["month"]["spentUsd"] == pytest.approx(0.12)


@pytest.mark.parametrize(
    ("query", "field"), [({"from": "yesterday"}, "from"), ({"from": "2026-01-01", "to": "2025-01-01"}, "to")]
)
def test_a_bad_usage_range_is_a_400_naming_it(aws, query, field):
    event = as_key(api_event("/v1/usage", method="GET"), "k1")
    event["queryStringParameters"] = query

    status, answer, _ = call(usage_handler, event)

    assert status == 400 and answer["error"]["details"][0]["field"] == field


# --- tenancy -------------------------------------------------------------------------------


def test_another_teams_key_cannot_read_the_job_but_the_same_teams_can(aws):
    team(aws, "design", "k-design", "k-design-2")
    team(aws, "ads", "k-ads")
    _, answer, _ = generate("k-design")

    assert call(jobs_handler, as_key(job_event(answer["id"]), "k-design-2"))[0] == 200
    status, refused, _ = call(jobs_handler, as_key(job_event(answer["id"]), "k-ads"))
    assert status == 404 and refused["error"]["code"] == "not_found"


def test_a_running_job_is_not_shown_to_another_team_either(aws):
    team(aws, "design", "k-design")
    team(aws, "ads", "k-ads")
    _, started, _ = generate("k-design", {"prompt": "a fox", "mode": "async"})

    assert call(jobs_handler, as_key(job_event(started["id"]), "k-design"))[1]["status"] == "RUNNING"
    assert call(jobs_handler, as_key(job_event(started["id"]), "k-ads"))[0] == 404


def test_a_deployment_trigger_job_is_readable_by_any_key(aws):
    key = "triggers/background-removal/shoe.png"
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=png_bytes(512, 512))
    trigger(batch(s3_record(key)), None)
    job_id = manifest_of(aws, key)["id"]

    assert call(jobs_handler, as_key(job_event(job_id), "k-anyone"))[0] == 200


def test_budgets_read_the_reset_month_from_the_calendar():
    from datetime import date

    assert budgets.next_month(date(2026, 12, 31)) == date(2027, 1, 1)
    assert budgets.next_month(date(2026, 1, 31)) == date(2026, 2, 1)
    assert json.dumps(budgets.Reservation("t", "2026-11", 0.2).to_dict())


def test_the_openai_routes_spend_the_same_budget_and_own_their_jobs(aws):
    images_generations = importlib.import_module("images_generations").handler
    team(aws, "design", "k-design", budget=IMAGE_USD)
    team(aws, "ads", "k-ads")
    body = {"prompt": "a fox", "size": "1024x1024", "model": "dall-e-3"}

    status, answer, _ = call(images_generations, as_key(api_event("/v1/images/generations", body), "k-design"))
    assert status == 200, answer
    assert call(jobs_handler, as_key(job_event(answer["job_id"]), "k-ads"))[0] == 404

    status, refused, _ = call(images_generations, as_key(api_event("/v1/images/generations", body), "k-design"))
    assert status == 402 and refused["error"]["code"] == "budget_exceeded" and refused["error"]["param"] == "budget"
