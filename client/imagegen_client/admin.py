"""``imagegen admin keys``: an API key per team, with a daily quota, a throttle and a monthly budget.

It runs with the deployer's AWS credentials against the deployed stack, whose outputs name what
it needs (``RestApiId``, ``ApiStageName``, ``SpendTableName``; ``UsagePlanId`` and ``ApiKeyId``,
the stack's own plan and key), or against the stack ``make run`` serves, named in its
``stack.json``. boto3 is imported only here, and only when an admin command runs: the rest of
the client calls the HTTP API with the standard library.

A team, in AWS:

- a usage plan ``imagegen-<team>`` (tag ``team``) on the API's stage, with the team's quota per
  day and throttle: API Gateway checks, throttles and counts each of its keys;
- its API keys, ``imagegen-<team>`` (tag ``team``), in that plan: the current one enabled, the
  ones rotated out or revoked disabled and kept, with their history;
- items of the spend table, whose layout functions/handlers/core/budgets.py defines:
  ``APIKEY#<key id>`` / ``TEAM`` {``team``}, the team a function charges for a key (written
  before the key joins its plan: a key is never usable before its team is known), and
  ``TEAM#<team>`` / ``PROFILE`` {``budgetUsd`` (absent: no budget), ``quota``, ``throttle``,
  ``created``, ``usagePlanId``; ``revoked`` once revoked}. The functions write the team's
  ``MONTH#`` (committed and spent) and ``DAY#`` (requests, images, USD per model) items.

The stack's own key (``ApiKeyId``; the local stack's ``IMAGEGEN_API_KEY``) is team ``default``,
in the stack's own plan: a budget can be set for it here; its quota and the key itself belong to
the deployment (``quota_per_day`` in cdk.json).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_STACK = "ImageGen"
# core/callers.py's DEFAULT_TEAM: the team of a key the spend table does not name.
DEFAULT_TEAM = "default"
NAME_PREFIX = "imagegen-"
TEAM_TAG = "team"
# A team's name is part of key and plan names, spend-table keys and trigger folders
# (triggers/teams/<team>/): lowercase letters, digits and inner hyphens.
TEAM_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
QUOTA_PERIOD = "DAY"
USAGE_DAYS = 30
# What each output of the stack is to this module; the first three are required.
STACK_OUTPUTS = {
    "RestApiId": "rest_api_id",
    "ApiStageName": "stage",
    "SpendTableName": "spend_table",
    "UsagePlanId": "usage_plan_id",
    "ApiKeyId": "default_key_id",
}
REQUIRED_OUTPUTS = ("RestApiId", "ApiStageName", "SpendTableName")
# The local stack's stack.json names the same things.
LOCAL_FIELDS = {
    "restApiId": "rest_api_id",
    "stage": "stage",
    "spendTable": "spend_table",
    "usagePlanId": "usage_plan_id",
    "apiKeyId": "default_key_id",
}


class AdminError(Exception):
    """A refusal or a failure, said in full by its message (exit status 1)."""


# --- argument types (a bad value is a usage error, exit status 2) ------------------------------


def team_name(value: str) -> str:
    if not TEAM_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a team name: 1-40 lowercase letters, digits and hyphens, starting and ending with a "
            "letter or digit"
        )
    return value


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {number}")
    return number


def positive_rate(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of requests a second, not {value}")
    return number


def budget_usd(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of US dollars (e.g. 150 or 12.50)") from None
    if not number.is_finite() or number < 0:
        raise argparse.ArgumentTypeError(f"must be a number of US dollars, 0 or more, not {value}")
    return number.quantize(Decimal("0.0001"))


def budget_or_none(value: str) -> Decimal | None:
    return None if value.lower() == "none" else budget_usd(value)


# --- where the stack is --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The stack whose keys are managed: its REST API and stage, its spend table, its own usage
    plan and key (team ``default``), and where its AWS APIs answer."""

    label: str
    rest_api_id: str
    stage: str
    spend_table: str
    usage_plan_id: str | None = None
    default_key_id: str | None = None
    region: str | None = None
    endpoint: str | None = None  # the local stack's moto server


