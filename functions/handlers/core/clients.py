"""AWS clients: created lazily, once per container, and reused by every invocation.

Endpoints follow the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables, so the local stack
points these same clients at loopback without a branch in this code.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from .config import LONG_READ_TIMEOUT_SECONDS, settings

# Adaptive mode adds client-side rate limiting on top of retries when Bedrock throttles.
SYNC_RETRIES = {"mode": "adaptive", "total_max_attempts": 3}
LONG_RETRIES = {"mode": "adaptive", "total_max_attempts": 8}


def bedrock(*, long: bool = False) -> Any:
    """The Bedrock runtime client for the sync API path, or (``long``) for jobs that may wait.

    On the sync path the read timeout is the API's integration timeout: a call slower than
    that cannot be answered anyway, and ``mode: async`` is the way to wait longer.
    """
    return _bedrock(long)


@cache
def _bedrock(long: bool) -> Any:
    config = settings()
    read_timeout = LONG_READ_TIMEOUT_SECONDS if long else config.sync_timeout_seconds
    client = boto3.client(
        "bedrock-runtime",
        region_name=config.bedrock_region or None,
        config=Config(
            connect_timeout=5,
            read_timeout=read_timeout,
            retries=LONG_RETRIES if long else SYNC_RETRIES,
            # Fan-out calls run concurrently on one client.
            max_pool_connections=10,
        ),
    )
    from .bedrock import guard_retries

    guard_retries(client)
    return client


@cache
def s3() -> Any:
    # Virtual-hosted addressing makes presigned URLs name the bucket's regional host: the global
    # host answers a new bucket outside us-east-1 with a redirect, which breaks the signature.
    # Uploads carry their CRC32 (storage.checksum), which S3 checks: hashing each body once more
    # for the signature adds nothing over TLS.
    s3_options = {"addressing_style": "virtual", "payload_signing_enabled": False}
    return boto3.client("s3", config=Config(signature_version="s3v4", s3=s3_options, retries={"mode": "standard"}))


@cache
def stepfunctions() -> Any:
    return boto3.client("stepfunctions", config=Config(retries={"mode": "standard"}))


@cache
def dynamodb() -> Any:
    return boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))


@cache
def sqs() -> Any:
    # On the job path (core/webhooks.py queues a job's webhook): a slow queue must not hold a
    # sync answer for long.
    return boto3.client("sqs", config=Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"}))


@cache
def secretsmanager() -> Any:
    return boto3.client("secretsmanager", config=Config(retries={"mode": "standard"}))


@cache
def kms() -> Any:
    # On the job path (core/provenance.py signs each stored image): a slow KMS must not hold an answer.
    return boto3.client("kms", config=Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"}))


def reset() -> None:
    """Forget cached clients and settings (tests, and the local stack after a config change)."""
    for factory in (_bedrock, s3, stepfunctions, dynamodb, sqs, secretsmanager, kms, settings):
        factory.cache_clear()
