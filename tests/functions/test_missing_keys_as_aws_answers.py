"""S3 answers a missing key as AWS does for the function's role, not as moto does.

AWS: "If you have the s3:ListBucket permission on the bucket, Amazon S3 returns an HTTP status
code 404 Not Found error. If you don't have the s3:ListBucket permission, Amazon S3 returns an
HTTP status code 403 Forbidden error."
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and API_HeadObject.html)

Every handler test runs in this mode (tests/functions/iam_audit.py); these tests show that it
bites: the same request against a role without the listing grant fails as it would in AWS.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from harness import INPUT_BUCKET, api_event, call, job_event
from iam_audit import RECORDER, denied
from iam_policy import Policies

jobs_handler = importlib.import_module("jobs").handler
background_removal = importlib.import_module("background_removal").handler

_UNKNOWN_JOB = "0123456789abcdef0123456789abcdef"


@contextmanager
def without_list_bucket() -> Iterator[Policies]:
    """The deployed roles with every s3:ListBucket grant taken away, for the block."""
    deployed = RECORDER.policies
    assert deployed is not None, "the audit sets the deployed roles for every handler test"
    stripped = copy.copy(deployed)
    stripped.grants = {
        role: [grant for grant in grants if grant.action != "s3:ListBucket"] for role, grants in deployed.grants.items()
    }
    RECORDER.policies = stripped
    try:
        yield stripped
    finally:
        RECORDER.policies = deployed


def test_an_unknown_job_is_404_with_the_deployed_roles(aws):
    status, body, _ = call(jobs_handler, job_event(_UNKNOWN_JOB))

    assert status == 404 and body["error"]["code"] == "not_found"


def test_without_list_bucket_an_unknown_job_would_read_as_a_storage_failure_and_the_audit_says_why(aws):
    with without_list_bucket() as stripped:
        status, body, _ = call(jobs_handler, job_event(_UNKNOWN_JOB))
        refused, _ = denied(stripped, RECORDER.take())

    assert status == 502 and "AccessDenied" in body["error"]["message"]
    assert refused == [
        f"jobs: s3:ListBucket on arn:aws:s3:::imagegen-output with s3:prefix=outputs/{_UNKNOWN_JOB}/manifest.json"
    ]


@pytest.mark.parametrize("key", ["uploads/never-uploaded.png", "triggers/background-removal/gone.png"])
def test_a_missing_upload_is_named_missing_only_with_the_listing_grant(aws, key):
    body = {"image": f"s3://{INPUT_BUCKET}/{key}"}
    event = api_event("/v1/background-removal", body)

    status, answer, _ = call(background_removal, event)
    assert status == 400 and "does not exist" in answer["error"]["message"]
    assert denied(RECORDER.policies, RECORDER.take())[0] == [], "the deployed roles allow the probe"

    with without_list_bucket() as stripped:
        status, answer, _ = call(background_removal, event)
        refused, _ = denied(stripped, RECORDER.take())
    assert status == 400 and "not readable" in answer["error"]["message"]
    assert refused == [f"background_removal: s3:ListBucket on arn:aws:s3:::{INPUT_BUCKET} with s3:prefix={key}"]