def target_of_stack(stack: dict[str, Any], region: str | None) -> Target:
    """A stack's outputs as CloudFormation's DescribeStacks answers them."""
    name = stack.get("StackName", "?")
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    missing = [output for output in REQUIRED_OUTPUTS if output not in outputs]
    if missing:
        raise AdminError(
            f"stack {name} has no output {', '.join(missing)}: it was deployed before keys per team "
            f"(status {stack.get('StackStatus', '?')}); `make deploy` brings it up to date"
        )
    values = {attribute: outputs[output] for output, attribute in STACK_OUTPUTS.items() if output in outputs}
    return Target(label=f"stack {name}" + (f" in {region}" if region else ""), region=region, **values)


def target_of_local(info: dict[str, Any]) -> Target:
    """The stack `make run` serves, from its stack.json."""
    missing = [name for name in ("restApiId", "stage", "spendTable", "endpoint") if not info.get(name)]
    if missing:
        raise AdminError(
            f"the local stack's stack.json has no {', '.join(missing)}: it was written by an older `make run`; "
            "restart it"
        )
    values = {attribute: info[name] for name, attribute in LOCAL_FIELDS.items() if info.get(name)}
    return Target(label="the local stack", region=info.get("region", "us-east-1"), endpoint=info["endpoint"], **values)


