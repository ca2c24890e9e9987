"""The local gateway's keys (local/keys.py) over API Gateway in moto, in-process: which keys it
accepts, how it counts them against their plan's quota, and that it answers as the deployed API."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

import local  # noqa: F401
from imagegen.errors import ThrottledError, UnauthorizedError
from local.keys import QUOTA_EXHAUSTED, REFRESH_SECONDS, KeyRing

STAGE = "local"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.day = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def apigateway(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    with mock_aws():
        yield boto3.client("apigateway")


def stage(apigateway, quota: int | None = None) -> tuple[str, str]:
    """A REST API whose local stage has a usage plan (with ``quota`` a day); its id and the plan's."""
    api = apigateway.create_rest_api(name=f"api-{quota}")
    plan = apigateway.create_usage_plan(
        name="plan", apiStages=[{"apiId": api["id"], "stage": STAGE}],
        **({"quota": {"limit": quota, "period": "DAY"}} if quota else {}),
    )  # fmt: skip
    return api["id"], plan["id"]


def key(apigateway, plan_id: str | None, *, enabled: bool = True, value: str | None = None) -> dict:
    made = apigateway.create_api_key(name="k", enabled=enabled, **({"value": value} if value else {}))
    if plan_id:
        apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=made["id"], keyType="API_KEY")
    return made


def ring(apigateway, api_id: str, clock: Clock, aliases: dict[str, str] | None = None) -> KeyRing:
    return KeyRing(api_id, STAGE, aliases, client=apigateway, clock=clock, today=lambda: clock.day)


def test_an_enabled_key_in_a_plan_of_the_stage_is_admitted_with_its_id(apigateway):
    api_id, plan_id = stage(apigateway)
    made = key(apigateway, plan_id)

    admitted = ring(apigateway, api_id, Clock()).admit(made["value"])

    assert (admitted.id, admitted.value) == (made["id"], made["value"])


@pytest.mark.parametrize("case", ["missing", "unknown", "disabled", "in-no-plan", "other-stage"])
def test_keys_api_gateway_would_refuse_are_401_invalid_api_key(apigateway, case):
    api_id, plan_id = stage(apigateway)
    _, other_plan = stage(apigateway, quota=5)  # another API's stage
    value = {
        "missing": None,
        "unknown": "k" * 40,
        "disabled": lambda: key(apigateway, plan_id, enabled=False)["value"],
        "in-no-plan": lambda: key(apigateway, None)["value"],
        "other-stage": lambda: key(apigateway, other_plan)["value"],
    }[case]
    value = value() if callable(value) else value

    with pytest.raises(UnauthorizedError) as refused:
        ring(apigateway, api_id, Clock()).admit(value)

    expected = UnauthorizedError.missing() if case == "missing" else UnauthorizedError.wrong()
    assert refused.value.body() == expected.body()


def test_a_key_over_its_daily_quota_is_429_until_the_day_ends(apigateway):
    api_id, plan_id = stage(apigateway, quota=3)
    made, clock = key(apigateway, plan_id), Clock()
    keys = ring(apigateway, api_id, clock)

    for _ in range(3):
        keys.admit(made["value"])
    with pytest.raises(ThrottledError) as over:
        keys.admit(made["value"])
    clock.day = clock.day.replace(day=21, hour=0, minute=0)

    assert over.value is QUOTA_EXHAUSTED and over.value.headers() == {}
    assert keys.admit(made["value"]).id == made["id"]  # a new day (UTC), a new count


def test_a_new_key_works_at_once_and_a_disabled_one_is_refused_once_the_keys_are_read_again(apigateway):
    api_id, plan_id = stage(apigateway)
    clock = Clock()
    keys = ring(apigateway, api_id, clock)
    first = key(apigateway, plan_id)
    keys.admit(first["value"])

    keys.tick()  # a background read, just before the key is made
    second = key(apigateway, plan_id)
    assert keys.admit(second["value"]).id == second["id"]  # unknown: read again at once
    disable(apigateway, first["id"])
    keys.admit(first["value"])  # as read: no request waits for moto
    keys.tick()  # the background read
    with pytest.raises(UnauthorizedError):
        keys.admit(first["value"])


def test_the_keys_are_read_again_every_second_while_the_stack_runs(apigateway):
    api_id, plan_id = stage(apigateway)
    made = key(apigateway, plan_id)
    keys = KeyRing(api_id, STAGE, client=apigateway)
    keys.admit(made["value"])
    keys.start()
    try:
        disable(apigateway, made["id"])
        deadline = time.monotonic() + REFRESH_SECONDS + 2
        with pytest.raises(UnauthorizedError):
            while time.monotonic() < deadline:
                keys.admit(made["value"])
                time.sleep(0.05)
    finally:
        keys.stop()


def disable(apigateway, key_id: str) -> None:
    apigateway.update_api_key(apiKey=key_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])


def test_the_stacks_own_short_key_is_known_by_its_alias(apigateway):
    api_id, plan_id = stage(apigateway)
    made = key(apigateway, plan_id)

    admitted = ring(apigateway, api_id, Clock(), {"local-dev-key": made["id"]}).admit("local-dev-key")

    assert admitted.id == made["id"] and admitted.value == "local-dev-key"
