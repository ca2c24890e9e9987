"""What AWS does that moto and the local stack do not: the template against AWS's documented
behaviour, so that a fresh account's first day goes as the tests say."""

from __future__ import annotations

import json

import pytest
from iam_policy import Condition
from stacks import ACCOUNT, REGION, synthesize

from core.topology import INVOKE_RETRY, INVOKE_TIMEOUT_SECONDS, PUBLISH_RETRY
from imagegen.registry import MODELS

# --- alarms reach their topic ---------------------------------------------------------------


def _allows(statement: dict, principal: str, action: str, context: dict[str, str], resolve) -> bool:
    """Whether one topic-policy statement matches CloudWatch publishing (SNS's evaluation)."""
    named = statement.get("Principal")
    if named not in ("*", {"AWS": "*"}) and named.get("Service") not in (principal, [principal]):
        return False
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    if action not in actions:
        return False
    return all(
        Condition(operator, key, tuple(resolve(v) for v in (values if isinstance(values, list) else [values]))).holds(
            context
        )
        for operator, keys in statement.get("Condition", {}).items()
        for key, values in keys.items()
    )


def test_every_alarm_may_publish_to_the_topic_it_notifies(deployed):
    """A topic policy replaces SNS's default policy: CloudWatch may publish only where the policy
    says so ("...is not authorized to perform: SNS:Publish on resource",
    https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger). CDK's
    enforce_ssl writes such a policy with a Deny only."""
    resources = deployed.document["Resources"]
    policies = {
        topic["Ref"]: policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in resources.values()
        if policy["Type"] == "AWS::SNS::TopicPolicy"
        for topic in policy["Properties"]["Topics"]
    }

    def resolve(value):
        if isinstance(value, str):
            return value
        if value.get("Ref") == "AWS::AccountId":
            return ACCOUNT
        if "Fn::Join" in value:
            return value["Fn::Join"][0].join(resolve(part) for part in value["Fn::Join"][1])
        return {"AWS::Partition": "aws", "AWS::Region": REGION}.get(value.get("Ref"), f"({value})")

    alarms = {name: r for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms
    for name, alarm in alarms.items():
        context = {
            "aws:SourceAccount": ACCOUNT,
            "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
            "aws:SecureTransport": "true",
        }
        for action in alarm["Properties"]["AlarmActions"] + alarm["Properties"]["OKActions"]:
            statements = policies[action["Ref"]]
            matching = [
                s for s in statements if _allows(s, "cloudwatch.amazonaws.com", "sns:Publish", context, resolve)
            ]
            assert any(s["Effect"] == "Allow" for s in matching), f"{name} cannot publish to {action['Ref']}"
            assert not any(s["Effect"] == "Deny" for s in matching), name


def test_another_accounts_alarms_may_not_publish(deployed):
    [policy] = deployed.resources("AWS::SNS::TopicPolicy").values()
    [allow] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(allow["Condition"]) == {"StringEquals", "ArnLike"}
    assert "aws:SourceAccount" in allow["Condition"]["StringEquals"]
    assert "alarm:*" in json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])


# --- names and partitions -------------------------------------------------------------------


