"""Least privilege in the template. What each role must allow is checked where the calls are
made: tests/functions/iam_audit.py audits every call and presigned URL of the handler tests
against the synthesized roles. Here: the shape of the grants themselves."""

from __future__ import annotations

import json

import pytest

from core.routes import ROUTES, WORKERS
from imagegen.registry import LIVE_MODELS, MODELS


def _statements(synth) -> dict[str, list[dict]]:
    """Each IAM policy's statements, keyed by the policy's logical id."""
    return {
        logical_id: policy["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, policy in synth.resources("AWS::IAM::Policy").items()
    }


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _flat(value) -> str:
    """A resource as text, references written ``<LogicalId>``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        return value["Fn::Join"][0].join(_flat(part) for part in value["Fn::Join"][1])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    return f"<{'.'.join(value['Fn::GetAtt'])}>"


def _construct_path(logical_id: str) -> str:
    """A logical id without the 8-character hash CDK appends."""
    return logical_id[:-8]


def _invoke_resources(synth, policy_prefix: str) -> set[str]:
    [(_, statements)] = [(k, v) for k, v in _statements(synth).items() if k.startswith(policy_prefix)]
    return {
        _flat(resource)
        for statement in statements
        if "bedrock:InvokeModel" in _listed(statement["Action"])
        for resource in _listed(statement["Resource"])
    }


@pytest.mark.parametrize("build", ["synth", "variant", "deployed"])
def test_no_statement_grants_a_wildcard_action(build, request):
    for logical_id, statements in _statements(request.getfixturevalue(build)).items():
        for statement in statements:
            assert not any("*" in action for action in _listed(statement["Action"])), (logical_id, statement)


def test_bedrock_invoke_names_each_configured_model_in_the_bedrock_region(synth, deployed):
    """cdk.json's live models: Ultra, Core and SD3.5 by id; the services by their us. profiles."""
    expected = set()
    for name in LIVE_MODELS:
        model_id = MODELS[name].model_id
        if model_id.startswith("us."):
            expected |= {
                f"arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/{model_id}",
                f"arn:<AWS::Partition>:bedrock:*::foundation-model/{model_id.removeprefix('us.')}",
            }
        else:
            expected.add(f"arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/{model_id}")
    assert _invoke_resources(synth, "TaskApiTextToImageFunctionRole") == expected
    assert "foundation-model/stability.stable-image-ultra-v1:1" in " ".join(expected)
    assert all(":bedrock:us-west-2:" in arn or ":bedrock:*:" in arn
               for arn in _invoke_resources(deployed, "WorkflowStateMachineRole"))  # fmt: skip


@pytest.mark.parametrize("role", ["TaskApiTextToImageFunctionRole", "TriggersFunctionRole", "WorkflowStateMachineRole"])
def test_an_inference_profile_is_granted_as_the_profile_and_as_its_model_in_every_region(variant, role):
    resources = _invoke_resources(variant, role)

    assert resources == {
        "arn:<AWS::Partition>:bedrock:us-east-1::foundation-model/amazon.nova-canvas-v1:0",
        "arn:<AWS::Partition>:bedrock:us-east-1::foundation-model/amazon.titan-image-generator-v2:1",
        # The profile in the calling region, and the model wherever the profile routes the call.
        "arn:<AWS::Partition>:bedrock:us-east-1:<AWS::AccountId>:inference-profile/us.stability.stable-image-core-v1:1",
        "arn:<AWS::Partition>:bedrock:*::foundation-model/stability.stable-image-core-v1:1",
    }


def test_functions_that_do_not_call_bedrock_may_not(synth):
    for prefix in ("TaskApiJobsFunctionRole", "TaskApiUploadsFunctionRole", "TaskApiModelsFunctionRole",
                   "WorkflowPublishRole", "WorkflowFailRole"):  # fmt: skip
        [(_, statements)] = [(k, v) for k, v in _statements(synth).items() if k.startswith(prefix)]
        assert not any("bedrock:InvokeModel" in _listed(s["Action"]) for s in statements), prefix


def test_models_function_has_no_data_access(synth):
    [(_, statements)] = [(k, v) for k, v in _statements(synth).items() if k.startswith("TaskApiModelsFunctionRole")]
    assert {a for s in statements for a in _listed(s["Action"])} <= {
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # fmt: skip


def test_every_function_has_its_own_role_writing_only_its_own_log_group(synth):
    roles = synth.resources("AWS::IAM::Role")
    functions = {
        props["Handler"].removesuffix(".handler"): props
        for props in (f["Properties"] for f in synth.resources("AWS::Lambda::Function").values())
        if props.get("Handler", "").removesuffix(".handler") in {r.module for r in ROUTES} | set(WORKERS)
    }
    role_ids = [props["Role"]["Fn::GetAtt"][0] for props in functions.values()]
    assert len(set(role_ids)) == len(functions) == len(synth.routes) + len(WORKERS)
    for role_id in role_ids:
        assert "ManagedPolicyArns" not in roles[role_id]["Properties"], role_id
        role = _construct_path(role_id)  # e.g. TaskApiTextToImageFunctionRole
        [(_, statements)] = [(k, v) for k, v in _statements(synth).items() if k.startswith(role)]
        [logs] = [s for s in statements if "logs:PutLogEvents" in _listed(s["Action"])]
        [(_, target)] = logs["Resource"].items()  # {"Fn::GetAtt": [<its own log group>, "Arn"]}
        assert _construct_path(target[0]) == role.removesuffix("Role") + "Logs", (role_id, target)


def test_the_jobs_function_describes_only_this_machines_executions(deployed):
    [(_, statements)] = [(k, v) for k, v in _statements(deployed).items() if k.startswith("TaskApiJobsFunctionRole")]
    [describe] = [s for s in statements if "states:DescribeExecution" in _listed(s["Action"])]
    rendered = json.dumps(describe["Resource"])
    assert ":states:us-west-2:123456789012:execution:" in rendered and "WorkflowStateMachine" in rendered


# Every prefix a function reads keys from that may not exist yet (a job's manifest, an upload).
_PROBED = {
    "TaskApiTextToImageFunctionRole": ("Inputs", {"uploads/*", "triggers/*"}),
    "TaskApiImagesEditsFunctionRole": ("Inputs", {"uploads/*", "triggers/*"}),
    "TaskApiJobsFunctionRole": ("Outputs", {"outputs/*", "jobs/*"}),
    "WorkflowPublishRole": ("Outputs", {"jobs/*"}),
    "WorkflowFailRole": ("Outputs", {"jobs/*"}),
}


@pytest.mark.parametrize("role", sorted(_PROBED))
def test_a_function_that_reads_possibly_missing_keys_may_list_exactly_those_prefixes(synth, role):
    """Without s3:ListBucket S3 answers a missing key 403, not 404
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html, "Permissions")."""
    bucket, prefixes = _PROBED[role]
    [(_, statements)] = [(k, v) for k, v in _statements(synth).items() if k.startswith(role)]
    [listing] = [s for s in statements if "s3:ListBucket" in _listed(s["Action"])]

    assert f"<Storage{bucket}" in _flat(listing["Resource"]) and not _flat(listing["Resource"]).endswith("/*")
    assert set(_listed(listing["Condition"]["StringLike"]["s3:prefix"])) == prefixes


def test_the_trigger_may_list_the_uploads_it_reads_and_the_manifests_and_claims_it_checks(synth):
    [(_, statements)] = [(k, v) for k, v in _statements(synth).items() if k.startswith("TriggersFunctionRole")]
    listings = {
        _flat(s["Resource"]): set(_listed(s["Condition"]["StringLike"]["s3:prefix"]))
        for s in statements
        if "s3:ListBucket" in _listed(s["Action"])
    }
    assert {bucket.split("Storage")[1][:6]: prefixes for bucket, prefixes in listings.items()} == {
        "Inputs": {"uploads/*", "triggers/*"},
        # The manifest it checks first, and the claim it writes before the model call.
        "Output": {"outputs/*", "jobs/*"},
    }


def test_no_role_may_list_a_bucket_without_a_prefix_condition(deployed):
    for logical_id, statements in _statements(deployed).items():
        for statement in statements:
            if "s3:ListBucket" in _listed(statement["Action"]):
                assert statement["Condition"]["StringLike"]["s3:prefix"], logical_id
