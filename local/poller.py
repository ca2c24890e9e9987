"""Upload triggers, locally: the SQS event source mapping that feeds the unchanged ``trigger``.

Batches of TRIGGER_BATCH_SIZE; messages the handler reports in ``batchItemFailures`` stay in
the queue, come back after the visibility timeout and, past the redrive limit, move to the
dead-letter queue, as in the cloud.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import boto3

from core.topology import TRIGGER_BATCH_SIZE

from .worker import BackgroundLoop

log = logging.getLogger("imagegen.local")


class TriggerPoller(BackgroundLoop):
    name = "trigger-poller"
    # The function the queue feeds (its module in functions/handlers), and the mapping's batch size.
    function = "trigger"
    batch_size = TRIGGER_BATCH_SIZE

    def __init__(self, queue_url: str, queue_arn: str) -> None:
        super().__init__()
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self.sqs = boto3.client("sqs")

    def tick(self) -> bool:
        return self.poll() > 0

    def poll(self) -> int:
        handler = importlib.import_module(self.function).handler
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        result = handler({"Records": [self._record(m) for m in received]}, None)
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        for message in received:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(received)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }
