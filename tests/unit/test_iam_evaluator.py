"""The IAM evaluator the handler tests' audit relies on: it must refuse what AWS refuses,
conditions included, or the audit passes calls that fail in a deployment."""

from __future__ import annotations

import pytest
from iam_policy import Policies

_BUCKET = "arn:aws:s3:::imagegen-output"


def _template(*statements: dict) -> dict:
    return {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"Roles": [{"Ref": "Role"}], "PolicyDocument": {"Statement": list(statements)}},
            },
        }
    }


_LIST_OUTPUTS = {
    "Effect": "Allow",
    "Action": "s3:ListBucket",
    "Resource": _BUCKET,
    "Condition": {"StringLike": {"s3:prefix": ["outputs/*", "jobs/*"]}},
}


def test_a_prefix_condition_allows_listing_only_under_its_prefixes():
    policies = Policies(_template(_LIST_OUTPUTS), {})

    assert policies.matching("Role", "s3:ListBucket", _BUCKET, {"s3:prefix": "outputs/abc/manifest.json"})
    assert policies.matching("Role", "s3:ListBucket", _BUCKET, {"s3:prefix": "jobs/abc/job.json"})
    assert not policies.matching("Role", "s3:ListBucket", _BUCKET, {"s3:prefix": "uploads/a.png"})


def test_a_request_without_the_condition_key_is_refused_as_iam_does():
    policies = Policies(_template(_LIST_OUTPUTS), {})

    assert not policies.matching("Role", "s3:ListBucket", _BUCKET)


def test_reading_objects_does_not_imply_listing_the_bucket():
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{_BUCKET}/outputs/*"}
    policies = Policies(_template(read), {})

    assert policies.matching("Role", "s3:GetObject", f"{_BUCKET}/outputs/abc/manifest.json")
    assert not policies.matching("Role", "s3:ListBucket", _BUCKET, {"s3:prefix": "outputs/abc/manifest.json"})


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"},
        {**_LIST_OUTPUTS, "Condition": {"ForAnyValue:StringLike": {"s3:prefix": ["outputs/*"]}}},
    ],
)
def test_a_statement_the_evaluator_cannot_judge_is_refused_rather_than_guessed(statement):
    with pytest.raises(ValueError, match="cannot judge"):
        Policies(_template(statement), {})
