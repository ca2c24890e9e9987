"""`imagegen admin keys` against the local stack, as an operator runs it for a team, and the team's
callers as they meet its quota, budget, rotation and revocation: the local gateway enforces the
keys and usage plans that the command made in the stack's API Gateway (moto), and the functions
charge the team they read from the spend table."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from test_cli import IMAGEGEN, ROOT, imagegen

from imagegen.errors import UnauthorizedError

FOX = {"prompt": "a fox", "model": "nova-canvas"}
# Nova Canvas, standard, 1024x1024: the registry's price of one image.
IMAGE_USD = 0.04
# The local gateway reads the keys again within a second (local/keys.py); a disabled key is
# refused by then.
REFRESHED_WITHIN_SECONDS = 3.0


def admin(stack, *args: str, env: dict[str, str] | None = None):
    return imagegen("admin", "keys", *args, stack=stack, env=env)


def new_team(stack, base: str, *flags: str) -> dict[str, Any]:
    """A team made with `keys create --json`: its key id and value (shown this once)."""
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    run = admin(stack, "create", "--name", name, *flags, "--json")
    assert run.returncode == 0, run.stderr
    made = json.loads(run.stdout)
    assert made["team"] == name
    return made


def call(stack, key: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    url = stack.info["api"] + path.removeprefix("/v1")
    data = None if body is None else json.dumps(body).encode()
    headers = {"x-api-key": key, "content-type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def refused(stack, key: str) -> tuple[int, Any]:
    """The answer to ``key`` once the gateway has read the keys again: 401 for a disabled key."""
    deadline = time.monotonic() + REFRESHED_WITHIN_SECONDS
    while True:
        status, _, body = call(stack, key, "GET", "/v1/models")
        if status == 401 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.2)


def listed(stack, team: str) -> dict[str, Any]:
    run = admin(stack, "list", "--json")
    assert run.returncode == 0, run.stderr
    return next(row for row in json.loads(run.stdout) if row["team"] == team)


def test_a_teams_key_works_is_counted_and_stops_at_its_daily_quota(stack):
    team = new_team(stack, "design", "--quota", "3", "--budget-usd", "150")
    key = team["value"]
    today = datetime.now(UTC).date().isoformat()

    status, _, job = call(stack, key, "POST", "/v1/text-to-image", FOX)  # 1
    shown = imagegen("usage", stack=stack, env={"IMAGEGEN_API_KEY": key})  # 2
    _, _, usage = call(stack, key, "GET", "/v1/usage")  # 3
    over, headers, refusal = call(stack, key, "POST", "/v1/text-to-image", FOX)  # 4: over the quota of 3

    assert status == 200 and job["cost"] == {"usd": IMAGE_USD, "model": "nova-canvas", "images": 1}
    assert shown.returncode == 0, shown.stderr
    assert f"team {team['team']}" in shown.stdout
    assert f"{today}         1       1  0.0400" in shown.stdout
    assert "0.04 of a 150 USD budget spent" in shown.stdout
    assert usage["team"] == team["team"]
    assert usage["days"] == [{"date": today, "requests": 1, "images": 1, "usd": IMAGE_USD}]
    assert usage["models"] == [{"model": "nova-canvas", "requests": 1, "images": 1, "usd": IMAGE_USD}]
    assert usage["month"]["budgetUsd"] == 150 and usage["month"]["spentUsd"] == IMAGE_USD
    # API Gateway's QUOTA_EXCEEDED as the deployed API answers it: no Retry-After, as none can be named.
    assert over == 429 and refusal["error"]["code"] == "throttled"
    assert "daily request quota is used up" in refusal["error"]["message"]
    assert "Retry-After" not in headers

    row = listed(stack, team["team"])
    assert row["keys"] == [{"id": team["keyId"], "enabled": True, "created": row["keys"][0]["created"]}]
    assert row["quota"] == {"limit": 3, "period": "DAY"} and row["budgetUsd"] == 150
    assert row["spentUsd"] == IMAGE_USD and row["committedUsd"] == IMAGE_USD
    # The operator reads the same usage as the team's callers, from the same items.
    operator = admin(stack, "usage", "--name", team["team"], "--json")
    assert operator.returncode == 0, operator.stderr
    assert json.loads(operator.stdout) == usage


def test_a_keys_value_is_shown_once_and_list_shows_ids_only(stack):
    created = admin(stack, "create", "--name", f"shown-{uuid.uuid4().hex[:6]}", "--quota", "5")
    value = next(line.split()[-1] for line in created.stdout.splitlines() if line.strip().startswith("key value"))
    key_id = next(line.split()[-1] for line in created.stdout.splitlines() if line.strip().startswith("key id"))
    table, as_json = admin(stack, "list"), admin(stack, "list", "--json")

    assert created.returncode == 0, created.stderr
    assert "shown this once" in created.stdout and len(value) >= 20
    assert key_id in table.stdout and key_id in as_json.stdout
    assert value not in table.stdout + table.stderr + as_json.stdout + as_json.stderr


def test_rotating_gives_a_working_key_and_refuses_the_old_one_then_revoking_refuses_all(stack):
    team = new_team(stack, "rotate", "--quota", "20", "--budget-usd", "10")
    old = team["value"]
    assert call(stack, old, "POST", "/v1/text-to-image", FOX)[0] == 200

    run = admin(stack, "rotate", "--name", team["team"], "--json")
    rotated = json.loads(run.stdout)
    new_status, _, new_job = call(stack, rotated["value"], "POST", "/v1/text-to-image", FOX)
    old_status, old_body = refused(stack, old)

    assert run.returncode == 0, run.stderr
    assert rotated["disabledKeyIds"] == [team["keyId"]] and rotated["keyId"] != team["keyId"]
    assert new_status == 200 and new_job["cost"]["usd"] == IMAGE_USD
    assert old_status == 401 and old_body == UnauthorizedError.wrong().body()
    # The budget and the month's spend are the team's: both requests count, under either key.
    row = listed(stack, team["team"])
    assert row["spentUsd"] == 2 * IMAGE_USD and row["budgetUsd"] == 10
    assert {key["id"]: key["enabled"] for key in row["keys"]} == {rotated["keyId"]: True, team["keyId"]: False}

    revoked = admin(stack, "revoke", "--name", team["team"])
    status, body = refused(stack, rotated["value"])

    assert revoked.returncode == 0, revoked.stderr
    assert rotated["keyId"] in revoked.stdout and "disabled" in revoked.stdout
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    row = listed(stack, team["team"])
    assert row["revoked"] and not any(key["enabled"] for key in row["keys"])  # kept, with their usage


def test_a_budget_smaller_than_one_image_is_402_until_it_is_raised(stack):
    team = new_team(stack, "tiny", "--quota", "10", "--budget-usd", "0.01")

    status, _, body = call(stack, team["value"], "POST", "/v1/text-to-image", FOX)
    raised = admin(stack, "budget", "--name", team["team"], "--budget-usd", "none")
    after, _, job = call(stack, team["value"], "POST", "/v1/text-to-image", FOX)

    assert status == 402 and body["error"]["code"] == "budget_exceeded"
    assert "0.01 USD" in body["error"]["message"] and "resets on" in body["error"]["message"]
    assert raised.returncode == 0, raised.stderr
    assert after == 200 and job["cost"]["usd"] == IMAGE_USD


def test_another_teams_key_cannot_read_the_first_teams_job(stack):
    owner, other = new_team(stack, "owner", "--quota", "10"), new_team(stack, "other", "--quota", "10")
    _, _, job = call(stack, owner["value"], "POST", "/v1/text-to-image", FOX)

    mine = call(stack, owner["value"], "GET", f"/v1/jobs/{job['id']}")
    theirs = call(stack, other["value"], "GET", f"/v1/jobs/{job['id']}")
    default = call(stack, stack.info["apiKey"], "GET", f"/v1/jobs/{job['id']}")

    assert mine[0] == 200 and mine[2]["id"] == job["id"]
    assert theirs[0] == 404 and theirs[2]["error"]["code"] == "not_found"
    assert default[0] == 404  # the stack's own key is team default's


def test_the_operators_mistakes_are_said_and_exit_1_or_2(stack, tmp_path):
    team = new_team(stack, "twice", "--quota", "1")
    # No credentials at all: no AWS_ variable, no shared files, no instance metadata.
    no_credentials = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "IMAGEGEN_"))}
    no_credentials.update(
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true", AWS_REGION="us-east-1",
    )  # fmt: skip
    deployed = [str(IMAGEGEN), "admin", "keys", "list", "--stack", "ImageGen"]

    runs = {
        "exists": admin(stack, "create", "--name", team["team"], "--quota", "5"),
        "unknown": admin(stack, "revoke", "--name", "no-such-team"),
        "default": admin(stack, "rotate", "--name", "default"),
        "quota": admin(stack, "create", "--name", "zero", "--quota", "0"),
        "budget": admin(stack, "create", "--name", "cheap", "--quota", "5", "--budget-usd", "ten"),
        "credentials": subprocess.run(
            deployed, env=no_credentials, cwd=ROOT, capture_output=True, text=True, timeout=60
        ),
    }

    assert {name: run.returncode for name, run in runs.items()} == {
        "exists": 1, "unknown": 1, "default": 1, "quota": 2, "budget": 2, "credentials": 1,
    }  # fmt: skip
    assert f"team {team['team']} exists" in runs["exists"].stderr
    assert "no team no-such-team" in runs["unknown"].stderr
    assert "the stack's own" in runs["default"].stderr
    assert "--quota: must be positive" in runs["quota"].stderr
    assert "--budget-usd: 'ten' is not a number" in runs["budget"].stderr
    assert "no AWS credentials" in runs["credentials"].stderr
    assert all("Traceback" not in run.stderr for run in runs.values())
