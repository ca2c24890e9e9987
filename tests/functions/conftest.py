from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from fake_bedrock import FakeBedrock
from moto import mock_aws

from core import clients

EVENTS = Path(__file__).parent.parent / "events"
OUTPUT_BUCKET = "imagegen-output"
INPUT_BUCKET = "imagegen-input"
BEDROCK_REGION = "us-west-2"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def api_event(path: str, body: Any = None, *, method: str = "POST", raw: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("api-post-task.json"))
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["body"] = raw if raw is not None else (None if body is None else json.dumps(body))
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

    def keys(self, bucket: str = OUTPUT_BUCKET, prefix: str = "") -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def json(self, key: str, bucket: str = OUTPUT_BUCKET) -> Any:
        return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto for S3 and Step Functions, the fake behind the Bedrock client, settings from env."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        # Anything that escaped the fake would hit a closed loopback port, never the internet.
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:9",
        "IMAGEGEN_OUTPUT_BUCKET": OUTPUT_BUCKET,
        "IMAGEGEN_INPUT_BUCKET": INPUT_BUCKET,
        "IMAGEGEN_BEDROCK_REGION": BEDROCK_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("IMAGEGEN_MODEL_IDS", "IMAGEGEN_MODELS", "IMAGEGEN_PRESIGN_TTL_SECONDS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (OUTPUT_BUCKET, INPUT_BUCKET):
            s3.create_bucket(Bucket=bucket)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="imagegen-jobs",
            definition=json.dumps(
                {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
            ),
            roleArn="arn:aws:iam::123456789012:role/imagegen-jobs",
        )
        monkeypatch.setenv("IMAGEGEN_STATE_MACHINE_ARN", machine["stateMachineArn"])
        clients.reset()
        fake = FakeBedrock()
        fake.install(clients.bedrock())
        fake.install(clients.bedrock(long=True))
        yield Aws(s3, sfn, machine["stateMachineArn"], fake)
    clients.reset()


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's backoff and adaptive rate-limit waits, skipped: the attempts still happen."""
    import types

    import botocore.endpoint
    from botocore.retries.bucket import TokenBucket

    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    monkeypatch.setattr(TokenBucket, "acquire", lambda self, amount=1, block=True: True)
