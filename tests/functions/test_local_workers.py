"""The local stack's job runner and trigger poller, against moto (in-process)."""

from __future__ import annotations

import json

import boto3
import pytest

import local  # noqa: F401
from core.topology import INVOKE_RETRY, RetryRule
from local.poller import TriggerPoller
from local.runner import StepFailed, with_retries


def test_retries_follow_the_rule_then_give_up():
    attempts, sleeps = [], []

    def throttled():
        attempts.append(1)
        raise StepFailed("Bedrock.ThrottlingException", "slow down")

    with pytest.raises(StepFailed):
        with_retries(INVOKE_RETRY, throttled, sleep=sleeps.append)

    assert len(attempts) == INVOKE_RETRY.max_attempts
    caps = [
        min(INVOKE_RETRY.interval_seconds * INVOKE_RETRY.backoff_rate**n, INVOKE_RETRY.max_delay_seconds)
        for n in range(5)
    ]
    assert all(0 <= slept <= cap for slept, cap in zip(sleeps, caps, strict=True))


def test_errors_outside_the_rule_are_not_retried():
    attempts = []

    def invalid():
        attempts.append(1)
        raise StepFailed("Bedrock.ValidationException", "bad body")

    with pytest.raises(StepFailed):
        with_retries(RetryRule(("Bedrock.ThrottlingException",), 1, 2, 3), invalid, sleep=lambda s: None)

    assert len(attempts) == 1


def test_a_message_the_handler_fails_returns_and_finally_reaches_the_dead_letter_queue(aws):
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="triggers",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=queue, MessageBody="not an S3 notification")
    poller = TriggerPoller(queue, arn)

    received = sum(poller.poll() for _ in range(6))

    assert received == 3, "delivered up to the redrive limit"
    moved = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages", [])
    assert [m["Body"] for m in moved] == ["not an S3 notification"]


def test_a_handled_message_is_deleted(aws):
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="triggers", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"Event": "s3:TestEvent"}))
    poller = TriggerPoller(queue, arn)

    assert poller.poll() == 1
    assert poller.poll() == 0
