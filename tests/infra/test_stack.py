"""The synthesized template, construct by construct."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from aws_cdk.assertions import Match
from stacks import synthesize

from core.config import Settings
from core.routes import ROUTES, WORKERS
from core.topology import PROCESS_ENVIRONMENT, PROVENANCE_FUNCTIONS
from imagegen.errors import ForbiddenError, NotFoundError, PayloadTooLargeError, ThrottledError, UnauthorizedError
from imagegen.registry import LIVE_MODELS, TASKS


def _by_handler(synth) -> dict[str, dict]:
    """The product's functions (CDK's own deploy-time handlers left out), by handler module."""
    modules = {route.module for route in ROUTES} | set(WORKERS)
    functions = synth.resources("AWS::Lambda::Function")
    return {
        f["Properties"]["Handler"].removesuffix(".handler"): f["Properties"]
        for f in functions.values()
        if f["Properties"].get("Handler", "").removesuffix(".handler") in modules
    }


# --- storage ------------------------------------------------------------------------------


def test_every_bucket_is_private_encrypted_and_tls_only(synth):
    buckets = synth.resources("AWS::S3::Bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert bucket["DeletionPolicy"] == "Retain"
    policies = synth.resources("AWS::S3::BucketPolicy")
    tls_denials = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(tls_denials) == 3


def test_outputs_and_inputs_are_versioned_logged_and_expire_by_prefix(synth, variant):
    synth.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "outputs/"}),
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like({"Prefix": "outputs/", "ExpirationInDays": 30, "Status": "Enabled"}),
                        Match.object_like({"Prefix": "jobs/", "ExpirationInDays": 2, "Status": "Enabled"}),
                    ]
                )
            },
        },
    )
    synth.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "inputs/"}),
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"Prefix": "uploads/", "ExpirationInDays": 2})])
            },
        },
    )


def test_buckets_allow_no_browser_origin_unless_configured(synth, variant):
    # Only the API's own origin (the playground) may POST upload forms and GET the images; see the
    # playground test.
    buckets = synth.resources("AWS::S3::Bucket")
    with_cors = [name for name, bucket in buckets.items() if "CorsConfiguration" in bucket["Properties"]]
    assert sorted(name[:13] for name in with_cors) == ["StorageInputs", "StorageOutput"]
    origins = ["https://app.example.com", "https://admin.example.com"]
    for method in ("GET", "POST"):  # presigned image URLs; presigned upload forms
        rule = {"AllowedMethods": [method], "AllowedOrigins": origins, "MaxAge": 3600}
        variant.template.has_resource_properties("AWS::S3::Bucket", {"CorsConfiguration": {"CorsRules": [rule]}})


# --- functions ----------------------------------------------------------------------------


def test_one_function_per_route_and_worker_on_python312_arm64_traced(synth):
    functions = _by_handler(synth)

    assert set(functions) == {route.module for route in synth.routes} | set(WORKERS)
    for module, props in functions.items():
        assert props["Runtime"] == "python3.12", module
        assert props["Architectures"] == ["arm64"], module
        assert props["TracingConfig"] == {"Mode": "Active"}, module
        assert props["MemorySize"] >= 256 and props["Timeout"] > 0, module
        assert "LoggingConfig" in props, module


def test_a_task_gets_a_route_only_where_an_enabled_model_serves_it(synth, variant):
    # cdk.json serves the live models: every task but color-guided (only Nova Canvas takes a palette).
    assert {route.task for route in synth.routes if route.task} == set(TASKS) - {"color-guided"}
    # The variant serves Nova Canvas, Titan G1 v2 and Stable Image Core: the seed tasks only.
    assert {route.task for route in variant.routes if route.task} == set(TASKS[:6])
    paths = {r["Properties"]["PathPart"] for r in synth.resources("AWS::ApiGateway::Resource").values()}
    assert "color-guided" not in paths and {"upscale", "style-transfer", "erase-object"} <= paths


def test_sync_task_functions_fit_in_the_api_timeout(synth):
    functions = _by_handler(synth)
    for route in synth.routes:
        assert functions[route.module]["Timeout"] <= 29, route.module


def test_every_function_carries_the_payload_layer_its_imports_need(synth):
    """Every handler imports imagegen, which only the layer provides in Lambda (publish and
    fail once shipped without it: every async job would have failed on import)."""
    layers = synth.resources("AWS::Lambda::LayerVersion")
    [payload] = [name for name in layers if name.startswith("Payload")]
    [c2pa] = [name for name in layers if name.startswith("ProvenanceC2pa")]
    kinds = {route.module: route.kind for route in ROUTES} | {worker: worker for worker in WORKERS}
    for module, props in _by_handler(synth).items():
        # c2pa's native library (21 MB) only where images are signed or read: its cold start nowhere else.
        expected = [{"Ref": payload}, {"Ref": c2pa}] if kinds[module] in PROVENANCE_FUNCTIONS else [{"Ref": payload}]
        assert props.get("Layers") == expected, module


def test_each_function_gets_the_settings_it_reads_by_their_shared_names(synth):
    functions = _by_handler(synth)
    names = {name: Settings.env_name(name) for name in ("output_bucket", "input_bucket", "state_machine_arn")}

    task_env = functions["text_to_image"]["Environment"]["Variables"]
    assert {names["output_bucket"], names["input_bucket"], names["state_machine_arn"]} <= set(task_env)
    assert task_env[Settings.env_name("sync_timeout_seconds")] == "29.0"
    assert task_env[Settings.env_name("enabled_models")].split(",") == list(LIVE_MODELS)
    defaults = json.loads(task_env[Settings.env_name("default_models")])
    assert defaults["text-to-image"] == "stable-image-core" and "color-guided" not in defaults
    assert names["state_machine_arn"] in functions["jobs"]["Environment"]["Variables"]
    assert set(functions["uploads"]["Environment"]["Variables"]) == {
        names["input_bucket"],
        Settings.env_name("enabled_models"),  # the upload size limit follows the served models
        Settings.env_name("upload_ttl_seconds"),
        *PROCESS_ENVIRONMENT,
    }
    assert names["state_machine_arn"] not in functions["publish"]["Environment"]["Variables"]
    every_name = {Settings.env_name(f.name) for f in fields(Settings)} | set(PROCESS_ENVIRONMENT)
    for module, props in functions.items():
        assert set(props.get("Environment", {}).get("Variables", {})) <= every_name, module


def test_every_function_keeps_image_buffers_on_the_heap_between_requests(synth):
    """glibc's thresholds (core.topology.PROCESS_ENVIRONMENT): megabyte buffers are not mapped
    from the OS and returned on every request (measured: a third of a warm request's excess)."""
    for module, props in _by_handler(synth).items():
        variables = props["Environment"]["Variables"]
        assert {name: variables.get(name) for name in PROCESS_ENVIRONMENT} == PROCESS_ENVIRONMENT, module


def test_the_openai_routes_get_the_deployments_model_names_and_no_state_machine(synth, variant):
    name = Settings.env_name("openai_models")
    for module in ("images_generations", "images_edits", "images_variations"):
        env = _by_handler(variant)[module]["Environment"]["Variables"]
        assert json.loads(env[name]) == {"dall-e-3": "titan-image-v2", "house-style": "nova-canvas"}, module
        assert Settings.env_name("state_machine_arn") not in env, module
        # Without names of its own a deployment still answers to OpenAI's (DEFAULT_OPENAI_MODELS).
        assert json.loads(_by_handler(synth)[module]["Environment"]["Variables"].get(name, "{}")) == {}, module


def test_every_function_logs_json_at_the_deployments_level(synth, variant):
    for synthesized, level in ((synth, "INFO"), (variant, "DEBUG")):
        functions = _by_handler(synthesized)
        # iam_auth (the variant) has no key authorizer.
        expected = {route.module for route in synthesized.routes} | set(WORKERS)
        assert set(functions) == (expected if synthesized is synth else expected - {"authorizer"})
        for module, props in functions.items():
            # Lambda sets the root logger's level from ApplicationLogLevel and writes each
            # record's extra fields (requestId, jobId, task, model) as keys of the line.
            assert props["LoggingConfig"] == {
                "LogFormat": "JSON",
                "ApplicationLogLevel": level,
                "SystemLogLevel": "WARN",
                "LogGroup": props["LoggingConfig"]["LogGroup"],
            }, module


def test_log_groups_have_retention(synth):
    groups = synth.resources("AWS::Logs::LogGroup")
    assert len(groups) >= 14
    assert all(group["Properties"]["RetentionInDays"] == 30 for group in groups.values())


# --- API ----------------------------------------------------------------------------------


def test_every_route_is_a_lambda_proxy_method_behind_an_api_key(synth):
    methods = synth.methods()
    [authorizer_id] = synth.resources("AWS::ApiGateway::Authorizer")

    assert sorted(methods) == sorted((route.method, route.path) for route in synth.routes)
    for route in synth.routes:
        method = methods[(route.method, route.path)]
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert method["Integration"]["TimeoutInMillis"] == 29000
        if route.public:
            assert method["AuthorizationType"] == "NONE" and not method.get("ApiKeyRequired"), route.path
        else:
            # The authorizer passes the key from x-api-key or Authorization: Bearer to the plan.
            assert method["ApiKeyRequired"] is True, route.path
            assert method["AuthorizationType"] == "CUSTOM", route.path
            assert method["AuthorizerId"] == {"Ref": authorizer_id}, route.path
    assert [path for _method, path in methods if path == "/v1/openapi.json"], "the API document is served"
    assert {("POST", f"/v1/images/{name}") for name in ("generations", "edits", "variations")} <= set(methods)


def test_api_keys_come_from_the_authorizer_and_forms_pass_as_binary(synth):
    [api] = synth.resources("AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    assert api["Properties"]["BinaryMediaTypes"] == ["multipart/form-data"]
    [authorizer] = synth.resources("AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["Type"] == "REQUEST"
    # Uncached: a cached answer would be keyed on one header, and the key may come in either.
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 0
    assert "IdentitySource" not in authorizer["Properties"]


def test_usage_plan_throttles_and_caps_calls_and_a_key_is_bound(synth):
    synth.template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": 5, "BurstLimit": 10},
            "Quota": {"Limit": 5000, "Period": "DAY"},
            "ApiStages": [Match.object_like({"Stage": Match.any_value()})],
        },
    )
    synth.template.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    synth.template.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)


