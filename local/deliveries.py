"""Webhook deliveries, locally: the SQS event source mapping that feeds the unchanged
``webhook_delivery`` function, as local/poller.py feeds the trigger.

A failed attempt sets its own delay on the message (ChangeMessageVisibility, core/webhooks.py)
and stays in the queue; past the last attempt moto moves it to the dead-letter queue.
"""

from __future__ import annotations

from core.webhooks import BATCH_SIZE

from .poller import TriggerPoller


class WebhookPoller(TriggerPoller):
    name = "webhook-poller"
    function = "webhook_delivery"
    batch_size = BATCH_SIZE


# Short, so that an attempt that crashed comes back quickly (a failed one sets its own delay).
VISIBILITY_SECONDS = 30


def create_resources() -> dict[str, str]:
    """The webhook queue (with its dead-letter queue, as infra/webhooks.py makes them) and the
    signing secret, a Standard Webhooks secret generated for this run, in moto."""
    import base64
    import json
    import secrets

    import boto3

    from core.webhooks import MAX_ATTEMPTS, SECRET_PREFIX

    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="imagegen-webhooks-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_ATTEMPTS)})
    queue_url = sqs.create_queue(
        QueueName="imagegen-webhooks",
        Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS), "RedrivePolicy": redrive},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    arn = boto3.client("secretsmanager").create_secret(Name="imagegen-webhooks", SecretString=secret)["ARN"]
    return {
        "webhook_queue_url": queue_url,
        "webhook_queue_arn": queue_arn,
        "webhook_dead_letter_queue_url": dlq_url,
        "webhook_secret_arn": arn,
        "webhook_secret": secret,
    }
