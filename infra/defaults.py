"""Secure defaults in one place: every bucket and every function of the stack is made here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from core.topology import PROCESS_ENVIRONMENT

from . import HANDLERS_DIR

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


# The application log levels Lambda's logging configuration takes.
LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARN": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}


@dataclass(frozen=True)
class FunctionLogs:
    """How every function logs: retention of its log group, and its application log level."""

    retention: logs.RetentionDays
    level: str = "INFO"


def secure_bucket(
    scope: Construct,
    id: str,
    *,
    access_logs: s3.IBucket | None,
    lifecycle_rules: Sequence[s3.LifecycleRule] = (),
    cors: Sequence[s3.CorsRule] = (),
    versioned: bool = True,
) -> s3.Bucket:
    """Private, encrypted, TLS-only, owner-enforced; data is kept when the stack is deleted."""
    bucket = s3.Bucket(
        scope,
        id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=versioned,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{id.lower()}/" if access_logs else None,
        lifecycle_rules=list(lifecycle_rules),
        cors=list(cors) or None,
        removal_policy=RemovalPolicy.RETAIN,
    )
    # The bucket's policy (TLS only; for the access-log bucket, the logging service's grant) is
    # a resource of its own that CDK would delete on destroy while the bucket stays
    # (https://github.com/aws/aws-cdk/issues/27125): keep them together.
    bucket.policy.apply_removal_policy(RemovalPolicy.RETAIN)
    return bucket


def queue_with_dead_letters(
    scope: Construct, *, visibility_timeout: Duration, retention_period: Duration, max_receive_count: int
) -> tuple[sqs.Queue, sqs.Queue]:
    """A queue (``Queue``) whose messages move to a dead-letter queue (``DeadLetters``, kept 14
    days) after ``max_receive_count`` receives; both encrypted and TLS-only."""
    dead_letters = sqs.Queue(
        scope,
        "DeadLetters",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    queue = sqs.Queue(
        scope,
        "Queue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        retention_period=retention_period,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=max_receive_count),
    )
    return queue, dead_letters


def handler_code() -> lambda_.Code:
    """The handler folder, one asset shared by every function."""
    return lambda_.Code.from_asset(str(HANDLERS_DIR), exclude=["**/__pycache__", "**/*.pyc"])


def python_function(
    scope: Construct,
    id: str,
    *,
    module: str,
    description: str,
    memory_mb: int,
    timeout: Duration,
    environment: Mapping[str, str],
    function_logs: FunctionLogs,
    layer: lambda_.ILayerVersion,
) -> lambda_.Function:
    """A handler of functions/handlers on python3.12/arm64, traced, with its own log group.

    Logs are Lambda's JSON format at the deployment's level: the runtime sets the root logger's
    level from it and writes every record's extra fields (requestId, jobId, task, model) as keys.

    Every handler imports ``imagegen``, so every function gets the payload layer.
    """
    log_group = logs.LogGroup(
        scope, f"{id}Logs", retention=function_logs.retention, removal_policy=RemovalPolicy.DESTROY
    )
    # Its own role, allowed to write only its own log group (no managed basic-execution policy).
    role = iam.Role(scope, f"{id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    log_group.grant_write(role)
    return lambda_.Function(
        scope,
        id,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=f"{module}.handler",
        code=handler_code(),
        description=description,
        memory_size=memory_mb,
        timeout=timeout,
        environment={**PROCESS_ENVIRONMENT, **environment},
        layers=[layer],
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=LOG_LEVELS[function_logs.level],
        # The platform's own lines (START, END, REPORT) only when they warn.
        system_log_level_v2=lambda_.SystemLogLevel.WARN,
        role=role,
    )