def test_stage_has_tracing_access_logs_and_default_throttling(synth):
    synth.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "prod",
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [Match.object_like({"ThrottlingRateLimit": 5, "ThrottlingBurstLimit": 10, "DataTraceEnabled": False})]
            ),
        },
    )


def test_gateway_errors_are_rendered_from_the_error_classes(synth):
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    for response_type, error in {
        # A missing or wrong key is 401 invalid_api_key (tests/infra/test_unauthorized_gateway.py).
        "UNAUTHORIZED": UnauthorizedError,
        "INVALID_API_KEY": UnauthorizedError,
        "ACCESS_DENIED": ForbiddenError,
        "MISSING_AUTHENTICATION_TOKEN": NotFoundError,
        "THROTTLED": ThrottledError,
        "QUOTA_EXCEEDED": ThrottledError,
        "REQUEST_TOO_LARGE": PayloadTooLargeError,
    }.items():
        response = responses[response_type]
        assert response["StatusCode"] == str(error.status), response_type
        template = response["ResponseTemplates"]["application/json"]
        assert template.startswith(f'{{"error":{{"code":"{error.code}","message":'), response_type
    assert responses["THROTTLED"]["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'5'"
    # Lambda's 6 MB request limit is the one a large image meets: the answer names the way around it.
    assert "POST /v1/uploads" in responses["REQUEST_TOO_LARGE"]["ResponseTemplates"]["application/json"]
    assert '"code":"invalid_request"' in responses["DEFAULT_4XX"]["ResponseTemplates"]["application/json"]
    assert "StatusCode" not in responses["DEFAULT_4XX"]


def test_no_cors_by_default(synth):
    methods = [m["Properties"]["HttpMethod"] for m in synth.resources("AWS::ApiGateway::Method").values()]
    assert "OPTIONS" not in methods
    for response in synth.resources("AWS::ApiGateway::GatewayResponse").values():
        assert "gatewayresponse.header.Access-Control-Allow-Origin" not in response["Properties"].get(
            "ResponseParameters", {}
        )


def test_configured_origins_get_preflight_answers_and_cors_headers_on_gateway_errors(variant):
    methods = [m["Properties"] for m in variant.resources("AWS::ApiGateway::Method").values()]
    preflights = [m for m in methods if m["HttpMethod"] == "OPTIONS"]
    assert len(preflights) >= len(variant.routes)
    for preflight in preflights:
        assert preflight["AuthorizationType"] == "NONE" and not preflight.get("ApiKeyRequired")
        assert preflight["Integration"]["Type"] == "MOCK"
    rendered = json.dumps(preflights)
    assert "https://app.example.com" in rendered and "https://admin.example.com" in rendered
    assert "X-Api-Key" in rendered
    for response in variant.resources("AWS::ApiGateway::GatewayResponse").values():
        parameters = response["Properties"]["ResponseParameters"]
        # Two origins: the gateway echoes the caller's (its errors carry no data).
        assert parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == "method.request.header.Origin"
    functions = _by_handler(variant)
    assert functions["text_to_image"]["Environment"]["Variables"][Settings.env_name("cors_origins")] == (
        "https://app.example.com,https://admin.example.com"
    )


def test_the_regions_api_gateway_logging_role_outlives_the_stack(synth):
    """AWS::ApiGateway::Account is one per region: other APIs log through its role."""
    [account] = synth.resources("AWS::ApiGateway::Account").values()
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = synth.resources("AWS::IAM::Role")[role_id]
    assert role["DeletionPolicy"] == "Retain" and account["DeletionPolicy"] == "Retain"


def test_iam_auth_replaces_keys_and_the_usage_plan(variant):
    methods = variant.methods()
    routes = [route for route in variant.routes if not route.public]
    assert len([key for key in methods if key[0] != "OPTIONS"]) == len(variant.routes)
    for route in routes:
        method = methods[(route.method, route.path)]
        assert method["AuthorizationType"] == "AWS_IAM" and not method.get("ApiKeyRequired"), route.path
    assert methods[("GET", "/v1/openapi.json")]["AuthorizationType"] == "NONE"
    assert ("GET", "/v1/playground") not in methods  # the page sends a key, which IAM auth refuses
    assert "PlaygroundUrl" not in variant.document["Outputs"]
    variant.template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    variant.template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    variant.template.resource_count_is("AWS::ApiGateway::Authorizer", 0)


def test_a_bedrock_region_other_than_the_stacks_is_refused(tmp_path, variant):
    """Step Functions calls Bedrock only in its own region: async jobs would all fail."""
    with pytest.raises(ValueError, match="bedrock_region=us-west-2 must be the stack's region"):
        synthesize(tmp_path, {"bedrock_region": "us-west-2"}, account="123456789012", region="eu-west-1")
    # Without a region at synth, CloudFormation checks it before creating anything.
    rule = variant.document["Rules"]["BedrockRegionIsStackRegion"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}


# --- workflow -----------------------------------------------------------------------------


def test_state_machine_is_standard_traced_and_logged(synth):
    synth.template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": False}),
        },
    )


