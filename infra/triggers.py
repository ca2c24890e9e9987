"""Upload triggers: input bucket ``triggers/`` notifications -> SQS (with a dead-letter queue)
-> the trigger Lambda, with bounded concurrency and partial batch responses."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from core import layout
from core.topology import TRIGGER_BATCH_SIZE, TRIGGER_MAX_RECEIVE_COUNT, TRIGGER_TIMEOUT_SECONDS

from .defaults import FunctionLogs, python_function, queue_with_dead_letters

TRIGGER_TIMEOUT = Duration.seconds(TRIGGER_TIMEOUT_SECONDS)
# AWS's advice for SQS event sources: visibility at least six times the function timeout.
VISIBILITY_TIMEOUT = Duration.minutes(60)


class UploadTriggers(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        input_bucket: s3.IBucket,
        environment: Mapping[str, str],
        layer: lambda_.ILayerVersion,
        max_concurrency: int,
        function_logs: FunctionLogs,
    ) -> None:
        super().__init__(scope, id)
        self.queue, self.dead_letters = queue_with_dead_letters(
            self,
            visibility_timeout=VISIBILITY_TIMEOUT,
            retention_period=Duration.days(4),
            max_receive_count=TRIGGER_MAX_RECEIVE_COUNT,
        )
        input_bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.queue),
            s3.NotificationKeyFilter(prefix=layout.TRIGGERS),
        )
        self.function = python_function(
            self,
            "Function",
            module="trigger",
            description="Runs a job for each object created under triggers/",
            memory_mb=1024,
            timeout=TRIGGER_TIMEOUT,
            environment=environment,
            function_logs=function_logs,
            layer=layer,
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=TRIGGER_BATCH_SIZE,
                max_concurrency=max_concurrency,
                report_batch_item_failures=True,
            )
        )
