"""Least privilege: exact actions, model ARNs, bucket prefixes and this state machine only."""

from __future__ import annotations

import json


def _statements(synth) -> dict[str, list[dict]]:
    """Each IAM policy's statements, keyed by the policy's logical id."""
    return {
        logical_id: policy["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, policy in synth.resources("AWS::IAM::Policy").items()
    }


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def _policy_of(synth, prefix: str) -> list[dict]:
    [(_, statements)] = [(k, v) for k, v in _statements(synth).items() if k.startswith(prefix)]
    return statements


def test_no_statement_grants_a_wildcard_action(synth, variant):
    for build in (synth, variant):
        for logical_id, statements in _statements(build).items():
            for statement in statements:
                assert not any("*" in action for action in _actions(statement)), (logical_id, statement)


def test_bedrock_invoke_is_limited_to_the_configured_model_arns(synth, variant):
    def invoke_resources(build) -> set[str]:
        found = set()
        for statements in _statements(build).values():
            for statement in statements:
                if "bedrock:InvokeModel" in _actions(statement):
                    assert (
                        _actions(statement) == ["bedrock:InvokeModel"] or statement["Action"] == "bedrock:InvokeModel"
                    )
                    resources = statement["Resource"]
                    found |= {
                        json.dumps(r, sort_keys=True)
                        for r in (resources if isinstance(resources, list) else [resources])
                    }
        return found

    default = invoke_resources(synth)
    assert len(default) == 4
    assert all("foundation-model/" in arn and '{"Ref": "AWS::Region"}' in arn for arn in default)

    overridden = invoke_resources(variant)
    assert len(overridden) == 2
    assert all(":bedrock:us-west-2::foundation-model/" in arn for arn in overridden)
    assert any("amazon.titan-image-generator-v2:1" in arn for arn in overridden)
    assert not any("stable-image-core" in arn for arn in overridden)


def _s3_grants(statements: list[dict]) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for statement in statements:
        for action in _actions(statement):
            if action.startswith("s3:"):
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                for resource in resources:
                    suffix = resource["Fn::Join"][1][-1]
                    grants.setdefault(action, set()).add(suffix)
    return grants


def test_task_functions_read_inputs_write_outputs_and_start_only_this_state_machine(synth):
    statements = _policy_of(synth, "TaskApiTextToImageFunctionRole")

    assert _s3_grants(statements) == {
        "s3:GetObject": {"/uploads/*", "/triggers/*"},
        "s3:PutObject": {"/outputs/*", "/jobs/*"},
    }
    [start] = [s for s in statements if "states:StartExecution" in _actions(s)]
    assert start["Resource"] == {"Ref": "WorkflowStateMachine8F1B1C15"}


def test_jobs_reads_outputs_and_describes_only_this_machines_executions(synth):
    statements = _policy_of(synth, "TaskApiJobsFunctionRole")

    assert _s3_grants(statements) == {"s3:GetObject": {"/outputs/*", "/jobs/*"}}
    [describe] = [s for s in statements if "states:DescribeExecution" in _actions(s)]
    rendered = json.dumps(describe["Resource"])
    assert ":execution:" in rendered and "WorkflowStateMachine8F1B1C15" in rendered


def test_uploads_may_only_put_under_uploads(synth):
    statements = _policy_of(synth, "TaskApiUploadsFunctionRole")

    assert _s3_grants(statements) == {"s3:PutObject": {"/uploads/*"}}
    assert not any("bedrock:InvokeModel" in _actions(s) for s in statements)


def test_models_function_has_no_data_access(synth):
    statements = _policy_of(synth, "TaskApiModelsFunctionRole")

    assert _s3_grants(statements) == {}
    assert {a for s in statements for a in _actions(s)} <= {
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # fmt: skip


def test_state_machine_reads_requests_and_writes_responses_under_jobs_only(synth):
    statements = _policy_of(synth, "WorkflowStateMachineRole")

    assert _s3_grants(statements) == {"s3:GetObject": {"/jobs/*"}, "s3:PutObject": {"/jobs/*"}}
    assert any("bedrock:InvokeModel" in _actions(s) for s in statements)


def test_publish_and_trigger_write_outputs_only(synth):
    assert _s3_grants(_policy_of(synth, "WorkflowPublishRole")) == {
        "s3:GetObject": {"/jobs/*"},
        "s3:PutObject": {"/outputs/*"},
    }
    assert _s3_grants(_policy_of(synth, "TriggersFunctionRole")) == {
        "s3:GetObject": {"/uploads/*", "/triggers/*"},
        "s3:PutObject": {"/outputs/*"},
    }


def test_functions_write_only_their_own_log_group(synth):
    statements = _policy_of(synth, "TaskApiTextToImageFunctionRole")
    [logs] = [s for s in statements if "logs:PutLogEvents" in _actions(s)]
    [(_, target)] = logs["Resource"].items()  # {"Fn::GetAtt": [<its log group>, "Arn"]}
    assert target[0].startswith("TaskApiTextToImageFunctionLogs") and target[1] == "Arn"
    roles = synth.resources("AWS::IAM::Role")
    function_roles = [r for k, r in roles.items() if "FunctionRole" in k]
    assert function_roles and all("ManagedPolicyArns" not in r["Properties"] for r in function_roles)