def test_the_rest_api_and_what_watches_it_are_named_after_the_stack(synth):
    """API Gateway's metrics are dimensioned by ApiName: two stacks must not share one."""
    [api] = synth.resources("AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["Name"] == "ImageGen"
    api_alarms = [
        alarm["Properties"]
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/ApiGateway"
    ]
    assert api_alarms
    for alarm in api_alarms:
        assert {"Name": "ApiName", "Value": "ImageGen"} in alarm["Dimensions"]


def test_the_state_machine_names_no_partition_of_its_own(synth):
    [machine] = synth.resources("AWS::StepFunctions::StateMachine").values()
    assert "arn:aws:" not in json.dumps(machine["Properties"]["DefinitionString"])
    invoke = synth.definition()["States"]["CallModel"]["ItemProcessor"]["States"]["InvokeModel"]
    assert invoke["Resource"] == "arn:${AWS::Partition}:states:::bedrock:invokeModel"


def test_the_daily_quota_answer_names_no_retry_it_cannot_know(synth):
    """Gateway responses carry only static values or the request's own
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.gatewayResponse.html):
    a fixed Retry-After would send clients back within seconds all day."""
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    quota = responses["QUOTA_EXCEEDED"]
    assert quota["StatusCode"] == "429"
    assert "gatewayresponse.header.Retry-After" not in quota.get("ResponseParameters", {})
    # The answer the local gateway gives too (local/keys.py): one error, rendered by both.
    from imagegen.errors import QUOTA_EXHAUSTED

    assert json.loads(quota["ResponseTemplates"]["application/json"]) == QUOTA_EXHAUSTED.body()
    assert "resets when the day ends (UTC)" in QUOTA_EXHAUSTED.message
    # Throttling by rate is over within seconds: that answer keeps its Retry-After.
    assert "gatewayresponse.header.Retry-After" in responses["THROTTLED"]["ResponseParameters"]


# --- buckets outlive the stack ----------------------------------------------------------------


def test_retained_buckets_keep_their_policies_after_destroy(synth):
    """CDK deletes a bucket's policy on destroy even when the bucket is retained
    (https://github.com/aws/aws-cdk/issues/27125): the access-log bucket would lose the logging
    service's grant, the others their TLS-only rule."""
    buckets = synth.resources("AWS::S3::Bucket")
    policies = synth.resources("AWS::S3::BucketPolicy")
    assert {p["Properties"]["Bucket"]["Ref"] for p in policies.values()} == set(buckets)
    for name, policy in policies.items():
        assert policy["DeletionPolicy"] == "Retain" and policy["UpdateReplacePolicy"] == "Retain", name


def test_versioned_buckets_clean_up_expired_delete_markers(synth):
    """Expiry of a versioned object leaves a delete marker; ExpiredObjectDeleteMarker removes it
    once no version is under it (https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleExpiration.html)."""
    versioned = [
        bucket["Properties"]
        for bucket in synth.resources("AWS::S3::Bucket").values()
        if bucket["Properties"].get("VersioningConfiguration", {}).get("Status") == "Enabled"
    ]
    assert len(versioned) == 2
    for bucket in versioned:
        rules = bucket["LifecycleConfiguration"]["Rules"]
        assert any(rule.get("ExpiredObjectDeleteMarker") is True for rule in rules)


# --- models where they are offered ------------------------------------------------------------


def test_a_region_where_an_enabled_model_is_not_offered_fails_synth_naming_it(tmp_path):
    with pytest.raises(ValueError) as refused:
        synthesize(tmp_path, account=ACCOUNT, region="eu-central-1")

    message = str(refused.value)
    assert "not offered by Bedrock in eu-central-1" in message
    assert "stable-image-core, stable-image-ultra, sd3-5-large (offered in us-west-2)" in message
    assert "stable-style-transfer (offered in us-east-1, us-east-2, us-west-2)" in message


def test_without_a_region_at_synth_cloudformation_checks_it_before_creating_anything(synth):
    rule = synth.document["Rules"]["ModelsOfferedInRegion"]
    checks = {json.dumps(a["Assert"]["Fn::Contains"][0]): a["AssertDescription"] for a in rule["Assertions"]}

    assert all(assertion["Assert"]["Fn::Contains"][1] == {"Ref": "AWS::Region"} for assertion in rule["Assertions"])
    assert "stable-image-core" in checks['["us-west-2"]']
    assert "stable-image-inpaint" in checks['["us-east-1", "us-east-2", "us-west-2"]']
    assert set(MODELS["stable-image-core"].regions) == {"us-west-2"}


def test_an_overridden_model_id_is_the_operators_to_place(tmp_path):
    """A successor or a profile the registry does not know: its regions are not the registry's."""
    synthesized = synthesize(
        tmp_path,
        {"models": "nova-canvas", "model_ids": json.dumps({"nova-canvas": "us.amazon.nova-canvas-v1:0"})},
        account=ACCOUNT,
        region="us-west-2",
    )
    assert synthesized.resources("AWS::ApiGateway::RestApi")


# --- a job's model calls fit its time ---------------------------------------------------------


def _worst_case_seconds(attempt_seconds: float, rule) -> float:
    """Every attempt at its limit, every wait at its longest (FULL jitter waits at most this)."""
    waits = [rule.interval_seconds * rule.backoff_rate**n for n in range(rule.max_attempts)]
    if rule.max_delay_seconds is not None:
        waits = [min(wait, rule.max_delay_seconds) for wait in waits]
    return attempt_seconds * (rule.max_attempts + 1) + sum(waits)


def test_a_jobs_model_calls_and_publishing_fit_the_state_machines_timeout(synth):
    definition = synth.definition()
    invoke = definition["States"]["CallModel"]["ItemProcessor"]["States"]["InvokeModel"]
    assert invoke["TimeoutSeconds"] == INVOKE_TIMEOUT_SECONDS
    # A timed-out call may have generated and billed its images: never run it again.
    assert all("States.Timeout" not in rule["ErrorEquals"] and "States.ALL" not in rule["ErrorEquals"]
               for rule in invoke["Retry"])  # fmt: skip
    publish_timeout = 120  # the publish function's timeout (infra/workflow.py)
    # The Map runs up to five calls at once, and a job has at most five.
    needed = _worst_case_seconds(INVOKE_TIMEOUT_SECONDS, INVOKE_RETRY) + _worst_case_seconds(
        publish_timeout, PUBLISH_RETRY
    )
    assert needed <= definition["TimeoutSeconds"], needed


# --- the tables that hold teams' budgets and idempotency records ------------------------------


def test_the_tables_are_on_demand_recoverable_expiring_protected_and_kept(synth):
    from core.topology import TABLES

    tables = synth.resources("AWS::DynamoDB::Table")
    assert len(tables) == 2
    expiring = set()
    for name, table in tables.items():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST", name
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert properties["DeletionProtectionEnabled"] is True, name
        assert properties["SSESpecification"]["SSEEnabled"] is True, name
        assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain", name
        expiring.add(properties["TimeToLiveSpecification"]["AttributeName"])
    assert expiring == {ttl for _, _, ttl in TABLES.values()}


def test_only_the_functions_that_spend_or_read_budgets_touch_the_spend_table(synth):
    touching = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action.startswith("dynamodb:") for action in actions):
                assert not any("*" in action for action in actions)
                touching.add(policy["Properties"]["Roles"][0]["Ref"][:24])
    assert not any(role.startswith(("TaskApiModels", "TaskApiUploads", "TaskApiOpenapi", "TaskApiPlayground"))
                   for role in touching)  # fmt: skip
