"""Teams' monthly budgets and their usage, in one DynamoDB table (``Settings.spend_table``).

A request's estimated cost is reserved before any model call, atomically: the month's
``committed`` amount grows only while it stays within the budget (a conditional update, which
DynamoDB applies to one item at a time: two concurrent requests cannot both spend the last
dollar, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
Once the request is answered the reservation is settled at what the calls cost. Every request
of a team, budget or not, adds to its usage by day and model.

Items (``pk``, ``sk``):

- ``TEAM#<team>`` / ``PROFILE``: ``budgetUsd`` (absent: no budget), written by ``imagegen admin``;
- ``TEAM#<team>`` / ``MONTH#<yyyy-mm>``: ``committed`` (reserved and spent) and ``spent``;
- ``TEAM#<team>`` / ``DAY#<yyyy-mm-dd>#<model>``: ``requests``, ``images``, ``usd`` (expire after
  ``USAGE_DAYS``);
- ``APIKEY#<api key id>`` / ``TEAM``: ``team``, the key's team (core/callers.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from imagegen.cost import Cost
from imagegen.errors import BudgetExceededError, InvalidRequestError, UpstreamError
from imagegen.logs import get_logger

from . import clients
from .config import settings

log = get_logger()

USAGE_DAYS = 400
# The longest range GET /v1/usage reads at once.
MAX_USAGE_DAYS = 92


@dataclass(frozen=True)
class Reservation:
    """What a request reserved of its team's month (``usd`` 0: nothing to release)."""

    team: str
    month: str
    usd: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Reservation | None:
        return cls(**data) if data else None


def month_of(day: date) -> str:
    return day.strftime("%Y-%m")


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _today() -> date:
    return datetime.now(UTC).date()


def reserve(team: str | None, estimate: Cost) -> Reservation | None:
    """Reserve ``estimate`` of ``team``'s budget for this month, or refuse the request (402).

    None when nothing is counted: no team (IAM auth), or no spend table.
    """
    table = settings().spend_table
    if team is None or not table:
        return None
    month = month_of(_today())
    budget = budget_of(team)
    if budget is None or estimate.usd <= 0:
        return Reservation(team, month, 0.0)
    usd = _usd(estimate.usd)
    room = budget - usd  # what may be committed already for this request to fit
    if room < 0:
        raise _over_budget(team, month, budget, estimate)
    try:
        clients.dynamodb().update_item(
            TableName=table,
            Key=_key(team, f"MONTH#{month}"),
            UpdateExpression="ADD committed :usd",
            ConditionExpression="attribute_not_exists(committed) OR committed <= :room",
            ExpressionAttributeValues={":usd": _n(usd), ":room": _n(room)},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise _over_budget(team, month, budget, estimate) from None
        raise _failed("reserving the request's cost", exc) from None
    except BotoCoreError as exc:
        raise _failed("reserving the request's cost", exc) from None
    return Reservation(team, month, float(usd))


def settle(reservation: Reservation | None, cost: Cost, requests: int = 1) -> None:
    """Turn ``reservation`` into what was spent, and count the usage. Never raises: the images
    are stored and answered whatever happens here (a reservation not released stays counted,
    the safe side of a budget)."""
    if reservation is None:
        return
    table = settings().spend_table
    dynamodb = clients.dynamodb()
    try:
        # Every team's month counts what it spent, budget or not: a budget set mid-month starts
        # from what the month has spent already.
        change = _usd(cost.usd) - _usd(reservation.usd)
        if change or cost.usd:
            dynamodb.update_item(
                TableName=table,
                Key=_key(reservation.team, f"MONTH#{reservation.month}"),
                UpdateExpression="ADD committed :change, spent :spent",
                ExpressionAttributeValues={":change": _n(change), ":spent": _n(_usd(cost.usd))},
            )
        day = _today()
        expires = int(datetime.combine(day + timedelta(days=USAGE_DAYS), datetime.min.time(), UTC).timestamp())
        dynamodb.update_item(
            TableName=table,
            Key=_key(reservation.team, f"DAY#{day.isoformat()}#{cost.model}"),
            UpdateExpression="ADD requests :requests, images :images, usd :usd SET expires = :expires",
            ExpressionAttributeValues={
                ":requests": _n(requests),
                ":images": _n(cost.images),
                ":usd": _n(_usd(cost.usd)),
                ":expires": _n(expires),
            },
        )
    except (ClientError, BotoCoreError) as exc:
        log.warning("settling %s's reservation of %s USD failed: %s", reservation.team, reservation.usd, exc)


def budget_of(team: str) -> Decimal | None:
    item = _get(team, "PROFILE")
    value = (item or {}).get("budgetUsd", {}).get("N")
    return Decimal(value) if value is not None else None


def month_spend(team: str, month: str) -> tuple[Decimal, Decimal]:
    """The month's committed (reserved and spent) and spent amounts."""
    item = _get(team, f"MONTH#{month}") or {}
    return Decimal(item.get("committed", {}).get("N", "0")), Decimal(item.get("spent", {}).get("N", "0"))


def usage(team: str, start: date, end: date) -> dict[str, Any]:
    """``team``'s requests, images and USD per day and per model from ``start`` to ``end``."""
    if end < start or (end - start).days >= MAX_USAGE_DAYS:
        raise InvalidRequestError.for_field("to", f"the range must run forward and span at most {MAX_USAGE_DAYS} days")
    table = settings().spend_table
    pages = (
        clients.dynamodb()
        .get_paginator("query")
        .paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues={
                ":pk": {"S": f"TEAM#{team}"},
                ":from": {"S": f"DAY#{start.isoformat()}"},
                ":to": {"S": f"DAY#{end.isoformat()}#\uffff"},
            },
        )
    )
    days: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    for page in pages:
        for item in page.get("Items", []):
            _, day, model = item["sk"]["S"].split("#", 2)
            counts = {name: Decimal(item.get(name, {}).get("N", "0")) for name in ("requests", "images", "usd")}
            for bucket in (days.setdefault(day, _zero()), models.setdefault(model, _zero())):
                for name, value in counts.items():
                    bucket[name] += value
    month = month_of(_today())
    committed, spent = month_spend(team, month)
    budget = budget_of(team)
    return {
        "team": team,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "days": [{"date": day, **_shown(counts)} for day, counts in sorted(days.items())],
        "models": [{"model": model, **_shown(counts)} for model, counts in sorted(models.items())],
        "month": {
            "month": month,
            "spentUsd": float(spent),
            "committedUsd": float(committed),
            "budgetUsd": float(budget) if budget is not None else None,
            "resetsAt": next_month(_today()).isoformat() + "T00:00:00Z",
        },
    }


