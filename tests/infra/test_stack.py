"""The synthesized template, construct by construct."""

from __future__ import annotations

from dataclasses import fields

from aws_cdk.assertions import Match

from core.config import Settings
from core.routes import ROUTES, WORKERS


def _by_handler(synth) -> dict[str, dict]:
    functions = synth.resources("AWS::Lambda::Function")
    return {
        f["Properties"]["Handler"].removesuffix(".handler"): f["Properties"]
        for f in functions.values()
        if (f["Properties"].get("Handler", "").endswith(".handler") and "Layers" in f["Properties"]) or
        f["Properties"].get("Handler") in {f"{w}.handler" for w in WORKERS}
    }  # fmt: skip


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


def test_outputs_and_inputs_are_versioned_logged_and_expire_by_prefix(synth):
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
            "CorsConfiguration": {"CorsRules": [Match.object_like({"AllowedMethods": ["GET"]})]},
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
            "CorsConfiguration": {
                "CorsRules": [Match.object_like({"AllowedMethods": ["PUT"], "AllowedHeaders": ["Content-Type"]})]
            },
        },
    )


# --- functions ----------------------------------------------------------------------------


def test_one_function_per_route_and_worker_on_python312_arm64_traced(synth):
    functions = _by_handler(synth)

    assert set(functions) == {route.module for route in ROUTES} | set(WORKERS)
    for module, props in functions.items():
        assert props["Runtime"] == "python3.12", module
        assert props["Architectures"] == ["arm64"], module
        assert props["TracingConfig"] == {"Mode": "Active"}, module
        assert props["MemorySize"] >= 256 and props["Timeout"] > 0, module
        assert "LoggingConfig" in props, module


def test_sync_task_functions_fit_in_the_api_timeout_and_carry_the_layer(synth):
    functions = _by_handler(synth)
    for route in ROUTES:
        props = functions[route.module]
        assert props["Timeout"] <= 29, route.module
        assert len(props["Layers"]) == 1, route.module


def test_each_function_gets_the_settings_it_reads_by_their_shared_names(synth):
    functions = _by_handler(synth)
    names = {name: Settings.env_name(name) for name in ("output_bucket", "input_bucket", "state_machine_arn")}

    task_env = functions["text_to_image"]["Environment"]["Variables"]
    assert {names["output_bucket"], names["input_bucket"], names["state_machine_arn"]} <= set(task_env)
    assert task_env[Settings.env_name("sync_timeout_seconds")] == "29.0"
    assert (
        task_env[Settings.env_name("enabled_models")] == "nova-canvas,titan-image-v1,titan-image-v2,stable-image-core"
    )
    assert names["state_machine_arn"] in functions["jobs"]["Environment"]["Variables"]
    assert set(functions["uploads"]["Environment"]["Variables"]) == {
        names["input_bucket"],
        Settings.env_name("upload_ttl_seconds"),
        Settings.env_name("log_level"),
    }
    assert names["state_machine_arn"] not in functions["publish"]["Environment"]["Variables"]
    every_name = {Settings.env_name(f.name) for f in fields(Settings)}
    for module, props in functions.items():
        assert set(props["Environment"]["Variables"]) <= every_name, module


def test_log_groups_have_retention(synth):
    groups = synth.resources("AWS::Logs::LogGroup")
    assert len(groups) >= 14
    assert all(group["Properties"]["RetentionInDays"] == 30 for group in groups.values())


# --- API ----------------------------------------------------------------------------------


def test_every_route_is_a_lambda_proxy_method_behind_an_api_key(synth):
    methods = [m["Properties"] for m in synth.resources("AWS::ApiGateway::Method").values()]

    assert sorted(m["HttpMethod"] for m in methods) == sorted(route.method for route in ROUTES)
    for method in methods:
        assert method["ApiKeyRequired"] is True
        assert method["AuthorizationType"] == "NONE"
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert method["Integration"]["TimeoutInMillis"] == 29000
    paths = {r["Properties"]["PathPart"] for r in synth.resources("AWS::ApiGateway::Resource").values()}
    assert {"v1", "text-to-image", "background-removal", "uploads", "jobs", "{id}", "models"} <= paths


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


def test_gateway_errors_use_the_contracts_error_shape(synth):
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    assert responses["INVALID_API_KEY"]["StatusCode"] == "403"
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert '"code":"not_found"' in responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"]
    assert responses["THROTTLED"]["StatusCode"] == "429"
    assert responses["REQUEST_TOO_LARGE"]["StatusCode"] == "413"


def test_iam_auth_replaces_keys_and_the_usage_plan(variant):
    methods = [m["Properties"] for m in variant.resources("AWS::ApiGateway::Method").values()]
    assert all(m["AuthorizationType"] == "AWS_IAM" and not m.get("ApiKeyRequired") for m in methods)
    variant.template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    variant.template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)


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
    assert invoke["Resource"] == "arn:aws:states:::bedrock:invokeModel"
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
    assert len(queues) == 2
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())
    synth.template.has_resource_properties(
        "AWS::SQS::Queue",
        {"VisibilityTimeout": 3600, "RedrivePolicy": Match.object_like({"maxReceiveCount": 5})},
    )
    policies = synth.resources("AWS::SQS::QueuePolicy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert sum(1 for s in statements if s["Effect"] == "Deny" and "aws:SecureTransport" in str(s)) == 2


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
