"""The long-generation workflow: a Standard state machine that calls Bedrock with the request
and response in S3, then publishes the images or records the failure.

Input: ``{"jobId", "calls": [{"modelId", "input", "output"}]}`` (core/workflow.py writes it).
A Stable Image Core fan-out is several calls, run by the Map.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from core.topology import INVOKE_RETRY, INVOKE_TIMEOUT_SECONDS, MAX_PARALLEL_CALLS, PUBLISH_RETRY

from .defaults import FunctionLogs, python_function

JOB_TIMEOUT = Duration.minutes(60)


def invoke_model_state(scope: Construct) -> sfn.CustomState:
    """The optimized ``bedrock:invokeModel`` integration with S3 input and output.

    A CustomState because the model id comes from the job (overridable per deployment), and
    the CDK task wants a fixed model; IAM for it is granted by the stack on the model ARNs.
    """
    return sfn.CustomState(
        scope,
        "InvokeModel",
        state_json={
            "Type": "Task",
            "Resource": f"arn:{Aws.PARTITION}:states:::bedrock:invokeModel",
            # A call that hangs ends here, and is not retried: it may have generated (and billed).
            "TimeoutSeconds": INVOKE_TIMEOUT_SECONDS,
            "Parameters": {
                "ModelId.$": "$.modelId",
                "ContentType": "application/json",
                "Accept": "application/json",
                "Input": {"S3Uri.$": "$.input"},
                "Output": {"S3Uri.$": "$.output"},
            },
            "ResultPath": None,
            "Retry": [INVOKE_RETRY.as_state_json()],
        },
    )


class JobWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        publish_environment: Mapping[str, str],
        fail_environment: Mapping[str, str],
        layer: lambda_.ILayerVersion,
        function_logs: FunctionLogs,
    ) -> None:
        super().__init__(scope, id)
        self.publish_function = python_function(
            self,
            "Publish",
            module="publish",
            description="Async job: model responses in S3 -> images and manifest",
            memory_mb=1024,
            timeout=Duration.minutes(2),
            environment=publish_environment,
            function_logs=function_logs,
            layer=layer,
        )
        self.fail_function = python_function(
            self,
            "Fail",
            module="fail",
            description="Async job: record the error as a FAILED manifest",
            memory_mb=256,
            timeout=Duration.seconds(30),
            environment=fail_environment,
            function_logs=function_logs,
            layer=layer,
        )

        job_id = sfn.TaskInput.from_object({"jobId": sfn.JsonPath.string_at("$.jobId")})
        record_failure = tasks.LambdaInvoke(
            self,
            "RecordFailure",
            lambda_function=self.fail_function,
            payload=sfn.TaskInput.from_object(
                {"jobId": sfn.JsonPath.string_at("$.jobId"), "error": sfn.JsonPath.object_at("$.error")}
            ),
            result_path=sfn.JsonPath.DISCARD,
            retry_on_service_exceptions=True,
        ).next(sfn.Fail(self, "JobFailed", error="JobFailed", cause="see outputs/<jobId>/manifest.json"))

        calls = sfn.Map(
            self,
            "CallModel",
            items_path="$.calls",
            max_concurrency=MAX_PARALLEL_CALLS,
            result_path=sfn.JsonPath.DISCARD,
        )
        calls.item_processor(invoke_model_state(self))
        calls.add_catch(record_failure, errors=["States.ALL"], result_path="$.error")

        publish = tasks.LambdaInvoke(
            self,
            "PublishImages",
            lambda_function=self.publish_function,
            payload=job_id,
            result_path=sfn.JsonPath.DISCARD,
            retry_on_service_exceptions=True,
        )
        publish.add_retry(
            errors=list(PUBLISH_RETRY.errors),
            interval=Duration.seconds(PUBLISH_RETRY.interval_seconds),
            backoff_rate=PUBLISH_RETRY.backoff_rate,
            max_attempts=PUBLISH_RETRY.max_attempts,
            jitter_strategy=sfn.JitterType.FULL,
        )
        publish.add_catch(record_failure, errors=["States.ALL"], result_path="$.error")

        self.log_group = logs.LogGroup(
            self, "Logs", retention=function_logs.retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(
                calls.next(publish).next(sfn.Succeed(self, "JobSucceeded"))
            ),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=JOB_TIMEOUT,
            tracing_enabled=True,
            # Execution data would include prompts: log events, not payloads.
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
