"""The stack: composes the constructs, wires least-privilege grants, exports the outputs."""

from __future__ import annotations

from dataclasses import replace

from aws_cdk import ArnFormat, Aws, CfnOutput, CfnRule, CfnRuleAssertion, Fn, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import layout
from core.config import Settings
from core.routes import ROUTES, Route
from core.topology import FUNCTION_SETTINGS, SIGNING_FUNCTIONS
from imagegen.registry import MODELS, inference_profile_model, model_id_for, placed_models

from .api import INTEGRATION_TIMEOUT, TaskApi
from .config import DeployConfig
from .defaults import LOG_RETENTION, FunctionLogs
from .layer import PayloadLayer
from .monitoring import Monitoring
from .nag import acknowledge_findings, acknowledge_wildcards
from .provenance import Provenance
from .storage import Storage
from .tables import Tables
from .triggers import UploadTriggers
from .webhooks import Webhooks
from .workflow import JobWorkflow


class ImageGenStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: DeployConfig, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.config = config
        bedrock_region = config.bedrock_region or self.region
        self._require_bedrock_in_stack_region(config.bedrock_region)
        if not config.allow_unlisted_regions:
            self._require_models_offered_in(bedrock_region, config)
        function_logs = FunctionLogs(LOG_RETENTION[config.log_retention_days], config.log_level)
        self.model_ids = [model_id_for(MODELS[name], config.model_ids) for name in config.models]

        self.storage = Storage(
            self,
            "Storage",
            output_retention_days=config.output_retention_days,
            scratch_retention_days=config.scratch_retention_days,
            cors_origins=config.cors_origins,
        )
        output, inputs = self.storage.output_bucket, self.storage.input_bucket
        self.tables = Tables(self, "Tables")
        spend, idempotency = self.tables.spend, self.tables.idempotency
        settings = Settings(
            output_bucket=output.bucket_name,
            input_bucket=inputs.bucket_name,
            bedrock_region=bedrock_region,
            model_ids=dict(config.model_ids),
            enabled_models=config.models,
            default_models={task: config.default_model(task) for task in config.tasks},
            openai_models=dict(config.openai_models),
            async_threshold_pixels=config.async_threshold_pixels,
            presign_ttl_seconds=config.presign_ttl_seconds,
            upload_ttl_seconds=config.upload_ttl_seconds,
            sync_timeout_seconds=float(INTEGRATION_TIMEOUT.to_seconds()),
            cors_origins=config.cors_origins,
            spend_table=spend.table_name,
            idempotency_table=idempotency.table_name,
        )
        self.layer = PayloadLayer(self, "PayloadLayer").layer
        # Content credentials: the key and chain of the functions that sign images (core.topology).
        self.provenance = Provenance(
            self, "Provenance", mode=config.provenance, timestamp_url=config.provenance_timestamp_url
        )
        settings = replace(settings, **self.provenance.settings())
        self.webhooks = Webhooks(
            self,
            "Webhooks",
            environment=settings.to_env(FUNCTION_SETTINGS["webhook_delivery"]),
            layer=self.layer,
            function_logs=function_logs,
        )
        # Every function that ends jobs queues their webhooks.
        settings = replace(settings, webhook_queue_url=self.webhooks.queue.queue_url)

        self.workflow = JobWorkflow(
            self,
            "Workflow",
            publish_environment=settings.to_env(FUNCTION_SETTINGS["publish"]),
            fail_environment=settings.to_env(FUNCTION_SETTINGS["fail"]),
            layer=self.layer,
            function_logs=function_logs,
        )
        machine = self.workflow.state_machine
        with_machine = replace(settings, state_machine_arn=machine.state_machine_arn)
        self.task_api = TaskApi(
            self,
            "TaskApi",
            environments={
                kind: with_machine.to_env(FUNCTION_SETTINGS[kind])
                for kind in sorted({route.kind for route in ROUTES} | {"authorizer"})
            },
            layer=self.layer,
            function_logs=function_logs,
            throttle_rate_limit=config.throttle_rate_limit,
            throttle_burst_limit=config.throttle_burst_limit,
            quota_per_day=config.quota_per_day,
            iam_auth=config.iam_auth,
            cors_origins=config.cors_origins,
            routes=[route for route in ROUTES if _deployed(route, config)],
        )
        if not config.iam_auth:
            # The playground page is served by the API and uploads from the browser.
            self.storage.allow_page(self.task_api.origin)
        self.triggers = UploadTriggers(
            self,
            "Triggers",
            input_bucket=inputs,
            environment=settings.to_env(FUNCTION_SETTINGS["trigger"]),
            layer=self.layer,
            max_concurrency=config.trigger_max_concurrency,
            function_logs=function_logs,
        )

        # --- least privilege: each role may do exactly what its function's code does --------
        # (tests/functions audits every call and presigned URL of the handler tests against it)
        invoke_models = iam.PolicyStatement(
            actions=["bedrock:InvokeModel"],
            resources=[arn for model_id in self.model_ids for arn in self._model_arns(model_id, bedrock_region)],
        )
        functions = self.task_api.functions
        kinds = {route.module: route.kind for route in ROUTES}
        for module, function in functions.items():
            if kinds[module] not in ("task", "openai"):
                continue
            self._grant(function.role, invoke_models, _PROFILE_REASON)
            self._reads(function.role, inputs, layout.UPLOADS, layout.TRIGGERS)
            # A sync answer presigns GETs of the images it stored: a presigned URL carries
            # only its signer's permissions.
            self._objects(function.role, "s3:GetObject", output, layout.OUTPUTS)
            if kinds[module] == "task":  # the OpenAI routes always answer synchronously
                self._objects(function.role, "s3:PutObject", output, layout.OUTPUTS, layout.JOBS)
                machine.grant_start_execution(function)
            else:
                self._objects(function.role, "s3:PutObject", output, layout.OUTPUTS)
            # The caller's team and budget: read, reserved and settled around each model call.
            self._items(function.role, spend, "dynamodb:GetItem", "dynamodb:UpdateItem")
            self._items(
                function.role, idempotency, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            )  # fmt: skip
        jobs = functions["jobs"].role
        # A running or unknown job has no manifest yet: its absence must read as absence.
        self._reads(jobs, output, layout.OUTPUTS, layout.JOBS)
        self._items(jobs, spend, "dynamodb:GetItem")  # the caller's team, whose jobs it reads
        self._items(functions["usage"].role, spend, "dynamodb:GetItem", "dynamodb:Query")
        self._grant(
            jobs,
            iam.PolicyStatement(
                actions=["states:DescribeExecution"], resources=[self._executions_arn(machine.state_machine_name)]
            ),
            "GET /v1/jobs describes executions of this state machine only; they are named by job id at run time",
        )
        # The presigned POST of an upload is made with the signer's permission.
        self._objects(functions["uploads"].role, "s3:PutObject", inputs, layout.UPLOADS)
        for step in (self.workflow.publish_function, self.workflow.fail_function):
            self._reads(step.role, output, layout.JOBS)
            self._objects(step.role, "s3:PutObject", output, layout.OUTPUTS)
            self._items(step.role, spend, "dynamodb:UpdateItem")  # the job's reservation, settled
        trigger = self.triggers.function.role
        self._grant(trigger, invoke_models, _PROFILE_REASON)
        self._reads(trigger, inputs, layout.UPLOADS, layout.TRIGGERS)
        # A redelivered message first reads its job's manifest, then claims the job with a
        # conditional write (jobs/<id>/claim.json): a job's model call is paid once.
        self._reads(trigger, output, layout.OUTPUTS, layout.JOBS)
        self._objects(trigger, "s3:PutObject", output, layout.OUTPUTS, layout.JOBS)
        self._items(trigger, spend, "dynamodb:GetItem", "dynamodb:UpdateItem")  # a team folder's budget
        # Webhooks: the functions that end jobs queue them; only the delivery function reads the
        # secret, the job's manifest (its view, presigned image URLs) and records each attempt there.
        queue_webhooks = iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.webhooks.queue.queue_arn])
        ending_jobs = [functions[m] for m, kind in kinds.items() if kind in ("task", "openai") and m in functions]
        workers = [self.workflow.publish_function, self.workflow.fail_function, self.triggers.function]
        for function in [*ending_jobs, *workers]:
            function.add_to_role_policy(queue_webhooks)
        delivery = self.webhooks.function.role
        delivery.add_to_principal_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[self.webhooks.secret.secret_arn])
        )
        self._reads(delivery, output, layout.OUTPUTS)
        self._objects(delivery, "s3:PutObject", output, layout.OUTPUTS)
        # Content credentials: the functions that store images sign them (kms:Sign on the stack's
        # key, the chain's secret); POST /v1/verify reads them. Only these carry the c2pa layer.
        signers = [functions[m] for m, kind in kinds.items() if kind in SIGNING_FUNCTIONS and m in functions]
        for function in [*signers, self.workflow.publish_function, self.triggers.function]:
            self.provenance.attach(function, signs=True)
        self.provenance.attach(functions["verify"], signs=False)
        self._reads(functions["verify"].role, inputs, layout.UPLOADS)  # an image named by its upload's URI
        # The state machine's bedrock:invokeModel task reads the request and writes the response.
        self._grant(machine.role, invoke_models, _PROFILE_REASON)
        self._objects(machine.role, "s3:GetObject", output, layout.JOBS)
        self._objects(machine.role, "s3:PutObject", output, layout.JOBS)

        # --- monitoring ----------------------------------------------------------------------
        every_function = {
            **functions,
            "publish": self.workflow.publish_function,
            "fail": self.workflow.fail_function,
            "trigger": self.triggers.function,
            "webhook_delivery": self.webhooks.function,
        }
        # Not the key authorizer: it fails every request without a key by design (API Gateway's
        # 401), which Lambda counts as an error; a real fault of it is an API 5xx, watched below.
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            api=self.task_api.api,
            functions=every_function,
            state_machine=machine,
            queue=self.triggers.queue,
            dead_letters=self.triggers.dead_letters,
            webhook_dead_letters=self.webhooks.dead_letters,
            alarm_email=config.alarm_email,
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
        if "playground" in self.task_api.functions:
            playground = self.task_api.api.url_for_path("/v1/playground")
            CfnOutput(self, "PlaygroundUrl", value=playground, description="The browser playground (asks for the key)")
        CfnOutput(self, "OutputBucketName", value=output.bucket_name)
        CfnOutput(self, "InputBucketName", value=inputs.bucket_name, description="Drop files under triggers/")
        CfnOutput(self, "AccessLogBucketName", value=self.storage.access_logs.bucket_name)
        CfnOutput(self, "SpendTableName", value=spend.table_name, description="Teams, budgets and usage")
        # What `imagegen admin keys` needs to give a team's key its usage plan.
        CfnOutput(self, "RestApiId", value=self.task_api.api.rest_api_id)
        CfnOutput(self, "ApiStageName", value=self.task_api.api.deployment_stage.stage_name)
        if self.task_api.usage_plan is not None:
            CfnOutput(self, "UsagePlanId", value=self.task_api.usage_plan.usage_plan_id)
        CfnOutput(self, "StateMachineArn", value=machine.state_machine_arn)
        if self.provenance.signing_key is not None and self.provenance.certificate_secret is not None:
            CfnOutput(
                self,
                "SigningKeyArn",
                value=self.provenance.signing_key.key_arn,
                description="Signs every image's content credentials; make provenance-cert makes its certificate",
            )
            CfnOutput(
                self,
                "CertificateSecretArn",
                value=self.provenance.certificate_secret.secret_arn,
                description="The signing key's certificate chain (PEM), stored by make provenance-cert",
            )
        CfnOutput(self, "TriggerDeadLetterQueueUrl", value=self.triggers.dead_letters.queue_url)
        CfnOutput(
            self,
            "WebhookSecretArn",
            value=self.webhooks.secret.secret_arn,
            description="Webhooks are signed with it; a team's secret: tools/webhook_secret.py --team <team>",
        )
        CfnOutput(self, "WebhookDeadLetterQueueUrl", value=self.webhooks.dead_letters.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn, description="Subscribe to be notified")
        CfnOutput(
            self,
            "DashboardUrl",
            value=f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#dashboards/dashboard/{self.monitoring.dashboard.dashboard_name}",
        )

        acknowledge_findings(self)

    def _require_bedrock_in_stack_region(self, bedrock_region: str) -> None:
        """Async jobs call Bedrock from Step Functions, which calls services only in its own
        region: a Bedrock region other than the stack's would fail every job. Refused at synth
        when the region is known, else by CloudFormation before anything is created."""
        if not bedrock_region:
            return
        message = (
            f"bedrock_region={bedrock_region} must be the stack's region: Step Functions calls Bedrock only in its "
            f"own region. Deploy the stack in {bedrock_region}."
        )
        if not Token.is_unresolved(self.region):
            if self.region != bedrock_region:
                raise ValueError(message)
            return
        CfnRule(
            self,
            "BedrockRegionIsStackRegion",
            assertions=[
                CfnRuleAssertion(assert_=Fn.condition_equals(Aws.REGION, bedrock_region), assert_description=message)
            ],
        )

    def _require_models_offered_in(self, region: str, config: DeployConfig) -> None:
        """Every enabled model must be offered where Bedrock is called: refused at synth when the
        region is known, else by CloudFormation before anything is created."""
        placed = placed_models(config.models, config.model_ids)
        if not Token.is_unresolved(region):
            missing = _by_regions({name: regions for name, regions in placed.items() if region not in regions})
            if missing:
                raise ValueError(
                    f"models: not offered by Bedrock in {region}: "
                    + "; ".join(f"{', '.join(names)} (offered in {', '.join(regions)})" for regions, names in missing)
                    + ". Deploy in a region that offers them, leave them out of models, or set "
                    "allow_unlisted_regions=true if Bedrock serves your account there."
                )
            return
        if placed:
            CfnRule(
                self,
                "ModelsOfferedInRegion",
                assertions=[
                    CfnRuleAssertion(
                        assert_=Fn.condition_contains(list(regions), Aws.REGION),
                        assert_description=f"{', '.join(names)}: offered by Bedrock only in {', '.join(regions)}. "
                        "Deploy there, leave them out of models, or set allow_unlisted_regions=true.",
                    )
                    for regions, names in _by_regions(placed)
                ],
            )

    def _model_arns(self, model_id: str, region: str) -> list[str]:
        """What ``bedrock:InvokeModel`` on ``model_id`` is authorized against.

        A cross-Region inference profile is checked as the profile in the calling region and
        as the foundation model in whichever region the profile routes the call to.
        """
        if model_id.startswith("arn:"):
            return [model_id]  # a provisioned model or an application profile, named by ARN
        foundation_model = inference_profile_model(model_id)
        if foundation_model is None:
            return [self._bedrock_arn(region, "", "foundation-model", model_id)]
        return [
            self._bedrock_arn(region, self.account, "inference-profile", model_id),
            self._bedrock_arn("*", "", "foundation-model", foundation_model),
        ]

    def _bedrock_arn(self, region: str, account: str, resource: str, name: str) -> str:
        return self.format_arn(service="bedrock", region=region, account=account, resource=resource, resource_name=name)

    def _executions_arn(self, state_machine_name: str) -> str:
        # Executions are named by job id at run time: the resource names this machine's only.
        return self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _objects(self, role: iam.IRole, action: str, bucket: s3.IBucket, *prefixes: str) -> None:
        """One S3 object action on the given key prefixes of one bucket."""
        resources = [bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]
        self._grant(
            role,
            iam.PolicyStatement(actions=[action], resources=resources),
            "S3 object access is scoped to key prefixes of one bucket; the keys below them are job ids and "
            "upload ids created at run time",
        )

    def _reads(self, role: iam.IRole, bucket: s3.IBucket, *prefixes: str) -> None:
        """GetObject on the prefixes, and the listing that lets S3 say when a key there is missing.

        Without s3:ListBucket, S3 answers a missing key with 403 AccessDenied rather than 404
        (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"):
        a job not yet finished, an upload not yet made, would read as a storage failure. The
        listing is limited by ``s3:prefix`` to the same prefixes.
        """
        self._objects(role, "s3:GetObject", bucket, *prefixes)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
            )
        )

    def _items(self, role: iam.IRole, table: dynamodb.ITable, *actions: str) -> None:
        """Item actions on one table (its items are keyed by team and key id at run time)."""
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=[table.table_arn]))

    @staticmethod
    def _grant(role: iam.IRole, statement: iam.PolicyStatement, wildcard_reason: str) -> None:
        """Add ``statement`` to ``role``; any wildcard resource in it is acknowledged with the reason."""
        role.add_to_principal_policy(statement)
        acknowledge_wildcards(role, statement, wildcard_reason)


_PROFILE_REASON = (
    "a cross-Region inference profile routes each call to its foundation model in any of the profile's "
    "destination regions; the grant names that one model"
)


def _by_regions(placed: dict[str, tuple[str, ...]]) -> list[tuple[tuple[str, ...], list[str]]]:
    """Models grouped by the regions that offer them, in the order they are enabled."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, regions in placed.items():
        groups.setdefault(regions, []).append(name)
    return list(groups.items())


def _deployed(route: Route, config: DeployConfig) -> bool:
    # A task route exists only where an enabled model serves the task. The playground sends an
    # API key, which an API behind IAM auth does not take.
    if route.task is not None:
        return route.task in config.tasks
    return not (config.iam_auth and route.module == "playground")
