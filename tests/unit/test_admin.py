"""`imagegen admin keys` (client/imagegen_client/admin.py) against API Gateway and DynamoDB in moto,
in-process: what it makes for a team, and that the functions read it as the spend table's
contract says (core/budgets.py, core/callers.py). The stack is found from CloudFormation's
answer, stubbed."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, date, datetime
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from core import budgets, callers, clients
from imagegen.cost import Cost
from imagegen.errors import BudgetExceededError
from imagegen_client import admin
from imagegen_client.admin import Admin, AdminError, Target
from imagegen_client.tables import keys_table, usage_table

REGION = "us-east-1"
TABLE = "imagegen-spend"
STAGE = "prod"
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def stack(monkeypatch):
    """A deployed stack as far as keys go: the REST API's stage, its own plan and key, the spend table."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "IMAGEGEN_SPEND_TABLE": TABLE,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    with mock_aws():
        apigateway, dynamodb = boto3.client("apigateway"), boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            BillingMode="PAY_PER_REQUEST",
        )
        api = apigateway.create_rest_api(name="ImageGen")
        root = apigateway.get_resources(restApiId=api["id"])["items"][0]
        apigateway.put_method(restApiId=api["id"], resourceId=root["id"], httpMethod="GET", authorizationType="NONE")
        apigateway.put_integration(restApiId=api["id"], resourceId=root["id"], httpMethod="GET", type="MOCK")
        apigateway.create_deployment(restApiId=api["id"], stageName=STAGE)
        plan = apigateway.create_usage_plan(
            name="ImageGen", apiStages=[{"apiId": api["id"], "stage": STAGE}],
            throttle={"rateLimit": 5.0, "burstLimit": 10}, quota={"limit": 5000, "period": "DAY"},
        )  # fmt: skip
        key = apigateway.create_api_key(name="ImageGen-default", enabled=True)
        apigateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        # Another API's plan in the same account: not this stack's.
        other = apigateway.create_rest_api(name="Other")
        apigateway.create_usage_plan(name="other", apiStages=[{"apiId": other["id"], "stage": STAGE}],
                                     tags={"team": "elsewhere"})  # fmt: skip
        clients.reset()
        callers.forget()
        target = Target("stack ImageGen", api["id"], STAGE, TABLE, plan["id"], key["id"], REGION)
        yield Admin(target, apigateway, dynamodb, now=lambda: NOW)
    clients.reset()
    callers.forget()


def item(manager: Admin, pk: str, sk: str) -> dict:
    return manager.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item", {})


def test_create_gives_the_team_a_plan_on_the_stage_a_key_in_it_and_its_spend_table_items(stack):
    made = stack.create("design", 2000, budget=Decimal("150"))

    plan = stack.apigateway.get_usage_plan(usagePlanId=made.usage_plan_id)
    key = stack.apigateway.get_api_key(apiKey=made.key_id, includeValue=True)
    [member] = stack.apigateway.get_usage_plan_keys(usagePlanId=made.usage_plan_id)["items"]
    profile = item(stack, "TEAM#design", "PROFILE")

    assert plan["name"] == "imagegen-design" and plan["tags"] == {"team": "design"}
    assert plan["apiStages"] == [{"apiId": stack.target.rest_api_id, "stage": STAGE}]
    assert plan["quota"] == {"limit": 2000, "period": "DAY"}
    assert plan["throttle"] == {"rateLimit": 5.0, "burstLimit": 10}  # the stack's own plan's
    assert key["enabled"] and key["name"] == "imagegen-design" and key["tags"] == {"team": "design"}
    assert key["value"] == made.value and member["id"] == made.key_id
    assert item(stack, f"APIKEY#{made.key_id}", "TEAM")["team"] == {"S": "design"}
    assert profile["budgetUsd"] == {"N": "150"} and profile["quota"] == {"N": "2000"}
    assert profile["throttle"] == {"M": {"rateLimit": {"N": "5.0"}, "burstLimit": {"N": "10"}}}
    assert profile["created"] == {"S": "2026-11-20T09:30:00Z"}
    assert profile["usagePlanId"] == {"S": made.usage_plan_id}


def test_the_functions_read_the_team_and_budget_it_wrote(stack):
    made = stack.create("design", 100, budget=Decimal("0.05"))

    assert callers.team_of_key(made.key_id) == "design"
    assert callers.team_of_key(stack.target.default_key_id) == "default"
    assert budgets.budget_of("design") == Decimal("0.05")
    budgets.reserve("design", Cost(0.04, "nova-canvas", 1))
    with pytest.raises(BudgetExceededError):
        budgets.reserve("design", Cost(0.04, "nova-canvas", 1))
    stack.set_budget("design", None)
    assert budgets.budget_of("design") is None


