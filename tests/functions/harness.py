"""Helpers for the handler tests: events from tests/events, a Lambda context, the AWS fixture's view."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fake_bedrock import FakeBedrock
from stacks import ACCOUNT, REGION
from urllib3 import encode_multipart_formdata

EVENTS = Path(__file__).parent.parent / "events"
OUTPUT_BUCKET = "imagegen-output"
INPUT_BUCKET = "imagegen-input"
# The stack's region: Stable Image Core, Ultra and SD3.5 answer only in us-west-2.
BEDROCK_REGION = REGION
STATE_MACHINE_NAME = "imagegen-jobs"
SPEND_TABLE = "imagegen-spend"
IDEMPOTENCY_TABLE = "imagegen-idempotency"


def state_machine_arn() -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"


def create_table(dynamodb: Any, name: str, kind: str) -> None:
    """A table of the stack's (core.topology.TABLES), as infra/tables.py makes it."""
    from core.topology import TABLES

    partition, sort, _ = TABLES[kind]
    keys = [(partition, "HASH"), *([(sort, "RANGE")] if sort else [])]
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


# Where the deployed API answers: API Gateway's domain and the stage (tests/events/*.json).
API_BASE_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"


def api_event(path: str, body: Any = None, *, method: str = "POST", raw: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("api-post-task.json"))
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    event["requestContext"]["path"] = f"/prod{path}"
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["body"] = raw if raw is not None else (None if body is None else json.dumps(body))
    return event


def form_event(path: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A multipart form as API Gateway passes it with multipart/form-data a binary media type."""
    body, content_type = encode_multipart_formdata(fields)
    event = api_event(path, raw=base64.b64encode(body).decode("ascii"))
    event["headers"]["Content-Type"] = content_type
    event["isBase64Encoded"] = True
    return event


def job_event(job_id: str) -> dict[str, Any]:
    event = load_event("api-get-job.json")
    event["pathParameters"] = {"id": job_id}
    event["path"] = f"/v1/jobs/{job_id}"
    return event


class LambdaContext:
    aws_request_id = "8f5e2a1c-0000-4000-8000-000000000000"
    function_name = "imagegen-test"

    def __init__(self, remaining_ms: int = 29_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def call(handler: Any, event: dict[str, Any], context: Any = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Invoke an API handler; return status, decoded JSON body and headers."""
    response = handler(event, context or LambdaContext())
    return response["statusCode"], json.loads(response["body"]), response["headers"]


@dataclass
class Aws:
    s3: Any
    sfn: Any
    state_machine_arn: str
    bedrock: FakeBedrock
    dynamodb: Any = None

    def reconfigure(self) -> None:
        """After the environment changed: new settings and clients, the same fake behind Bedrock."""
        from core import clients

        clients.reset()
        self.bedrock.install(clients.bedrock())
        self.bedrock.install(clients.bedrock(long=True))

    def keys(self, bucket: str = OUTPUT_BUCKET, prefix: str = "") -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def json(self, key: str, bucket: str = OUTPUT_BUCKET) -> Any:
        return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
