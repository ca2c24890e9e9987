"""The stack: composes the constructs, wires least-privilege grants, exports the outputs."""

from __future__ import annotations

from dataclasses import replace

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import layout
from core.config import Settings
from core.topology import FUNCTION_SETTINGS
from imagegen.registry import MODELS, model_id_for

from .api import INTEGRATION_TIMEOUT, TaskApi
from .config import DeployConfig
from .defaults import LOG_RETENTION
from .layer import PayloadLayer
from .nag import acknowledge_findings
from .storage import Storage
from .triggers import UploadTriggers
from .workflow import JobWorkflow


class ImageGenStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: DeployConfig, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.config = config
        bedrock_region = config.bedrock_region or self.region
        log_retention = LOG_RETENTION[config.log_retention_days]
        self.model_ids = [model_id_for(MODELS[name], config.model_ids) for name in config.models]

        self.storage = Storage(
            self,
            "Storage",
            output_retention_days=config.output_retention_days,
            scratch_retention_days=config.scratch_retention_days,
            cors_origins=config.cors_origins,
        )
        output, inputs = self.storage.output_bucket, self.storage.input_bucket
        settings = Settings(
            output_bucket=output.bucket_name,
            input_bucket=inputs.bucket_name,
            bedrock_region=bedrock_region,
            model_ids=dict(config.model_ids),
            enabled_models=config.models,
            async_threshold_pixels=config.async_threshold_pixels,
            presign_ttl_seconds=config.presign_ttl_seconds,
            upload_ttl_seconds=config.upload_ttl_seconds,
            sync_timeout_seconds=float(INTEGRATION_TIMEOUT.to_seconds()),
        )
        self.layer = PayloadLayer(self, "PayloadLayer").layer

        self.workflow = JobWorkflow(
            self,
            "Workflow",
            publish_environment=settings.to_env(*FUNCTION_SETTINGS["publish"]),
            fail_environment=settings.to_env(*FUNCTION_SETTINGS["fail"]),
            log_retention=log_retention,
        )
        machine = self.workflow.state_machine
        with_machine = replace(settings, state_machine_arn=machine.state_machine_arn)
        self.task_api = TaskApi(
            self,
            "TaskApi",
            environments={
                kind: with_machine.to_env(*FUNCTION_SETTINGS[kind]) for kind in ("task", "jobs", "uploads", "models")
            },
            layer=self.layer,
            log_retention=log_retention,
            throttle_rate_limit=config.throttle_rate_limit,
            throttle_burst_limit=config.throttle_burst_limit,
            quota_per_day=config.quota_per_day,
            iam_auth=config.iam_auth,
        )
        self.triggers = UploadTriggers(
            self,
            "Triggers",
            input_bucket=inputs,
            environment=settings.to_env(*FUNCTION_SETTINGS["trigger"]),
            layer=self.layer,
            max_concurrency=config.trigger_max_concurrency,
            log_retention=log_retention,
        )

        # --- least privilege ---------------------------------------------------------------
        model_arns = [
            self.format_arn(
                service="bedrock",
                region=bedrock_region,
                account="",
                resource="foundation-model",
                resource_name=model_id,
            )
            for model_id in self.model_ids
        ]
        invoke_models = iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=model_arns)
        functions = self.task_api.functions
        tasks = [functions[route] for route in functions if route not in ("jobs", "uploads", "models")]
        for function in tasks:
            function.add_to_role_policy(invoke_models)
            _allow(function, "s3:GetObject", inputs, layout.UPLOADS, layout.TRIGGERS)
            _allow(function, "s3:PutObject", output, layout.OUTPUTS, layout.JOBS)
            machine.grant_start_execution(function)
        _allow(functions["jobs"], "s3:GetObject", output, layout.OUTPUTS, layout.JOBS)
        functions["jobs"].add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"],
                resources=[self._executions_arn(machine.state_machine_name)],
            )
        )
        # A presigned PUT is made with the signer's permission.
        _allow(functions["uploads"], "s3:PutObject", inputs, layout.UPLOADS)
        for step in (self.workflow.publish_function, self.workflow.fail_function):
            _allow(step, "s3:GetObject", output, layout.JOBS)
            _allow(step, "s3:PutObject", output, layout.OUTPUTS)
        trigger = self.triggers.function
        trigger.add_to_role_policy(invoke_models)
        _allow(trigger, "s3:GetObject", inputs, layout.UPLOADS, layout.TRIGGERS)
        _allow(trigger, "s3:PutObject", output, layout.OUTPUTS)
        # The state machine's bedrock:invokeModel task reads the request and writes the response.
        machine.add_to_role_policy(invoke_models)
        machine.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[output.arn_for_objects(f"{layout.JOBS}*")])
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[output.arn_for_objects(f"{layout.JOBS}*")])
        )

        # --- outputs -------------------------------------------------------------------------
        CfnOutput(self, "ApiUrl", value=self.task_api.api.url_for_path("/v1"), description="Base URL of the API")
        if self.task_api.api_key is not None:
            CfnOutput(
                self,
                "ApiKeyId",
                value=self.task_api.api_key.key_id,
                description="Read the key with: aws apigateway get-api-key --include-value --query value "
                "--output text --api-key <ApiKeyId>",
            )
        CfnOutput(self, "OutputBucketName", value=output.bucket_name)
        CfnOutput(self, "InputBucketName", value=inputs.bucket_name, description="Drop files under triggers/")
        CfnOutput(self, "StateMachineArn", value=machine.state_machine_arn)
        CfnOutput(self, "TriggerDeadLetterQueueUrl", value=self.triggers.dead_letters.queue_url)

        acknowledge_findings(self)

    def _executions_arn(self, state_machine_name: str) -> str:
        # Executions are named by job id at run time: the resource names this machine's only.
        return self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )


def _allow(function: lambda_.IFunction, action: str, bucket: s3.IBucket, *prefixes: str) -> None:
    """One S3 object action on the given key prefixes of one bucket."""
    resources = [bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]
    function.add_to_role_policy(iam.PolicyStatement(actions=[action], resources=resources))
