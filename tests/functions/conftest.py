from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import botocore.loaders
import botocore.session
import iam_report
import pytest
from fake_bedrock import FakeBedrock
from harness import (
    BEDROCK_REGION,
    IDEMPOTENCY_TABLE,
    INPUT_BUCKET,
    OUTPUT_BUCKET,
    REGION,
    SPEND_TABLE,
    STATE_MACHINE_NAME,
    Aws,
    create_table,
)
from iam_audit import RECORDER, audit_handlers, denied, policies_for, unused
from moto import mock_aws

# The content credentials' KMS key and chain (tests/functions/signing.py), for any handler test.
from signing import signing, test_ca  # noqa: F401
from stacks import SEED_DEFAULTS

from core import callers, clients, http

# Before any test module imports a handler: every handler call is audited against IAM.
audit_handlers()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deployed_as(fixture): audit the test's AWS calls against that synthesized stack (default deployed)"
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto for S3 and Step Functions, the fake behind the Bedrock client, settings from env."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # Anything that escaped the fake would hit a closed loopback port, never the internet.
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:9",
        "IMAGEGEN_OUTPUT_BUCKET": OUTPUT_BUCKET,
        "IMAGEGEN_INPUT_BUCKET": INPUT_BUCKET,
        "IMAGEGEN_BEDROCK_REGION": BEDROCK_REGION,
        "IMAGEGEN_SPEND_TABLE": SPEND_TABLE,
        "IMAGEGEN_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        # As the deployed stack the audit checks against: Nova Canvas where it serves the task.
        "IMAGEGEN_DEFAULT_MODELS": json.dumps(SEED_DEFAULTS),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("IMAGEGEN_MODEL_IDS", "IMAGEGEN_MODELS", "IMAGEGEN_PRESIGN_TTL_SECONDS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # A warm container: the time since this process imported the handlers (a synth, other tests)
    # is no request's wait, and would shorten the sync deadline of the first request a process
    # makes. test_time_budgets.py sets a cold start where it means one.
    monkeypatch.setattr(http, "_first_request", False)
    with mock_aws():
        # moto starts each test on a new default session; this one shares the parsed service
        # models, which are read-only (credentials, config and clients stay per test).
        boto3.DEFAULT_SESSION = boto3.Session(botocore_session=_session_with_shared_models())
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (OUTPUT_BUCKET, INPUT_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name=STATE_MACHINE_NAME,
            definition=json.dumps(
                {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
            ),
            roleArn="arn:aws:iam::123456789012:role/imagegen-jobs",
        )
        monkeypatch.setenv("IMAGEGEN_STATE_MACHINE_ARN", machine["stateMachineArn"])
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for table, name in ((SPEND_TABLE, "spend"), (IDEMPOTENCY_TABLE, "idempotency")):
            create_table(dynamodb, table, name)
        clients.reset()
        callers.forget()
        fake = FakeBedrock()
        fake.install(clients.bedrock())
        fake.install(clients.bedrock(long=True))
        yield Aws(s3, sfn, machine["stateMachineArn"], fake, dynamodb)
    clients.reset()


# botocore's JSON models (endpoints, S3's ~3 MB service model), parsed once for the run: a fresh
# session parses them again, ~50 ms for every test that uses moto.
_MODELS = botocore.loaders.create_loader()


def _session_with_shared_models() -> botocore.session.Session:
    session = botocore.session.get_session()
    session.register_component("data_loader", _MODELS)
    return session


_USED: dict[str, set] = {}


@pytest.fixture(autouse=True)
def iam_audit(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test when a handler made or presigned a call its function's role does not allow."""
    marker = request.node.get_closest_marker("deployed_as")
    stack = marker.args[0] if marker else "deployed"
    uses_aws = "aws" in request.fixturenames
    synth = request.getfixturevalue(stack) if uses_aws else None
    RECORDER.take()
    # S3 answers a missing key as AWS would answer the function's role in this template.
    policies = RECORDER.policies = _policies(stack, synth) if synth is not None else None
    try:
        yield
    finally:
        RECORDER.policies = None
    calls = RECORDER.take()
    if policies is None or not calls:
        return
    refused, used = denied(policies, calls)
    _USED.setdefault(stack, set()).update(used)
    assert not refused, "the synthesized roles do not allow:\n  " + "\n  ".join(refused)


_POLICIES: dict[str, object] = {}


def _policies(stack: str, synth):
    if stack not in _POLICIES:
        from harness import state_machine_arn

        _POLICIES[stack] = policies_for(
            synth,
            {
                "output_bucket": OUTPUT_BUCKET,
                "input_bucket": INPUT_BUCKET,
                "state_machine_arn": state_machine_arn(),
                "state_machine_name": STATE_MACHINE_NAME,
                "region": REGION,
                "spend_table": SPEND_TABLE,
                "idempotency_table": IDEMPOTENCY_TABLE,
            },
        )
    return _POLICIES[stack]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The deployed stack's grants this process's tests left unused, for the run's one summary
    line (tests/iam_report.py; ``--iam-unused`` lists them)."""
    if "deployed" in _POLICIES:
        iam_report.hand_over(session.config, unused(_POLICIES["deployed"], _USED.get("deployed", set())))


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's backoff and adaptive rate-limit waits, skipped: the attempts still happen."""
    import types

    import botocore.endpoint
    from botocore.retries.bucket import TokenBucket

    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    monkeypatch.setattr(TokenBucket, "acquire", lambda self, amount=1, block=True: True)
