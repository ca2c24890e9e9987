from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from fake_bedrock import FakeBedrock
from harness import BEDROCK_REGION, INPUT_BUCKET, OUTPUT_BUCKET, Aws
from moto import mock_aws

from core import clients


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
