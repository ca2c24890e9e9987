"""Where a job's objects live (DESIGN §6), and the form of job ids.

Output bucket: ``outputs/<id>/<n>.<png|jpg|webp>`` and ``outputs/<id>/manifest.json``;
``jobs/<id>/`` holds an async job's record and its model requests and responses, and a
triggered job's claim.
Input bucket: ``uploads/`` and ``triggers/``.
"""

from __future__ import annotations

import hashlib
import re
import uuid

OUTPUTS = "outputs/"
JOBS = "jobs/"
UPLOADS = "uploads/"
TRIGGERS = "triggers/"
TRIGGER_REQUESTS = "triggers/requests/"
# triggers/teams/<team>/<task>/<file> (or .../requests/<name>.json): a job that team owns and pays for.
TRIGGER_TEAMS = "triggers/teams/"


def trigger_path(key: str) -> tuple[str | None, str]:
    """The team an object under triggers/ belongs to (None: the deployment), and its path below
    the team's folder (``<task>/<file>`` or ``requests/<name>.json``)."""
    rest = key.removeprefix(TRIGGERS)
    if key.startswith(TRIGGER_TEAMS):
        team, _, inner = key.removeprefix(TRIGGER_TEAMS).partition("/")
        return (team or None), inner
    return None, rest


EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}

# 32 lowercase hex digits: safe in S3 keys and as a Step Functions execution name.
_JOB_ID = re.compile(r"[0-9a-f]{32}")


def new_job_id() -> str:
    return uuid.uuid4().hex


def derived_job_id(bucket: str, key: str, version: str) -> str:
    """A triggered job's id: the same object version always maps to the same job."""
    return hashlib.sha256(f"{bucket}/{key}#{version}".encode()).hexdigest()[:32]


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def image_key(job_id: str, index: int, content_type: str) -> str:
    return f"{OUTPUTS}{job_id}/{index}.{EXTENSIONS[content_type]}"


def manifest_key(job_id: str) -> str:
    return f"{OUTPUTS}{job_id}/manifest.json"


def job_record_key(job_id: str) -> str:
    return f"{JOBS}{job_id}/job.json"


def claim_key(job_id: str) -> str:
    """What a trigger delivery writes, conditionally, before it calls the model for ``job_id``."""
    return f"{JOBS}{job_id}/claim.json"


def call_keys(job_id: str, index: int, count: int) -> tuple[str, str]:
    """The model request and response objects of one call (numbered when a job fans out)."""
    suffix = "" if count == 1 else f"-{index}"
    return f"{JOBS}{job_id}/request{suffix}.json", f"{JOBS}{job_id}/response{suffix}.json"


def upload_key(content_type: str) -> str:
    return f"{UPLOADS}{uuid.uuid4().hex}.{EXTENSIONS[content_type]}"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