def test_definition_invokes_bedrock_through_s3_with_retries_then_publishes_or_fails(synth):
    definition = synth.definition()
    states = definition["States"]
    call_model = states[definition["StartAt"]]
    assert call_model["Type"] == "Map" and call_model["ItemsPath"] == "$.calls"

    processor = call_model["ItemProcessor"]
    invoke = processor["States"][processor["StartAt"]]
    assert invoke["Resource"] == "arn:${AWS::Partition}:states:::bedrock:invokeModel"
    assert invoke["Parameters"]["ModelId.$"] == "$.modelId"
    assert invoke["Parameters"]["Input"] == {"S3Uri.$": "$.input"}
    assert invoke["Parameters"]["Output"] == {"S3Uri.$": "$.output"}
    [retry] = invoke["Retry"]
    assert {
        "Bedrock.ThrottlingException",
        "Bedrock.ServiceUnavailableException",
        "Bedrock.ModelTimeoutException",
    } <= set(retry["ErrorEquals"])
    assert retry["BackoffRate"] == 2 and retry["JitterStrategy"] == "FULL" and retry["MaxAttempts"] >= 3

    [catch] = call_model["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"] == "$.error"
    record_failure = states[catch["Next"]]
    assert record_failure["Parameters"]["Payload"] == {"jobId.$": "$.jobId", "error.$": "$.error"}
    assert states[record_failure["Next"]]["Type"] == "Fail"

    publish = states[call_model["Next"]]
    assert publish["Parameters"]["Payload"] == {"jobId.$": "$.jobId"}
    assert any(r["ErrorEquals"] == ["States.TaskFailed"] for r in publish["Retry"])
    assert publish["Catch"][0]["Next"] == catch["Next"]
    assert states[publish["Next"]]["Type"] == "Succeed"