def test_usage_is_what_get_v1_usage_answers_from_the_same_items(stack):
    stack.create("design", 100, budget=Decimal("10"))
    for model, usd in (("nova-canvas", 0.04), ("nova-canvas", 0.04), ("stable-image-core", 0.03)):
        budgets.settle(budgets.reserve("design", Cost(usd, model, 1)), Cost(usd, model, 1))
    today = datetime.now(UTC).date()
    stack._now = lambda: datetime.now(UTC)

    mine = stack.usage("design", date(today.year, today.month, 1), today)
    theirs = budgets.usage("design", date(today.year, today.month, 1), today)

    assert mine == theirs
    assert mine["models"] == [
        {"model": "nova-canvas", "requests": 2, "images": 2, "usd": 0.08},
        {"model": "stable-image-core", "requests": 1, "images": 1, "usd": 0.03},
    ]
    assert mine["month"]["committedUsd"] == 0.11 and mine["month"]["budgetUsd"] == 10
    text = usage_table(mine)
    assert (
        "stable-image-core         1       1  0.0300" in text and "total                     3       3  0.1100" in text
    )
    assert "0.11 of a 10 USD budget spent" in text


def test_rotate_makes_a_new_key_in_the_plan_and_disables_the_old_one(stack):
    first = stack.create("design", 100, budget=Decimal("10"))

    second = stack.rotate("design")
    third = stack.rotate("design", keep_old=True)

    enabled = {key["id"]: key["enabled"] for key in stack.apigateway.get_api_keys()["items"]}
    members = {key["id"] for key in stack.apigateway.get_usage_plan_keys(usagePlanId=first.usage_plan_id)["items"]}
    assert second.disabled == (first.key_id,) and second.usage_plan_id == first.usage_plan_id
    assert third.kept == (second.key_id,) and third.disabled == ()
    assert enabled[first.key_id] is False and enabled[second.key_id] is True and enabled[third.key_id] is True
    assert members == {first.key_id, second.key_id, third.key_id}
    assert callers.team_of_key(third.key_id) == "design"
    assert second.budget == Decimal("10") and second.quota == {"limit": 100, "period": "DAY"}


def test_revoke_disables_every_key_of_the_team_and_keeps_them(stack):
    made = stack.create("design", 100, budget=None)
    rotated = stack.rotate("design", keep_old=True)

    team, disabled = stack.revoke("design")

    keys = {key["id"]: key["enabled"] for key in stack.apigateway.get_api_keys()["items"]}
    assert team == "design" and sorted(disabled) == sorted([made.key_id, rotated.key_id])
    assert keys[made.key_id] is False and keys[rotated.key_id] is False
    assert item(stack, "TEAM#design", "PROFILE")["revoked"] == {"S": "2026-11-20T09:30:00Z"}
    assert item(stack, f"APIKEY#{made.key_id}", "TEAM")  # the history stays
    # A new key brings the team back.
    again = stack.rotate("design")
    assert again.disabled == () and "revoked" not in item(stack, "TEAM#design", "PROFILE")


def test_one_key_is_revoked_by_id_even_the_stacks_own(stack):
    assert stack.revoke(key_id=stack.target.default_key_id) == ("default", [stack.target.default_key_id])
    with pytest.raises(AdminError, match="no API key nope"):
        stack.revoke(key_id="nope")


def test_list_shows_every_team_of_this_stage_with_its_month_and_never_a_key_value(stack):
    made = stack.create("design", 2000, rate=2, burst=4, budget=Decimal("150"))
    stack.create("research", 100, budget=None)
    stack.dynamodb.put_item(TableName=TABLE, Item={
        "pk": {"S": "TEAM#design"}, "sk": {"S": "MONTH#2026-11"}, "committed": {"N": "1.2"}, "spent": {"N": "1.04"},
    })  # fmt: skip

    teams = stack.teams()

    assert [team["team"] for team in teams] == ["default", "design", "research"]  # not the other API's
    design = teams[1]
    assert design["keys"] == [{"id": made.key_id, "enabled": True, "created": design["keys"][0]["created"]}]
    assert design["quota"] == {"limit": 2000, "period": "DAY"}
    assert design["throttle"] == {"rateLimit": 2.0, "burstLimit": 4}
    assert (design["budgetUsd"], design["committedUsd"], design["spentUsd"]) == (150, 1.2, 1.04)
    assert teams[2]["budgetUsd"] is None
    text = keys_table(teams)
    assert made.value not in text + json.dumps(teams)
    assert f"{made.key_id} (enabled)" in text and "2000/day" in text and "2/s burst 4" in text


