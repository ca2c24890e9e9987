"""The task API: a REST API with the routes of DESIGN §4, one Lambda per route, behind API
keys and a usage plan (or IAM auth), with access logs and X-Ray."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from core.config import DEFAULT_SYNC_TIMEOUT_SECONDS
from core.http import (
    BINARY_MEDIA_TYPES,
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
    request_too_large,
)
from core.routes import ROUTES, Route
from core.topology import API_FUNCTION_TIMEOUT_SECONDS
from imagegen.errors import (
    QUOTA_EXHAUSTED,
    ForbiddenError,
    ImageGenError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ThrottledError,
    UnauthorizedError,
    UpstreamError,
)

from .defaults import FunctionLogs, python_function

STAGE = "prod"
# API Gateway's integration limit; the sync path answers within it (core/api.py).
INTEGRATION_TIMEOUT = Duration.seconds(DEFAULT_SYNC_TIMEOUT_SECONDS)

# Sizing: a task function decodes up to a 6 MB body and holds the model's images.
_MEMORY_MB = {
    "task": 1024, "openai": 1024, "jobs": 256, "uploads": 256, "models": 256, "openapi": 256, "playground": 256,
    "usage": 256,
    # Reads an image of up to 10 MB and hashes it with the c2pa library (core/provenance.py).
    "verify": 512,
}  # fmt: skip

# API Gateway's own errors, rendered from the same error classes as the functions' errors. A
# default response keeps the status API Gateway chose; the others answer with the class's.
# A missing or wrong key is 401 invalid_api_key on every route, as OpenAI answers it: API Gateway
# answers a missing one (the authorizer fails with "Unauthorized") with UNAUTHORIZED, 401, and a
# key the usage plan does not hold with INVALID_API_KEY, 403 by default; ACCESS_DENIED (403) is an
# authorizer's Deny, left for a valid key that may not do what it asks
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html,
# functions/handlers/authorizer.py).
_GATEWAY_ERRORS: dict[apigw.ResponseType, tuple[type[ImageGenError], bool]] = {
    apigw.ResponseType.UNAUTHORIZED: (UnauthorizedError, True),
    apigw.ResponseType.INVALID_API_KEY: (UnauthorizedError, True),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: (NotFoundError, True),
    apigw.ResponseType.ACCESS_DENIED: (ForbiddenError, True),
    apigw.ResponseType.THROTTLED: (ThrottledError, True),
    apigw.ResponseType.QUOTA_EXCEEDED: (ThrottledError, True),
    apigw.ResponseType.REQUEST_TOO_LARGE: (PayloadTooLargeError, True),
    apigw.ResponseType.DEFAULT_4_XX: (InvalidRequestError, False),
    apigw.ResponseType.DEFAULT_5_XX: (UpstreamError, False),
}
_MESSAGE = "MESSAGE"
# API Gateway's own words for these ("Unauthorized", "Forbidden") say neither what was wrong nor
# where the key goes.
_KEY_MESSAGES = {
    apigw.ResponseType.UNAUTHORIZED.response_type: UnauthorizedError.missing().message,
    apigw.ResponseType.INVALID_API_KEY.response_type: UnauthorizedError.wrong().message,
}


def gateway_template(error: type[ImageGenError], message: str | None = None) -> str:
    """The contract's error body as an API Gateway template: API Gateway's own message, or ``message``."""
    body = json.dumps(error(_MESSAGE).body(), separators=(",", ":"))
    return body.replace(json.dumps(_MESSAGE), json.dumps(message) if message else "$context.error.messageString")


class TaskApi(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        environments: Mapping[str, Mapping[str, str]],
        layer: lambda_.ILayerVersion,
        function_logs: FunctionLogs,
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        quota_per_day: int,
        iam_auth: bool,
        cors_origins: Sequence[str],
        routes: Sequence[Route] = ROUTES,
    ) -> None:
        """``environments`` maps each kind of route (``Route.kind``) to its functions' variables."""
        super().__init__(scope, id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=function_logs.retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            # API Gateway's metrics, and the alarms and dashboard built on them, go by ApiName:
            # two stacks in one account must not share it.
            rest_api_name=Stack.of(self).stack_name,
            description="serverless-imagegen: image generation on Amazon Bedrock",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            # The role is the region's one API Gateway logging role (AWS::ApiGateway::Account):
            # other APIs in the account log through it, so deleting this stack must not remove it.
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            # The key may come as x-api-key or as OpenAI's Authorization: Bearer; the authorizer
            # hands it to the usage plan either way.
            api_key_source_type=None if iam_auth else apigw.ApiKeySourceType.AUTHORIZER,
            binary_media_types=list(BINARY_MEDIA_TYPES),
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
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=list(CORS_ALLOW_HEADERS),
                max_age=Duration.seconds(CORS_MAX_AGE_SECONDS),
            ) if cors_origins else None,
        )  # fmt: skip
        for response_type, (error, own_status) in _GATEWAY_ERRORS.items():
            # Lambda's 6 MB limit is the one a caller meets first: say where large images go.
            message = request_too_large().message if error is PayloadTooLargeError else None
            instance = error("")
            if response_type.response_type == apigw.ResponseType.QUOTA_EXCEEDED.response_type:
                instance, message = QUOTA_EXHAUSTED, QUOTA_EXHAUSTED.message
            message = _KEY_MESSAGES.get(response_type.response_type, message)
            headers = {name: f"'{value}'" for name, value in instance.headers().items()}
            self.api.add_gateway_response(
                f"Gateway{response_type.response_type.title().replace('_', '')}",
                type=response_type,
                status_code=str(error.status) if own_status else None,
                templates={"application/json": gateway_template(error, message)},
                response_headers={**headers, **_gateway_cors_headers(cors_origins)} or None,
            )

        self.authorizer: apigw.RequestAuthorizer | None = None
        if not iam_auth:
            self.authorizer_function = python_function(
                self,
                "KeyAuthorizerFunction",
                module="authorizer",
                description="The API key from x-api-key or Authorization: Bearer, for the usage plan",
                memory_mb=256,
                timeout=Duration.seconds(5),
                environment=environments["authorizer"],
                function_logs=function_logs,
                layer=layer,
            )
            # Not cached: a cache needs identity sources, and either of two headers may carry the key.
            self.authorizer = apigw.RequestAuthorizer(
                self,
                "KeyAuthorizer",
                handler=self.authorizer_function,
                identity_sources=[],
                results_cache_ttl=Duration.seconds(0),
            )
            # CDK writes an empty IdentitySource for no sources; API Gateway wants none at all.
            self.authorizer.node.default_child.add_property_deletion_override("IdentitySource")

        self.functions: dict[str, lambda_.Function] = {}
        self.public_methods: list[apigw.Method] = []
        for route in routes:
            kind = route.kind
            memory, timeout = _MEMORY_MB[kind], Duration.seconds(API_FUNCTION_TIMEOUT_SECONDS[kind])
            function = python_function(
                self,
                _construct_id(route.module),
                module=route.module,
                description=f"{route.method} {route.path}",
                memory_mb=memory,
                timeout=timeout,
                environment=environments[kind],
                function_logs=function_logs,
                layer=layer,
            )
            self.functions[route.module] = function
            resource = self.api.root.resource_for_path(route.path)
            method = resource.add_method(route.method, apigw.LambdaIntegration(function, timeout=INTEGRATION_TIMEOUT),
                                         **_access(route, iam_auth, self.authorizer))  # fmt: skip
            if route.public:
                self.public_methods.append(method)

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
        # `imagegen admin keys` gives each team's key a usage plan of its own on this stage.
        self.usage_plan = plan if not iam_auth else None

    @property
    def origin(self) -> str:
        """The API's own origin (its execute-api host), which serves the playground page."""
        return f"https://{self.api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"


def _access(route: Route, iam_auth: bool, authorizer: apigw.IAuthorizer | None) -> dict:
    """Who may call a route: anyone (the public document), IAM principals, or API-key holders."""
    if route.public:
        return {"api_key_required": False, "authorization_type": apigw.AuthorizationType.NONE}
    if iam_auth:
        return {"api_key_required": False, "authorization_type": apigw.AuthorizationType.IAM}
    return {"api_key_required": True, "authorizer": authorizer, "authorization_type": apigw.AuthorizationType.CUSTOM}


def _construct_id(module: str) -> str:
    return "".join(part.title() for part in module.split("_")) + "Function"


def _gateway_cors_headers(origins: Sequence[str]) -> dict[str, str]:
    """CORS headers on API Gateway's own errors (bad key, throttled, unknown route), so that a
    browser can read them. These carry no data, so with several origins the caller's is echoed."""
    if not origins:
        return {}
    expose = {"Access-Control-Expose-Headers": f"'{','.join(CORS_EXPOSE_HEADERS)}'"}
    if len(origins) == 1:
        return {"Access-Control-Allow-Origin": f"'{origins[0]}'", **expose}
    return {"Access-Control-Allow-Origin": "method.request.header.Origin", "Vary": "'Origin'", **expose}