# --- triggers -----------------------------------------------------------------------------


def test_trigger_queue_is_encrypted_with_a_dead_letter_queue(synth):
    queues = synth.resources("AWS::SQS::Queue")
    # The triggers' two and the webhooks' two (tests/functions/test_webhooks.py).
    assert len(queues) == 4
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())
    synth.template.has_resource_properties(
        "AWS::SQS::Queue",
        {"VisibilityTimeout": 3600, "RedrivePolicy": Match.object_like({"maxReceiveCount": 5})},
    )
    policies = synth.resources("AWS::SQS::QueuePolicy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert sum(1 for s in statements if s["Effect"] == "Deny" and "aws:SecureTransport" in str(s)) == 4


def test_trigger_reads_small_batches_with_bounded_concurrency_and_partial_failures(synth, variant):
    synth.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 1,
            "ScalingConfig": {"MaximumConcurrency": 2},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    variant.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"ScalingConfig": {"MaximumConcurrency": 3}}
    )


def test_only_objects_under_triggers_notify_the_queue(synth):
    synth.template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    Match.object_like(
                        {
                            "Events": ["s3:ObjectCreated:*"],
                            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "triggers/"}]}},
                        }
                    )
                ]
            }
        },
    )


def test_dead_letters_raise_an_alarm(synth):
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Namespace": "AWS/SQS",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )


