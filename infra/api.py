"""The task API: a REST API with the routes of DESIGN §4, one Lambda per route, behind API
keys and a usage plan (or IAM auth), with access logs and X-Ray."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from core.config import DEFAULT_SYNC_TIMEOUT_SECONDS
from core.routes import ROUTES, Route
from core.topology import API_FUNCTION_TIMEOUT_SECONDS

from .defaults import python_function

STAGE = "prod"
# API Gateway's integration limit; the sync path answers within it (core/api.py).
INTEGRATION_TIMEOUT = Duration.seconds(DEFAULT_SYNC_TIMEOUT_SECONDS)

# Sizing: a task function decodes up to a 6 MB body and holds the model's images.
_MEMORY_MB = {"task": 1024, "jobs": 256, "uploads": 256, "models": 256}

# API Gateway's own errors in the contract's error shape.
_GATEWAY_ERRORS = {
    apigw.ResponseType.INVALID_API_KEY: ("403", "forbidden"),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("404", "not_found"),
    apigw.ResponseType.ACCESS_DENIED: ("403", "forbidden"),
    apigw.ResponseType.THROTTLED: ("429", "throttled"),
    apigw.ResponseType.QUOTA_EXCEEDED: ("429", "throttled"),
    apigw.ResponseType.REQUEST_TOO_LARGE: ("413", "payload_too_large"),
    apigw.ResponseType.DEFAULT_4_XX: (None, "invalid_request"),
    apigw.ResponseType.DEFAULT_5_XX: (None, "upstream_error"),
}


_ERROR_TEMPLATE = '{"error":{"code":"CODE","message":$context.error.messageString}}'


class TaskApi(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        environments: Mapping[str, Mapping[str, str]],
        layer: lambda_.ILayerVersion,
        log_retention: logs.RetentionDays,
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        quota_per_day: int,
        iam_auth: bool,
        routes: Sequence[Route] = ROUTES,
    ) -> None:
        """``environments`` maps "task", "jobs", "uploads" and "models" to each kind's variables."""
        super().__init__(scope, id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            description="serverless-imagegen: image generation on Amazon Bedrock",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request bodies carry images and prompts
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=False,
                ),
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
            ),
        )  # fmt: skip
        for response_type, (status, code) in _GATEWAY_ERRORS.items():
            self.api.add_gateway_response(
                f"Gateway{code.title().replace('_', '')}{status or 'Default'}{response_type.response_type}",
                type=response_type,
                status_code=status,
                templates={"application/json": _ERROR_TEMPLATE.replace("CODE", code)},
            )

        self.functions: dict[str, lambda_.Function] = {}
        for route in routes:
            kind = "task" if route.task else route.module
            memory, timeout = _MEMORY_MB[kind], Duration.seconds(API_FUNCTION_TIMEOUT_SECONDS[kind])
            function = python_function(
                self,
                _construct_id(route.module),
                module=route.module,
                description=f"{route.method} {route.path}",
                memory_mb=memory,
                timeout=timeout,
                environment=environments[kind],
                log_retention=log_retention,
                layers=[layer],
            )
            self.functions[route.module] = function
            resource = self.api.root.resource_for_path(route.path)
            resource.add_method(
                route.method,
                apigw.LambdaIntegration(function, timeout=INTEGRATION_TIMEOUT),
                api_key_required=not iam_auth,
                authorization_type=apigw.AuthorizationType.IAM if iam_auth else apigw.AuthorizationType.NONE,
            )

        self.api_key: apigw.IApiKey | None = None
        if not iam_auth:
            plan = self.api.add_usage_plan(
                "UsagePlan",
                description="serverless-imagegen callers",
                throttle=apigw.ThrottleSettings(rate_limit=throttle_rate_limit, burst_limit=throttle_burst_limit),
                quota=apigw.QuotaSettings(limit=quota_per_day, period=apigw.Period.DAY),
            )
            plan.add_api_stage(stage=self.api.deployment_stage)
            self.api_key = self.api.add_api_key("ApiKey", description="serverless-imagegen default key")
            plan.add_api_key(self.api_key)


def _construct_id(module: str) -> str:
    return "".join(part.title() for part in module.split("_")) + "Function"
