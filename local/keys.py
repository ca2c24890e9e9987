"""API keys and usage plans, locally: what API Gateway checks before a keyed route's function runs.

The keys are those in the local stack's API Gateway (moto), where ``imagegen admin keys`` makes
and disables them as it does in the deployed stack: a key is accepted when it is enabled and in
a usage plan on the local stage, and counted against that plan's quota ("the maximum number of
requests that can be made in a given time period",
https://docs.aws.amazon.com/apigateway/latest/api/API_QuotaSettings.html). Over it, the caller
gets what the deployed API answers for API Gateway's QUOTA_EXCEEDED (infra/api.py).

Not enforced here: the plans' throttles (a token bucket per key), which would only slow the
tests and a developer's loops; they are stored and shown as deployed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from imagegen.errors import QUOTA_EXHAUSTED, UnauthorizedError

from .worker import BackgroundLoop

# How often the keys are read from moto, in the background: no request with a known key waits
# for moto, and a disabled key is refused about this long after it was disabled. A key made a
# moment ago works at once: an unknown key has them read again before it is refused.
REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class Key:
    """An API key as the gateway sees it: accepted when ``enabled`` and in a plan on the stage."""

    id: str
    value: str
    enabled: bool
    quota: int | None = None
    period: str = "DAY"


class KeyRing(BackgroundLoop):
    """The keys of the local stage, read from API Gateway (moto) every second (``start`` it)."""

    name = "key-ring"
    idle_seconds = REFRESH_SECONDS

    def __init__(
        self,
        rest_api_id: str,
        stage: str,
        aliases: Mapping[str, str] | None = None,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``aliases``: values that stand for a key id. The stack's own key may be shorter than
        the 20 characters API Gateway takes as a value (``local-dev-key``): moto holds a key of
        its own for it, and the gateway knows it by the value callers send."""
        super().__init__()
        self.rest_api_id, self.stage = rest_api_id, stage
        self.aliases = dict(aliases or {})
        self._client = client
        self._clock, self._today = clock, today
        self._keys: dict[str, Key] = {}
        self._read_started = float("-inf")
        self._lock = threading.Lock()  # the quota counts
        self._reading = threading.Lock()  # one read of moto at a time
        self._used: dict[str, tuple[str, int]] = {}  # key id -> (quota period, requests in it)

    def admit(self, value: str | None) -> Key:
        """The key ``value`` names, counted against its quota; UnauthorizedError (401) for a
        missing, unknown or disabled key, ThrottledError (429) for one over its quota."""
        if not value:
            raise UnauthorizedError.missing()
        key = self._find(value)
        if key is None or not key.enabled:
            raise UnauthorizedError.wrong()
        if key.quota is not None:
            period = _period(key.period, self._today())
            with self._lock:
                counted, used = self._used.get(key.id, (period, 0))
                used = used if counted == period else 0
                if used >= key.quota:
                    raise QUOTA_EXHAUSTED
                self._used[key.id] = (period, used + 1)
        # API Gateway's identity.apiKey is the value the caller sent (an alias's, too).
        return key if key.value == value else replace(key, value=value)

    def tick(self) -> bool:
        self._refresh()
        return False

    def _find(self, value: str) -> Key | None:
        key = self._keys.get(value)
        if key is None:
            self._refresh(asked=self._clock())
            key = self._keys.get(value)
        return key

    def _refresh(self, asked: float | None = None) -> None:
        """Read the keys again; for a request that ``asked`` at that time, unless a read that
        began after it has finished meanwhile (requests with unknown keys share one read)."""
        with self._reading:
            if asked is not None and self._read_started > asked:
                return
            self._read_started = self._clock()
            self._keys = self._read()  # replaced whole: a request sees the old table or the new one

    def _read(self) -> dict[str, Key]:
        client = self._apigateway()
        plans: dict[str, dict[str, Any]] = {}  # key id -> its plan on this stage
        for page in client.get_paginator("get_usage_plans").paginate():
            for plan in page.get("items", []):
                if not any(s.get("apiId") == self.rest_api_id and s.get("stage") == self.stage
                           for s in plan.get("apiStages", [])):  # fmt: skip
                    continue
                for keys in client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan["id"]):
                    for item in keys.get("items", []):
                        plans[item["id"]] = plan
        by_value: dict[str, Key] = {}
        by_id: dict[str, Key] = {}
        for page in client.get_paginator("get_api_keys").paginate(includeValues=True):
            for item in page.get("items", []):
                plan = plans.get(item["id"])
                if plan is None:  # in no plan of this stage: API Gateway refuses it
                    continue
                quota = plan.get("quota") or {}
                key = Key(
                    item["id"], item.get("value", ""), bool(item.get("enabled")),
                    int(quota["limit"]) if quota.get("limit") else None, quota.get("period", "DAY"),
                )  # fmt: skip
                by_value[key.value] = by_id[key.id] = key
        for value, key_id in self.aliases.items():
            if key_id in by_id:
                by_value[value] = by_id[key_id]
        return by_value

    def _apigateway(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("apigateway")
        return self._client


def _period(period: str, now: datetime) -> str:
    """The quota period ``now`` falls in (UTC), as a label: a day, an ISO week, a month."""
    if period == "WEEK":
        year, week, _ = now.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "MONTH":
        return now.strftime("%Y-%m")
    return now.strftime("%Y-%m-%d")