def test_quota_and_throttle_change_in_the_plan(stack):
    made = stack.create("design", 100, budget=None)

    team = stack.set_quota("design", 500, None, 20)

    plan = stack.apigateway.get_usage_plan(usagePlanId=made.usage_plan_id)
    assert plan["quota"]["limit"] == 500 and plan["throttle"]["burstLimit"] == 20
    assert team.quota == {"limit": 500, "period": "DAY"}
    assert item(stack, "TEAM#design", "PROFILE")["quota"] == {"N": "500"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda admin: admin.create("design", 5, budget=None), "team design exists"),
        (lambda admin: admin.create("default", 5, budget=None), "team of the stack's own key"),
        (lambda admin: admin.rotate("default"), "cannot rotate team default"),
        (lambda admin: admin.revoke("nobody"), "no team nobody in stack ImageGen"),
        (lambda admin: admin.usage("nobody", NOW.date(), NOW.date()), "teams: default, design"),
    ],
    ids=["exists", "create-default", "rotate-default", "revoke-unknown", "usage-unknown"],
)
def test_refusals_name_the_team_and_what_to_do(stack, call, message):
    stack.create("design", 5, budget=None)

    with pytest.raises(AdminError, match=message):
        call(stack)


def test_a_budget_for_the_stacks_own_team_is_its_profile(stack):
    stack.set_budget("default", Decimal("25"))

    assert budgets.budget_of("default") == Decimal("25")


# --- the stack, from CloudFormation ----------------------------------------------------------------

OUTPUTS = {
    "RestApiId": "a1b2c3", "ApiStageName": "prod", "SpendTableName": "ImageGen-TablesSpend-XYZ",
    "UsagePlanId": "plan9", "ApiKeyId": "key7", "ApiUrl": "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/prod/v1",
}  # fmt: skip


def cloudformation():
    client = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def describe(outputs: dict[str, str]) -> dict:
    return {"Stacks": [{
        "StackName": "ImageGen", "CreationTime": NOW, "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
    }]}  # fmt: skip


def test_the_stack_is_read_from_its_outputs():
    client, stub = cloudformation()
    stub.add_response("describe_stacks", describe(OUTPUTS), {"StackName": "ImageGen"})

    with stub:
        target = admin.find_stack(client, "ImageGen")

    assert target == Target("stack ImageGen in eu-west-1", "a1b2c3", "prod", "ImageGen-TablesSpend-XYZ", "plan9",
                            "key7", "eu-west-1")  # fmt: skip


def test_a_stack_deployed_before_keys_per_team_says_to_deploy():
    client, stub = cloudformation()
    stub.add_response("describe_stacks", describe({"ApiUrl": OUTPUTS["ApiUrl"]}), {"StackName": "ImageGen"})

    with stub, pytest.raises(AdminError, match=r"no output RestApiId, ApiStageName, SpendTableName.*make deploy"):
        admin.find_stack(client, "ImageGen")


def test_a_missing_stack_names_the_stack_and_region():
    client, stub = cloudformation()
    stub.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id Nope does not exist", 400, {"StackName": "Nope"}
    )

    with stub, pytest.raises(AdminError, match=r"no stack Nope in eu-west-1.*--stack.*--region"):
        admin.find_stack(client, "Nope")


def test_without_credentials_it_says_whose_to_use(monkeypatch, tmp_path):
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(AdminError, match=r"no AWS credentials.*deployer"):
        admin.connect(stack="ImageGen", local=None, region="eu-west-1")


def test_a_stack_json_of_an_older_make_run_says_to_restart_it():
    with pytest.raises(AdminError, match=r"no restApiId, stage, spendTable, endpoint.*restart"):
        admin.target_of_local({"api": "http://127.0.0.1:8787/v1", "apiKey": "local-dev-key"})


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (admin.positive_int, "2000", 2000),
        (admin.budget_usd, "150", Decimal("150.0000")),
        (admin.budget_usd, "0", Decimal("0.0000")),
        (admin.budget_or_none, "none", None),
        (admin.positive_rate, "2.5", 2.5),
        (admin.team_name, "data-science", "data-science"),
    ],
)
def test_argument_values_taken(kind, value, expected):
    assert kind(value) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (admin.positive_int, "0"), (admin.positive_int, "-3"), (admin.positive_int, "2.5"),
        (admin.budget_usd, "ten"), (admin.budget_usd, "-1"), (admin.budget_usd, "NaN"), (admin.budget_usd, "inf"),
        (admin.positive_rate, "0"), (admin.team_name, "Design"), (admin.team_name, "a#b"),
        (admin.team_name, "-x"), (admin.team_name, "x" * 41),
    ],
)  # fmt: skip
def test_argument_values_refused(kind, value):
    with pytest.raises(argparse.ArgumentTypeError):
        kind(value)