def connect(
    *, stack: str | None, local: dict[str, Any] | None, region: str | None = None, profile: str | None = None
) -> Admin:
    """An Admin of the local stack (``local``: its stack.json), else of the deployed ``stack``."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=30)
    with aws_errors("reading the stack"):
        if local is not None:
            target = target_of_local(local)
            # moto takes any credentials; these keep the deployer's (and their profile) out of it.
            session = boto3.session.Session(
                aws_access_key_id="local", aws_secret_access_key="local", aws_session_token="local",
                region_name=target.region,
            )  # fmt: skip
            clients = {
                name: session.client(name, endpoint_url=target.endpoint, config=config)
                for name in ("apigateway", "dynamodb")
            }
            return Admin(target, **clients)
        session = boto3.session.Session(profile_name=profile, region_name=region)
        if session.region_name is None and os.environ.get("AWS_REGION"):
            # botocore reads AWS_DEFAULT_REGION; the CDK CLI and the other SDKs also AWS_REGION.
            session = boto3.session.Session(profile_name=profile, region_name=os.environ["AWS_REGION"])
        cloudformation = session.client("cloudformation", config=config)
        target = find_stack(cloudformation, stack or DEFAULT_STACK)
        return Admin(target, session.client("apigateway", config=config), session.client("dynamodb", config=config))


def find_stack(cloudformation: Any, name: str) -> Target:
    from botocore.exceptions import ClientError

    region = cloudformation.meta.region_name
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
            raise AdminError(
                f"no stack {name} in {region}: give the deployed stack's name (--stack, the stack_name in cdk.json) "
                "and region (--region or AWS_REGION), or --local for `make run`"
            ) from None
        raise
    return target_of_stack(stacks[0], region)


@contextlib.contextmanager
def aws_errors(doing: str, endpoint: str | None = None) -> Iterator[None]:
    """AWS's failures while ``doing`` as AdminErrors that say what to do: no credentials, no
    region, no access, the local stack (at ``endpoint``) not running."""
    from botocore import exceptions as botocore

    try:
        yield
    except botocore.NoCredentialsError:
        raise AdminError(
            "no AWS credentials: `imagegen admin` runs with the deployer's (aws configure, AWS_PROFILE or --profile, "
            "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); --local manages the `make run` stack"
        ) from None
    except botocore.ProfileNotFound as exc:
        raise AdminError(f"{exc}: name a profile of ~/.aws/config (--profile or AWS_PROFILE)") from None
    except botocore.NoRegionError:
        raise AdminError("no AWS region: give --region, or set AWS_REGION (the stack's region)") from None
    except botocore.EndpointConnectionError as exc:
        where = " (is `make run` still running? its stack.json may be left over)" if endpoint else ""
        raise AdminError(f"{doing} failed: {exc}{where}") from None
    except botocore.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        if code in _REFUSED_CREDENTIALS:
            raise AdminError(f"{doing} failed: AWS refused the credentials ({code}: {message})") from None
        if "AccessDenied" in code:
            raise AdminError(
                f"{doing} failed: these credentials may not do it ({code}: {message}); run as the deployer"
            ) from None
        raise AdminError(f"{doing} failed: {code}: {message}") from None
    except botocore.BotoCoreError as exc:
        raise AdminError(f"{doing} failed: {exc}") from None


_REFUSED_CREDENTIALS = (
    "ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException", "InvalidClientTokenId",
    "InvalidSignatureException", "SignatureDoesNotMatch",
)  # fmt: skip


# --- what a team is ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    id: str
    enabled: bool
    created: str = ""


@dataclass
class Team:
    """A team as AWS holds it: its usage plan, its keys, its profile in the spend table."""

    name: str
    plan: dict[str, Any] | None
    keys: list[Key] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)

    @property
    def quota(self) -> dict[str, Any] | None:
        quota = (self.plan or {}).get("quota")
        return {"limit": int(quota["limit"]), "period": quota.get("period", QUOTA_PERIOD)} if quota else None

    @property
    def throttle(self) -> dict[str, Any] | None:
        throttle = (self.plan or {}).get("throttle")
        if not throttle:
            return None
        return {"rateLimit": float(throttle.get("rateLimit", 0)), "burstLimit": int(throttle.get("burstLimit", 0))}

    @property
    def budget(self) -> Decimal | None:
        value = self.profile.get("budgetUsd", {}).get("N")
        return Decimal(value) if value is not None else None


@dataclass(frozen=True)
class NewKey:
    """A key just made: its value is shown this once."""

    team: str
    key_id: str
    value: str
    usage_plan_id: str
    quota: dict[str, Any]
    throttle: dict[str, Any]
    budget: Decimal | None
    disabled: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "team": self.team, "keyId": self.key_id, "value": self.value, "usagePlanId": self.usage_plan_id,
            "quota": self.quota, "throttle": self.throttle, "budgetUsd": _float(self.budget),
            "disabledKeyIds": list(self.disabled), "enabledOldKeyIds": list(self.kept),
        }  # fmt: skip


class Admin:
    """The keys, plans and spend-table items of the teams of one stack."""

    def __init__(self, target: Target, apigateway: Any, dynamodb: Any, *, now: Callable[[], datetime] | None = None):
        self.target = target
        self.apigateway, self.dynamodb = apigateway, dynamodb
        self._now = now or (lambda: datetime.now(UTC))

    # --- commands ----------------------------------------------------------------------------

    def create(
        self, name: str, quota: int, *, rate: float | None = None, burst: int | None = None, budget: Decimal | None
    ) -> NewKey:
        """A new team: its usage plan on the stage, its key in it, its profile; the key's value once."""
        self._keys_apply()
        if name == DEFAULT_TEAM:
            raise AdminError(f"{DEFAULT_TEAM} is the team of the stack's own key; name the new team otherwise")
        with self._aws("creating the team"):
            if name in self._plans():
                raise AdminError(
                    f"team {name} exists: `imagegen admin keys rotate --name {name}` gives it a new key; "
                    "`keys quota` and `keys budget` change its limits"
                )
            default_rate, default_burst = self._default_throttle()
            throttle = {"rateLimit": rate or default_rate, "burstLimit": burst or default_burst}
            quota_settings = {"limit": quota, "period": QUOTA_PERIOD}
            created = self._stamp()
            profile = {
                **self._team_key(name, "PROFILE"), "created": {"S": created}, "quota": {"N": str(quota)},
                "throttle": _throttle_item(throttle),
            }  # fmt: skip
            if budget is not None:
                profile["budgetUsd"] = {"N": str(budget)}
            # The name is claimed first: two operators creating one team cannot both succeed.
            try:
                self.dynamodb.put_item(
                    TableName=self.target.spend_table, Item=profile, ConditionExpression="attribute_not_exists(pk)"
                )
            except self.dynamodb.exceptions.ConditionalCheckFailedException:
                raise AdminError(
                    f"team {name} exists in the spend table but has no usage plan on this stage (made by hand, or "
                    "half made): remove its TEAM#{name} PROFILE item or choose another name"
                ) from None
            undo: list[Callable[[], Any]] = [lambda: self.dynamodb.delete_item(
                TableName=self.target.spend_table, Key=self._team_key(name, "PROFILE"))]  # fmt: skip
            try:
                plan = self.apigateway.create_usage_plan(
                    name=NAME_PREFIX + name,
                    description=f"serverless-imagegen: team {name}",
                    apiStages=[{"apiId": self.target.rest_api_id, "stage": self.target.stage}],
                    quota=quota_settings,
                    throttle=throttle,
                    tags={TEAM_TAG: name},
                )
                undo.append(lambda: self.apigateway.delete_usage_plan(usagePlanId=plan["id"]))
                key_id, value = self._new_key(name, plan["id"], undo)
                self._update_profile(name, put={"usagePlanId": {"S": plan["id"]}})
            except BaseException:
                _undo(undo)
                raise
        return NewKey(name, key_id, value, plan["id"], quota_settings, throttle, budget)

    def rotate(self, name: str, *, keep_old: bool = False) -> NewKey:
        """A new key in the team's plan; the team's other keys disabled (kept with ``keep_old``).
        Budget, quota and this month's spend are the team's: they carry over."""
        self._keys_apply()
        team = self._own_team(name, "rotate")
        with self._aws("rotating the key"):
            undo: list[Callable[[], Any]] = []
            try:
                key_id, value = self._new_key(name, team.plan["id"], undo)
            except BaseException:
                _undo(undo)
                raise
            old = tuple(key.id for key in team.keys if key.enabled)
            if not keep_old:
                for key in old:
                    self._disable(key)
            self._update_profile(name, remove=("revoked",))
        return NewKey(
            name, key_id, value, team.plan["id"], team.quota or {}, team.throttle or {}, team.budget,
            disabled=() if keep_old else old, kept=old if keep_old else (),
        )  # fmt: skip

    def revoke(self, name: str | None = None, key_id: str | None = None) -> tuple[str, list[str]]:
        """Disable a team's keys (or one key): API Gateway refuses them; they and their usage stay."""
        with self._aws("revoking"):
            if key_id is not None:
                team = self._team_of_key(key_id)
                self._disable(key_id)
                return team, [key_id]
            assert name is not None
            team = self._own_team(name, "revoke")
            disabled = [key.id for key in team.keys if key.enabled]
            for key in disabled:
                self._disable(key)
            self._update_profile(name, put={"revoked": {"S": self._stamp()}})
        return name, disabled

    def set_budget(self, name: str, budget: Decimal | None) -> Team:
        """A team's monthly budget in USD (None: no budget). It applies to the team's next request."""
        team = self._team(name)
        with self._aws("setting the budget"):
            if budget is None:
                self._update_profile(name, remove=("budgetUsd",))
            else:
                self._update_profile(name, put={"budgetUsd": {"N": str(budget)}})
            team.profile = self._profile(name)
        return team

    def set_quota(self, name: str, quota: int | None, rate: float | None, burst: int | None) -> Team:
        """A team's quota per day and throttle, in its usage plan (API Gateway applies them)."""
        self._keys_apply()
        team = self._own_team(name, "change the quota of")
        operations = [
            # 2.0 as "2": moto's local API Gateway reads the throttle's values as integers.
            {"op": "replace", "path": path, "value": f"{value:g}"}
            for path, value in (("/quota/limit", quota), ("/throttle/rateLimit", rate), ("/throttle/burstLimit", burst))
            if value is not None
        ]
        with self._aws("changing the quota"):
            team.plan = self.apigateway.update_usage_plan(usagePlanId=team.plan["id"], patchOperations=operations)
            recorded = {"quota": {"N": str(team.quota["limit"])}} if team.quota else {}
            if team.throttle:
                recorded["throttle"] = _throttle_item(team.throttle)
            self._update_profile(name, put=recorded)
            team.profile = self._profile(name)
        return team

    def teams(self) -> list[dict[str, Any]]:
        """Every team of the stack: its keys, quota, throttle, budget and this month's spend."""
        with self._aws("listing the teams"):
            plans = self._plans()
            keys = self._api_keys()
            month = self._now().strftime("%Y-%m")
            names = sorted(plans)
            items = self._batch_get([(name, sort) for name in names for sort in ("PROFILE", f"MONTH#{month}")])
            rows = []
            for name in names:
                team = Team(name, plans[name], self._plan_keys(plans[name], keys), items.get((name, "PROFILE"), {}))
                spend = items.get((name, f"MONTH#{month}"), {})
                rows.append({
                    "team": name,
                    "keys": [{"id": key.id, "enabled": key.enabled, "created": key.created} for key in team.keys],
                    "quota": team.quota,
                    "throttle": team.throttle,
                    "budgetUsd": _float(team.budget),
                    "month": month,
                    "committedUsd": float(Decimal(spend.get("committed", {}).get("N", "0"))),
                    "spentUsd": float(Decimal(spend.get("spent", {}).get("N", "0"))),
                    "created": team.profile.get("created", {}).get("S"),
                    "revoked": team.profile.get("revoked", {}).get("S"),
                })  # fmt: skip
        return rows

    def usage(self, name: str, start: date, end: date) -> dict[str, Any]:
        """A team's requests, images and USD per day and per model, as GET /v1/usage answers its
        callers (core/budgets.py's usage, from the same items)."""
        self._team(name)
        with self._aws("reading the usage"):
            days: dict[str, dict[str, Decimal]] = {}
            models: dict[str, dict[str, Decimal]] = {}
            pages = self.dynamodb.get_paginator("query").paginate(
                TableName=self.target.spend_table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
                ExpressionAttributeValues={
                    ":pk": {"S": f"TEAM#{name}"},
                    ":from": {"S": f"DAY#{start.isoformat()}"},
                    ":to": {"S": f"DAY#{end.isoformat()}#\uffff"},
                },
            )
            for page in pages:
                for item in page.get("Items", []):
                    _, day, model = item["sk"]["S"].split("#", 2)
                    counts = {count: Decimal(item.get(count, {}).get("N", "0")) for count in _zero()}
                    for bucket in (days.setdefault(day, _zero()), models.setdefault(model, _zero())):
                        for count, value in counts.items():
                            bucket[count] += value
        return {
            "team": name,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "days": [{"date": day, **_shown(counts)} for day, counts in sorted(days.items())],
            "models": [{"model": model, **_shown(counts)} for model, counts in sorted(models.items())],
            "month": self.month(name),
        }

    def month(self, name: str) -> dict[str, Any]:
        """A team's month so far: what its budget counts (the MONTH item: spent, and committed:
        spent and reserved by requests still running), its budget, and when the month resets."""
        with self._aws("reading the month"):
            today = self._now().date()
            month = today.strftime("%Y-%m")
            spend = self._get(name, f"MONTH#{month}") or {}
            budget = Team(name, None, profile=self._profile(name)).budget
        return {
            "month": month,
            "spentUsd": float(Decimal(spend.get("spent", {}).get("N", "0"))),
            "committedUsd": float(Decimal(spend.get("committed", {}).get("N", "0"))),
            "budgetUsd": _float(budget),
            "resetsAt": _next_month(today).isoformat() + "T00:00:00Z",
        }

    def days(self, start: date | None, end: date | None) -> tuple[date, date]:
        """The days to read: up to ``end`` (default today, UTC) from ``start`` (default: the
        USAGE_DAYS days up to ``end``, the last 30 as GET /v1/usage reads by default)."""
        end = end or self._now().date()
        return start or end - timedelta(days=USAGE_DAYS - 1), end

    # --- reading ---------------------------------------------------------------------------------

    def _plans(self) -> dict[str, dict[str, Any]]:
        """Team name -> its usage plan, for the plans on this stack's stage."""
        plans = {}
        for page in self.apigateway.get_paginator("get_usage_plans").paginate():
            for plan in page.get("items", []):
                if not self._on_stage(plan):
                    continue
                team = (plan.get("tags") or {}).get(TEAM_TAG)
                if team is None and plan["id"] == self.target.usage_plan_id:
                    team = DEFAULT_TEAM
                if team is not None:
                    plans[team] = plan
        return plans

    def _on_stage(self, plan: dict[str, Any]) -> bool:
        return any(
            stage.get("apiId") == self.target.rest_api_id and stage.get("stage") == self.target.stage
            for stage in plan.get("apiStages", [])
        )

    def _api_keys(self) -> dict[str, dict[str, Any]]:
        keys = {}
        for page in self.apigateway.get_paginator("get_api_keys").paginate(includeValues=False):
            for key in page.get("items", []):
                keys[key["id"]] = key
        return keys

    def _plan_keys(self, plan: dict[str, Any], keys: dict[str, dict[str, Any]] | None = None) -> list[Key]:
        """The keys in ``plan``, the newest first."""
        found = []
        for page in self.apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan["id"]):
            for item in page.get("items", []):
                key = keys.get(item["id"]) if keys is not None else self.apigateway.get_api_key(apiKey=item["id"])
                if key is not None:
                    created = key.get("createdDate")
                    found.append(Key(key["id"], bool(key.get("enabled")), _iso(created)))
        return sorted(found, key=lambda key: (key.created, key.id), reverse=True)

    def _team(self, name: str) -> Team:
        """A team of this stack, or AdminError naming the teams there are."""
        with self._aws("reading the team"):
            plans = self._plans()
            plan = plans.get(name)
            profile = self._profile(name)
            if plan is None and not (name == DEFAULT_TEAM or profile):
                known = ", ".join(sorted(plans)) or "none yet"
                raise AdminError(f"no team {name} in {self.target.label} (teams: {known}); `keys create` makes one")
            return Team(name, plan, self._plan_keys(plan) if plan else [], profile)

    def _own_team(self, name: str, doing: str) -> Team:
        """A team this command made (not ``default``: the stack's own key and plan)."""
        if name == DEFAULT_TEAM:
            raise AdminError(
                f"cannot {doing} team {DEFAULT_TEAM}: its key and quota are the stack's own (ApiKeyId, quota_per_day "
                "in cdk.json); `keys revoke --key-id <id>` disables that key, `keys budget` sets its budget"
            )
        team = self._team(name)
        if team.plan is None:
            raise AdminError(f"team {name} has no usage plan on this stage: it cannot have keys")
        return team

    def _team_of_key(self, key_id: str) -> str:
        from botocore.exceptions import ClientError

        try:
            self.apigateway.get_api_key(apiKey=key_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                raise AdminError(f"no API key {key_id}") from None
            raise
        for plan in self.apigateway.get_usage_plans(keyId=key_id).get("items", []):
            if self._on_stage(plan):
                tags = plan.get("tags") or {}
                return tags.get(TEAM_TAG) or (DEFAULT_TEAM if plan["id"] == self.target.usage_plan_id else plan["id"])
        raise AdminError(f"API key {key_id} is in no usage plan of {self.target.label}: not one of its keys")

    def _profile(self, name: str) -> dict[str, Any]:
        return self._get(name, "PROFILE") or {}

    def _get(self, name: str, sort_key: str) -> dict[str, Any] | None:
        return self.dynamodb.get_item(TableName=self.target.spend_table, Key=self._team_key(name, sort_key)).get("Item")

    def _batch_get(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for chunk in (keys[i : i + 100] for i in range(0, len(keys), 100)):
            request = {self.target.spend_table: {"Keys": [self._team_key(name, sort) for name, sort in chunk]}}
            while request:
                answer = self.dynamodb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.target.spend_table, []):
                    found[(item["pk"]["S"].removeprefix("TEAM#"), item["sk"]["S"])] = item
                request = answer.get("UnprocessedKeys") or {}
        return found

    def _default_throttle(self) -> tuple[float, int]:
        """The stack's own plan's throttle (the deployment's throttle_rate_limit and
        throttle_burst_limit): a new team's unless given."""
        throttle: dict[str, Any] = {}
        if self.target.usage_plan_id:
            throttle = self.apigateway.get_usage_plan(usagePlanId=self.target.usage_plan_id).get("throttle") or {}
        if not throttle:
            raise AdminError(
                "the stack's usage plan has no throttle to start from: give --throttle-rate and --throttle-burst"
            )
        return float(throttle["rateLimit"]), int(throttle["burstLimit"])

    # --- writing ---------------------------------------------------------------------------------

    def _new_key(self, team: str, plan_id: str, undo: list[Callable[[], Any]]) -> tuple[str, str]:
        """A key of ``team`` in ``plan_id``. Its team is written before it joins the plan: the
        functions read a key's team once (and cache it), and a key they do not know is
        ``default``'s."""
        key = self.apigateway.create_api_key(
            name=NAME_PREFIX + team, description=f"serverless-imagegen: team {team}", enabled=True,
            tags={TEAM_TAG: team},
        )  # fmt: skip
        undo.append(lambda: self.apigateway.delete_api_key(apiKey=key["id"]))
        item = {"pk": {"S": f"APIKEY#{key['id']}"}, "sk": {"S": "TEAM"}, "team": {"S": team},
                "created": {"S": self._stamp()}}  # fmt: skip
        self.dynamodb.put_item(TableName=self.target.spend_table, Item=item)
        undo.append(lambda: self.dynamodb.delete_item(TableName=self.target.spend_table,
                                                      Key={"pk": item["pk"], "sk": item["sk"]}))  # fmt: skip
        self.apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=key["id"], keyType="API_KEY")
        undo.append(lambda: self.apigateway.delete_usage_plan_key(usagePlanId=plan_id, keyId=key["id"]))
        return key["id"], key["value"]

    def _disable(self, key_id: str) -> None:
        self.apigateway.update_api_key(
            apiKey=key_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
        )

    def _update_profile(self, name: str, *, put: dict[str, Any] | None = None, remove: tuple[str, ...] = ()) -> None:
        """Set (``put``) and remove attributes of a team's profile, made if missing (team ``default``'s)."""
        put = put or {}
        assignments = ["#created = if_not_exists(#created, :created)", *(f"#{a} = :{a}" for a in put)]
        expression = "SET " + ", ".join(assignments)
        if remove:
            expression += " REMOVE " + ", ".join(f"#{attribute}" for attribute in remove)
        self.dynamodb.update_item(
            TableName=self.target.spend_table,
            Key=self._team_key(name, "PROFILE"),
            UpdateExpression=expression,
            # Names through placeholders: DynamoDB reserves hundreds of words.
            ExpressionAttributeNames={f"#{attribute}": attribute for attribute in ("created", *put, *remove)},
            ExpressionAttributeValues={
                ":created": {"S": self._stamp()},
                **{f":{attribute}": value for attribute, value in put.items()},
            },
        )

    def _keys_apply(self) -> None:
        if not self.target.usage_plan_id:
            raise AdminError(
                f"{self.target.label} has no usage plan (no UsagePlanId output): it authorizes callers with IAM "
                "(iam_auth), where API keys do not apply"
            )

    # --- helpers ---------------------------------------------------------------------------------

    def _aws(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return aws_errors(doing, self.target.endpoint)

    @staticmethod
    def _team_key(name: str, sort_key: str) -> dict[str, Any]:
        return {"pk": {"S": f"TEAM#{name}"}, "sk": {"S": sort_key}}

    def _stamp(self) -> str:
        return self._now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _undo(steps: list[Callable[[], Any]]) -> None:
    """Take back what a failed create or rotate made, the last first, as far as AWS lets it."""
    for step in reversed(steps):
        try:
            step()
        except Exception:  # the error being raised is the one to report
            continue


def _throttle_item(throttle: dict[str, Any]) -> dict[str, Any]:
    return {"M": {name: {"N": str(value)} for name, value in throttle.items()}}


def _zero() -> dict[str, Decimal]:
    return {"requests": Decimal(0), "images": Decimal(0), "usd": Decimal(0)}


def _shown(counts: dict[str, Decimal]) -> dict[str, Any]:
    return {"requests": int(counts["requests"]), "images": int(counts["images"]), "usd": float(counts["usd"])}


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value or "")
