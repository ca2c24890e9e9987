"""What S3 checks when a browser-style POST upload arrives, which moto does not: the policy's
SigV4 signature, its expiry, and that the form and the file meet every condition.

Rules from the S3 documentation ("Creating a POST policy"): every form field except
``x-amz-signature``, ``policy``, ``file`` and ``x-ignore-*`` must be matched by a condition;
conditions are exact matches (``{"field": value}`` or ``["eq", "$field", value]``),
``["starts-with", "$field", prefix]`` and ``["content-length-range", min, max]``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

_UNCHECKED = {"x-amz-signature", "policy", "file"}


def refusal(fields: dict[str, str], file_size: int, secret_key: str, now: datetime | None = None) -> str | None:
    """Why S3 would refuse this upload, or None when it would store it."""
    policy_b64 = fields["policy"]
    algorithm, credential = fields.get("x-amz-algorithm"), fields.get("x-amz-credential", "")
    if algorithm != "AWS4-HMAC-SHA256":
        return f"unsupported algorithm {algorithm!r}"
    _, date, region, service, _ = credential.split("/")
    if not hmac.compare_digest(_signature(secret_key, date, region, service, policy_b64), fields["x-amz-signature"]):
        return "signature does not match"
    policy = json.loads(base64.b64decode(policy_b64))
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    if (now or datetime.now(UTC)) > expiration:
        return "policy expired"
    covered: set[str] = set()
    for condition in policy["conditions"]:
        reason = _violation(condition, fields, file_size, covered)
        if reason:
            return reason
    uncovered = sorted(
        name for name in fields if name.lower() not in _UNCHECKED | covered and not name.startswith("x-ignore-")
    )
    return f"form fields not in the policy: {uncovered}" if uncovered else None


def _violation(condition: Any, fields: dict[str, str], file_size: int, covered: set[str]) -> str | None:
    lowered = {name.lower(): value for name, value in fields.items()}
    if isinstance(condition, dict):
        [(name, expected)] = condition.items()
        covered.add(name.lower())
        if name.lower() == "bucket":
            return None  # the bucket is the URL's, which the test posts to
        return None if lowered.get(name.lower()) == expected else f"{name} must be {expected!r}"
    operator, *arguments = condition
    if operator == "content-length-range":
        low, high = arguments
        return None if low <= file_size <= high else f"file size {file_size} outside {low}..{high}"
    name, value = arguments[0].removeprefix("$").lower(), arguments[1]
    covered.add(name)
    if operator == "eq":
        return None if lowered.get(name) == value else f"{name} must be {value!r}"
    if operator == "starts-with":
        return None if lowered.get(name, "").startswith(value) else f"{name} must start with {value!r}"
    return f"unknown condition {operator!r}"


def _signature(secret_key: str, date: str, region: str, service: str, string_to_sign: str) -> str:
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
