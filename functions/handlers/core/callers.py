"""Who is calling: the team of the request's API key, which owns the jobs it starts and pays for
them out of its budget.

API Gateway puts the id of the key a usage plan accepted in ``requestContext.identity.apiKeyId``
("The API key ID associated with a key-authorized API request",
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html).
``imagegen admin keys create`` records each key's team in the spend table (``APIKEY#<id>``); a
key it did not make (the stack's own) belongs to the team ``default``. Without a key (IAM auth)
there is no team: every caller is the deployment's operator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from imagegen.errors import UpstreamError
from imagegen.logs import get_logger

from . import clients
from .config import settings

log = get_logger()

DEFAULT_TEAM = "default"
# A key's team is read once per container for this long: a key is made once, and revoking it
# is API Gateway's to enforce.
TEAM_CACHE_SECONDS = 300
_teams: dict[str, tuple[str, float]] = {}


@dataclass(frozen=True)
class Caller:
    team: str | None = None
    key_id: str | None = None

    def may_read(self, owner: str | None) -> bool:
        """A job without an owner (a trigger's) is the deployment's: any key reads it."""
        return owner is None or self.team is None or owner == self.team


NOBODY = Caller()


def of_event(event: dict[str, Any]) -> Caller:
    key_id = ((event.get("requestContext") or {}).get("identity") or {}).get("apiKeyId")
    if not key_id:
        return NOBODY
    return Caller(team_of_key(str(key_id)), str(key_id))


def team_of_key(key_id: str) -> str:
    cached = _teams.get(key_id)
    if cached and time.monotonic() - cached[1] < TEAM_CACHE_SECONDS:
        return cached[0]
    table = settings().spend_table
    team = DEFAULT_TEAM
    if table:
        try:
            item = (
                clients.dynamodb()
                .get_item(TableName=table, Key={"pk": {"S": f"APIKEY#{key_id}"}, "sk": {"S": "TEAM"}})
                .get("Item")
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("reading the team of key %s failed: %s", key_id, exc)
            raise UpstreamError("reading the API key's team failed") from None
        if item:
            team = item["team"]["S"]
    _teams[key_id] = (team, time.monotonic())
    return team


def forget() -> None:
    """Forget the teams read (tests, and a container whose keys changed)."""
    _teams.clear()
