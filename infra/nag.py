"""cdk-nag: the rule packs every synth runs, and the findings this design accepts, each with its reason."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from core import layout

if TYPE_CHECKING:
    from .stack import ImageGenStack


def rule_packs(app: App) -> list:
    return [AwsSolutionsChecks(app), ServerlessChecks(app)]


def acknowledge_findings(stack: ImageGenStack) -> None:
    validations = Validations.of(stack)

    def ack(*, id: str, reason: str) -> None:
        validations.acknowledge(Acknowledgment(id=id, reason=reason))

    storage = stack.storage
    prefixes = {
        storage.input_bucket: (layout.UPLOADS, layout.TRIGGERS),
        storage.output_bucket: (layout.OUTPUTS, layout.JOBS),
    }
    for finding in _object_prefix_findings(stack, prefixes):
        ack(
            id=finding,
            reason="S3 object access is scoped to one key prefix of one bucket; keys below it are job ids "
            "and upload ids created at run time",
        )
    ack(
        id="AwsSolutions-IAM5[Resource::*]",
        reason="X-Ray tracing (xray:PutTraceSegments/PutTelemetryRecords) and Step Functions log delivery "
        "(logs:*LogDelivery*, DescribeResourcePolicies) do not support resource-level permissions",
    )
    for function in (stack.workflow.publish_function, stack.workflow.fail_function):
        ack(
            id=f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(function.node.default_child)}.Arn>:*]",
            reason="the state machine may invoke any version of its own publish/fail function "
            "(CDK's LambdaInvoke grant)",
        )
    ack(
        id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
        f"<{stack.get_logical_id(stack.workflow.state_machine.node.default_child)}.Name>:*]",
        reason="GET /v1/jobs describes executions of this state machine only; they are named by job id at run time",
    )
    ack(
        id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
        reason="API Gateway's account-level logging role uses the AWS-managed policy made for it",
    )
    runtime_reason = (
        "python3.12 on arm64 is this product's runtime: the payload layer's wheels are built for it; "
        "moving to a newer runtime is a deliberate upgrade of layer and functions together"
    )
    ack(id="AwsSolutions-L1", reason=runtime_reason)
    ack(id="Serverless-LambdaLatestVersion", reason=runtime_reason)
    ack(
        id="Serverless-LambdaDLQ",
        reason="every function is invoked synchronously (API Gateway, Step Functions) or by an SQS event source "
        "whose queue has its own dead-letter queue; a function DLQ only applies to asynchronous invocations",
    )
    ack(
        id="Serverless-LambdaEventSourceMappingDestination",
        reason="SQS event sources do not support on-failure destinations; the queue's redrive policy moves "
        "failed messages to the dead-letter queue, which has an alarm",
    )
    ack(
        id="Serverless-SQSRedrivePolicy",
        reason="this queue is the dead-letter queue; its messages are inspected and redriven by an operator",
    )
    ack(
        id="AwsSolutions-APIG2",
        reason="each handler validates the body against the model registry and answers 400 naming every field; "
        "a gateway JSON schema would be a second, weaker copy of those rules",
    )
    ack(
        id="AwsSolutions-APIG3",
        reason="callers are API-key holders throttled and capped by the usage plan; attach a WAF web ACL to the "
        "stage where an organisation's policy requires one",
    )
    ack(
        id="AwsSolutions-COG4",
        reason="the API authenticates with API keys and a usage plan, or with IAM (SigV4) when iam_auth is set; "
        "no Cognito user pool is involved",
    )
    # CDK's custom resource that configures the bucket notification at deploy time.
    for child in stack.node.children:
        if child.node.id.startswith("BucketNotificationsHandler"):
            Validations.of(child).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]",
                    reason="CDK's bucket-notification handler runs only at deploy time and comes with this role; "
                    "it is not one of the product's functions",
                )
            )
    if not stack.config.iam_auth:
        ack(
            id="AwsSolutions-APIG4",
            reason="every method requires an API key bound to the usage plan; set iam_auth for IAM authorization",
        )


def _object_prefix_findings(stack: Stack, prefixes: dict[s3.Bucket, Iterable[str]]) -> list[str]:
    findings = []
    for bucket, bucket_prefixes in prefixes.items():
        logical_id = stack.get_logical_id(bucket.node.default_child)
        findings += [f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{prefix}*]" for prefix in bucket_prefixes]
    return findings