# --- outputs ------------------------------------------------------------------------------


def test_outputs_name_what_a_caller_and_an_operator_need(synth, variant):
    outputs = synth.template.find_outputs("*")
    assert {"ApiUrl", "ApiKeyId", "OutputBucketName", "InputBucketName", "StateMachineArn"} <= set(outputs)
    assert "get-api-key --include-value" in outputs["ApiKeyId"]["Description"]
    assert "ApiKeyId" not in variant.template.find_outputs("*")


# --- monitoring ---------------------------------------------------------------------------


def _alarms(synth) -> dict[str, dict]:
    return {name: alarm["Properties"] for name, alarm in synth.resources("AWS::CloudWatch::Alarm").items()}


def test_every_alarm_notifies_the_alarm_topic(synth):
    [topic] = synth.resources("AWS::SNS::Topic")
    alarms = _alarms(synth)

    assert alarms
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": topic}], name
        assert alarm["OKActions"] == [{"Ref": topic}], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_alarms_watch_dead_letters_api_5xx_every_function_failed_jobs_and_throttles(synth):
    watched = {(alarm.get("Namespace"), alarm.get("MetricName")) for alarm in _alarms(synth).values()}
    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/States", "ExecutionsFailed"),
        ("ImageGen", "Throttles"),
    } <= watched
    # Lambda errors: one alarm per function of the product but the key authorizer, which fails
    # every keyless request on purpose (the 401); a fault of it is an API 5xx, watched above.
    errors = [alarm for alarm in _alarms(synth).values() if alarm.get("MetricName") == "Errors"]
    function_refs = {alarm["Dimensions"][0]["Value"]["Ref"] for alarm in errors}
    functions = {
        name
        for name, function in synth.resources("AWS::Lambda::Function").items()
        if function["Properties"].get("Handler", "").removesuffix(".handler")
        in set(_by_handler(synth)) - {"authorizer"}
    }
    assert function_refs == functions
    # The service's totals: the dimensionless copy of the EMF metric.
    [throttles] = [alarm for alarm in _alarms(synth).values() if alarm.get("MetricName") == "Throttles"]
    assert "Dimensions" not in throttles


def test_the_alarm_topic_is_tls_only_and_mails_the_configured_address(synth, variant):
    [policy] = synth.resources("AWS::SNS::TopicPolicy").values()
    [deny] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    synth.template.resource_count_is("AWS::SNS::Subscription", 0)
    variant.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_the_dashboard_shows_images_latency_filters_throttles_api_jobs_and_queues(synth):
    [dashboard] = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for shown in (
        'MetricName=\\\\\\"ImagesGenerated\\\\\\"',
        "ModelLatency",
        "p50",
        "p90",
        "ImagesFiltered",
        "Throttles",
        "Latency",
        "5XXError",
        "4XXError",
        "JobsFailed",
        "ExecutionsFailed",
        "ApproximateNumberOfMessagesVisible",
        "alarm",
    ):
        assert shown in body, shown


def test_the_playground_is_public_and_may_upload_and_download_from_the_apis_own_origin(synth):
    # S3 answers a browser's cross-origin request only under a matching CORS rule
    # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html): the page POSTs the upload
    # form to the input bucket and its download buttons fetch the presigned image URLs.
    method = synth.methods()[("GET", "/v1/playground")]
    assert method["AuthorizationType"] == "NONE" and not method.get("ApiKeyRequired")
    assert "PlaygroundUrl" in synth.document["Outputs"]
    api_id = next(name for name in synth.resources("AWS::ApiGateway::RestApi"))
    own_origin = {"Fn::Join": ["", ["https://", {"Ref": api_id}, ".execute-api.", {"Ref": "AWS::Region"}, ".",
                                    {"Ref": "AWS::URLSuffix"}]]}  # fmt: skip
    buckets = synth.resources("AWS::S3::Bucket")
    for prefix, method in (("StorageInputs", "POST"), ("StorageOutput", "GET")):
        [bucket] = [bucket for name, bucket in buckets.items() if name.startswith(prefix)]
        [rule] = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
        assert rule["AllowedMethods"] == [method] and rule["AllowedOrigins"] == [own_origin]
