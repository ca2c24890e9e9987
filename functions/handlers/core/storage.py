"""S3: input images, output images, JSON documents and presigned URLs.

Every S3 failure surfaces as an ``ImageGenError``: a missing or unreadable input is the
caller's 400, anything else is a 502 that says storage failed (after botocore's retries).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from imagegen.errors import InvalidRequestError, PayloadTooLargeError, UpstreamError
from imagegen.images import S3Image
from imagegen.logs import get_logger

from . import clients

log = get_logger()
_MISSING = ("404", "NoSuchKey", "NotFound")
_FORBIDDEN = ("403", "AccessDenied", "Forbidden")
# A conditional write that lost: the condition no longer held (412), or another conditional
# write of the same key was in flight (409)
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
_LOST = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


class StorageError(UpstreamError):
    """S3 failed after retries; nothing that depended on the write was reported."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def failed(what: str, exc: ClientError | BotoCoreError) -> StorageError:
    """The error a caller sees: what failed and S3's error code. S3's message (which names the
    role that was refused) goes to the log only, with S3's request id."""
    if isinstance(exc, ClientError):
        reason = _code(exc) or "error"
        request_id = exc.response.get("ResponseMetadata", {}).get("RequestId") or "-"
    else:
        reason, request_id = type(exc).__name__, "-"
    log.warning("%s failed (S3 request %s): %s", what, request_id, exc)
    return StorageError(f"{what} failed: {reason}")


def fetch_inputs(refs: Iterable[tuple[str, S3Image]], max_bytes: int) -> dict[str, bytes]:
    """Read each referenced input image; its size is checked with HeadObject before reading."""
    fetched: dict[str, bytes] = {}
    for path, ref in refs:
        if ref.uri not in fetched:
            fetched[ref.uri] = _fetch(path, ref, max_bytes)
    return fetched


def _fetch(path: str, ref: S3Image, max_bytes: int) -> bytes:
    s3 = clients.s3()
    try:
        size = s3.head_object(Bucket=ref.bucket, Key=ref.key)["ContentLength"]
        if size > max_bytes:
            message = f"{ref.uri} is {size:,} bytes; the model accepts at most {max_bytes:,}"
            raise PayloadTooLargeError(f"{path}: {message}", [{"field": path, "message": message}])
        body = s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"]
        # Read one byte past the limit: the object may have been replaced since HeadObject.
        data = body.read(max_bytes + 1)
    except ClientError as exc:
        code = _code(exc)
        if code in _MISSING:
            raise InvalidRequestError.for_field(path, f"{ref.uri} does not exist (upload it first)") from None
        if code in _FORBIDDEN:
            raise InvalidRequestError.for_field(
                path, f"{ref.uri} is not readable by this service; use an upload from POST /v1/uploads"
            ) from None
        raise failed(f"reading {ref.uri}", exc) from None
    except BotoCoreError as exc:
        raise failed(f"reading {ref.uri}", exc) from None
    if len(data) > max_bytes:
        message = f"{ref.uri} is over {max_bytes:,} bytes"
        raise PayloadTooLargeError(f"{path}: {message}", [{"field": path, "message": message}])
    return data


def checksum(data: bytes) -> str:
    """The object's CRC32 as S3 takes it (``x-amz-checksum-crc32``): S3 refuses a body that does
    not match. Computed up front in one pass, it costs a third less than botocore's streamed
    aws-chunked trailer, with the same integrity."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


def put_bytes(bucket: str, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
    try:
        clients.s3().put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata=metadata or {},
            ChecksumCRC32=checksum(data),
        )
    except (ClientError, BotoCoreError) as exc:
        raise failed(f"storing s3://{bucket}/{key}", exc) from None


def put_json(bucket: str, key: str, document: Any) -> None:
    put_bytes(bucket, key, json.dumps(document, separators=(",", ":")).encode(), "application/json")


def put_json_if(bucket: str, key: str, document: Any, *, absent: bool = False, etag: str | None = None) -> str | None:
    """Write ``document`` only if the key does not exist (``absent``) or still has ``etag``;
    S3 decides atomically. The new ETag, or None when the condition did not hold."""
    condition = {"IfNoneMatch": "*"} if absent else {"IfMatch": etag}
    body = json.dumps(document, separators=(",", ":")).encode()
    try:
        answer = clients.s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition)
    except ClientError as exc:
        if _code(exc) in _LOST or (etag is not None and _code(exc) in _MISSING):
            return None
        raise failed(f"storing s3://{bucket}/{key}", exc) from None
    except BotoCoreError as exc:
        raise failed(f"storing s3://{bucket}/{key}", exc) from None
    return answer["ETag"]


def get_json_versioned(bucket: str, key: str) -> tuple[Any, str, float] | None:
    """The document, its ETag and its age in seconds; None when it does not exist."""
    try:
        answer = clients.s3().get_object(Bucket=bucket, Key=key)
        document = json.loads(answer["Body"].read())
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return None
        raise failed(f"reading s3://{bucket}/{key}", exc) from None
    except BotoCoreError as exc:
        raise failed(f"reading s3://{bucket}/{key}", exc) from None
    except ValueError:
        raise StorageError(f"s3://{bucket}/{key} is not valid JSON") from None
    age = (datetime.now(UTC) - answer["LastModified"]).total_seconds()
    return document, answer["ETag"], age


def get_bytes(bucket: str, key: str, max_bytes: int | None = None) -> bytes | None:
    """The object's bytes, or None when it does not exist."""
    try:
        body = clients.s3().get_object(Bucket=bucket, Key=key)["Body"]
        return body.read() if max_bytes is None else body.read(max_bytes + 1)
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return None
        raise failed(f"reading s3://{bucket}/{key}", exc) from None
    except BotoCoreError as exc:
        raise failed(f"reading s3://{bucket}/{key}", exc) from None


def get_json(bucket: str, key: str) -> Any | None:
    data = get_bytes(bucket, key)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise StorageError(f"s3://{bucket}/{key} is not valid JSON") from None


def presign_get(bucket: str, key: str, ttl: int) -> str:
    return clients.s3().generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl)


def presign_post(bucket: str, key: str, content_type: str, max_bytes: int, ttl: int) -> dict[str, Any]:
    """A browser-style POST upload whose signed policy fixes the key and the Content-Type and
    bounds the size; S3 refuses any other upload with it."""
    return clients.s3().generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=ttl,
    )
