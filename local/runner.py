"""Async jobs, locally: what the state machine does, with the same step code and retry rules.

``StartExecution`` lands in moto, which does not run Bedrock tasks; this runner picks up each
new execution and plays the definition of infra/workflow.py: every call of ``calls`` through
``bedrock:invokeModel`` (request and response in S3, INVOKE_RETRY), then the ``publish``
handler (PUBLISH_RETRY), and on an error the ``fail`` handler with ``{"Error", "Cause"}``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from core.layout import split_s3_uri
from core.topology import INVOKE_RETRY, PUBLISH_RETRY, RetryRule

from .worker import BackgroundLoop

log = logging.getLogger("imagegen.local")

# The steps this runner plays, in the state machine's terms (a test compares them with the
# synthesized definition).
STEPS = {
    "items": "$.calls",
    "invoke": "arn:aws:states:::bedrock:invokeModel",
    "invoke_retry": INVOKE_RETRY,
    "publish": "publish",
    "publish_retry": PUBLISH_RETRY,
    "catch": "fail",
}


class StepFailed(Exception):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


def with_retries(rule: RetryRule, step: Any, sleep: Any = time.sleep) -> Any:
    """Run ``step`` as Step Functions would under ``rule`` (exponential backoff, full jitter)."""
    attempt = 0
    while True:
        try:
            return step()
        except StepFailed as failure:
            attempt += 1
            if failure.error not in rule.errors or attempt >= rule.max_attempts:
                raise
            delay = rule.interval_seconds * rule.backoff_rate ** (attempt - 1)
            if rule.max_delay_seconds is not None:
                delay = min(delay, rule.max_delay_seconds)
            sleep(random.uniform(0, delay) if rule.jitter == "FULL" else delay)


class JobRunner(BackgroundLoop):
    name = "job-runner"

    def __init__(self, state_machine_arn: str) -> None:
        super().__init__()
        self.state_machine_arn = state_machine_arn
        # Clients of the runner itself (the handlers keep theirs); retries are the rules above.
        no_retries = Config(retries={"total_max_attempts": 1}, read_timeout=300)
        self.sfn = boto3.client("stepfunctions")
        self.s3 = boto3.client("s3")
        self.bedrock = boto3.client("bedrock-runtime", config=no_retries)

    def tick(self) -> bool:
        running = self.sfn.list_executions(stateMachineArn=self.state_machine_arn, statusFilter="RUNNING")
        for execution in running["executions"]:
            self.run(execution["executionArn"])
        return bool(running["executions"])

    def run(self, execution_arn: str) -> None:
        from fail import handler as fail
        from publish import handler as publish

        job = json.loads(self.sfn.describe_execution(executionArn=execution_arn)["input"])
        failure = None
        try:
            for call in job["calls"]:
                with_retries(INVOKE_RETRY, lambda call=call: self._invoke(call))
            with_retries(PUBLISH_RETRY, lambda: self._publish(publish, job["jobId"]))
        except StepFailed as failed:
            failure = failed
        except Exception as exc:  # what the definition's Catch (States.ALL) takes as well
            failure = StepFailed("States.Runtime", f"{type(exc).__name__}: {exc}")
        if failure is not None:
            fail({"jobId": job["jobId"], "error": {"Error": failure.error, "Cause": failure.cause}}, None)
            log.info("job %s failed: %s", job["jobId"], failure.error)
        # Moto cannot mark an execution succeeded; stopping it takes it off the RUNNING list.
        self.sfn.stop_execution(executionArn=execution_arn)

    def _invoke(self, call: dict[str, str]) -> None:
        bucket, key = split_s3_uri(call["input"])
        request = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            response = self.bedrock.invoke_model(
                modelId=call["modelId"], body=request, contentType="application/json", accept="application/json"
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StepFailed(f"Bedrock.{error.get('Code', 'Unknown')}", error.get("Message", "")) from None
        bucket, key = split_s3_uri(call["output"])
        self.s3.put_object(Bucket=bucket, Key=key, Body=response["body"].read(), ContentType="application/json")

    @staticmethod
    def _publish(publish: Any, job_id: str) -> None:
        try:
            publish({"jobId": job_id}, None)
        except Exception as exc:
            cause = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})
            raise StepFailed("States.TaskFailed", cause) from None
