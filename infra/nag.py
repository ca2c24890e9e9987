"""cdk-nag: the rule packs every synth runs, and the findings this design accepts, each with its reason."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct

if TYPE_CHECKING:
    from .stack import ImageGenStack


def rule_packs(app: App) -> list:
    return [AwsSolutionsChecks(app), ServerlessChecks(app)]


def acknowledge_findings(stack: ImageGenStack) -> None:
    validations = Validations.of(stack)

    def ack(*, id: str, reason: str) -> None:
        validations.acknowledge(Acknowledgment(id=id, reason=reason))

    ack(
        id="AwsSolutions-IAM5[Resource::*]",
        reason="X-Ray tracing (xray:PutTraceSegments/PutTelemetryRecords) and Step Functions log delivery "
        "(logs:*LogDelivery*, DescribeResourcePolicies) do not support resource-level permissions",
    )
    for function in (stack.workflow.publish_function, stack.workflow.fail_function):
        # CDK's LambdaInvoke grant: the function and any of its versions.
        Validations.of(stack.workflow.state_machine.role).acknowledge(
            Acknowledgment(
                id=wildcard_finding(stack, f"{function.function_arn}:*"),
                reason="the state machine may invoke any version of its own publish/fail function",
            )
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
    for method in stack.task_api.public_methods:
        Validations.of(method).acknowledge(
            Acknowledgment(
                id="AwsSolutions-APIG4",
                reason="the OpenAPI document describes the API's public contract; it holds no data and needs no key",
            )
        )
    Validations.of(stack.monitoring.topic).acknowledge(
        Acknowledgment(
            id="Serverless-SNSRedrivePolicy",
            reason="the alarm e-mail subscription: a notification that cannot be delivered loses nothing, the "
            "alarm's state and history stay in CloudWatch",
        )
    )
    if not stack.config.iam_auth:
        ack(
            id="AwsSolutions-APIG4",
            reason="every method requires an API key bound to the usage plan; set iam_auth for IAM authorization",
        )


def acknowledge_wildcards(grantee: IConstruct, statement: iam.PolicyStatement, reason: str) -> None:
    """Acknowledge, on ``grantee`` only, the AwsSolutions-IAM5 finding of each wildcard resource
    of ``statement``: the finding is computed from the resource as granted, so it holds whether
    the stack is synthesized for an account and region or without."""
    stack = Stack.of(grantee)
    for resource in statement.resources:
        finding = wildcard_finding(stack, resource)
        if "*" in finding:
            Validations.of(grantee).acknowledge(Acknowledgment(id=finding, reason=reason))


def wildcard_finding(stack: Stack, resource: str) -> str:
    """The id cdk-nag gives an IAM5 finding on ``resource`` (its flattenCfnReference rendering)."""
    return f"AwsSolutions-IAM5[Resource::{flatten_reference(stack.resolve(resource))}]"


def flatten_reference(node: Any) -> str:
    """A resolved CloudFormation value as cdk-nag flattens it: ``arn:<AWS::Partition>:...<Bucket.Arn>``."""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return delimiter.join(flatten_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))