def _zero() -> dict[str, Decimal]:
    return {"requests": Decimal(0), "images": Decimal(0), "usd": Decimal(0)}


def _shown(counts: dict[str, Decimal]) -> dict[str, Any]:
    return {"requests": int(counts["requests"]), "images": int(counts["images"]), "usd": float(counts["usd"])}


def _over_budget(team: str, month: str, budget: Decimal, estimate: Cost) -> BudgetExceededError:
    committed, _ = month_spend(team, month)
    resets = next_month(_today()).isoformat()
    message = (
        f"team {team}'s budget of {_money(budget)} USD for {month} has {_money(committed)} USD spent or reserved; "
        f"this request would cost up to {_money(estimate.usd)} USD ({estimate.images} image(s) of {estimate.model}). "
        f"The budget resets on {resets} (UTC)"
    )
    return BudgetExceededError(message, [{"field": "budget", "message": message}])


def _failed(what: str, exc: ClientError | BotoCoreError) -> UpstreamError:
    log.warning("%s failed: %s", what, exc)
    code = exc.response.get("Error", {}).get("Code", "error") if isinstance(exc, ClientError) else type(exc).__name__
    return UpstreamError(f"{what} failed: {code}")


def _get(team: str, sort_key: str) -> dict[str, Any] | None:
    try:
        answer = clients.dynamodb().get_item(TableName=settings().spend_table, Key=_key(team, sort_key))
    except (ClientError, BotoCoreError) as exc:
        raise _failed("reading the team's budget", exc) from None
    return answer.get("Item")


def _key(team: str, sort_key: str) -> dict[str, Any]:
    return {"pk": {"S": f"TEAM#{team}"}, "sk": {"S": sort_key}}


def _money(value: float | Decimal) -> str:
    """0.0400 -> "0.04", 10 -> "10": a sum as people write it."""
    return f"{_usd(value):f}".rstrip("0").rstrip(".") or "0"


def _usd(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def _n(value: int | Decimal) -> dict[str, str]:
    return {"N": str(value)}
