"""Bedrock ``InvokeModel``: one call, its errors mapped to the HTTP contract's error codes.

The same table maps the errors Step Functions reports for its ``bedrock:invokeModel`` task
(``Bedrock.ThrottlingException``...), so a job fails with the code a sync call would have.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from imagegen.errors import (
    ContentFilteredError,
    ImageGenError,
    InvalidRequestError,
    ThrottledError,
    UpstreamError,
    UpstreamTimeoutError,
    redact,
)
from imagegen.logs import get_logger

log = get_logger()

# Bedrock rejects filtered input with a ValidationException whose message says so.
_CONTENT_FILTER = re.compile(r"content filter|responsible ai|\bRAI\b", re.IGNORECASE)
TIMEOUT_HINT = 'the model did not finish in time; send the request with "mode": "async" to let it run longer'
RETRY_AFTER_SECONDS = 10


def invoke(client: Any, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call the model and return its parsed JSON response, or raise an ``ImageGenError``."""
    try:
        response = client.invoke_model(
            modelId=model_id,
            body=json.dumps(body),
            contentType="application/json",
            accept="application/json",
        )
        payload = response["body"].read()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", str(exc))
        request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")
        raise map_error(code, message, model_id, client.meta.region_name, request_id) from None
    except (ReadTimeoutError, ConnectTimeoutError):
        raise UpstreamTimeoutError(f"{model_id}: {TIMEOUT_HINT}") from None
    except BotoCoreError as exc:
        log.warning("calling %s failed: %s", model_id, exc)
        raise UpstreamError(f"{model_id}: could not reach Bedrock ({type(exc).__name__})") from None
    try:
        native = json.loads(payload)
    except ValueError:
        raise UpstreamError(f"{model_id} returned a response that is not JSON") from None
    if not isinstance(native, dict):
        raise UpstreamError(f"{model_id} returned a response that is not a JSON object")
    return native


def map_error(
    code: str, message: str, model_id: str, region: str | None = None, request_id: str | None = None
) -> ImageGenError:
    """Bedrock's error code (``ThrottlingException`` or ``Bedrock.ThrottlingException``) -> ours.

    Bedrock's own message is logged whole; the caller sees it only with the deployment's
    identifiers (role ARNs, account ids) removed, and not at all for access errors.
    """
    code = code.removeprefix("Bedrock.")
    error = _mapped(code, redact(message), model_id, region, request_id)
    level = logging.INFO if error.status < 429 else logging.WARNING
    log.log(level, "Bedrock %s for %s (request %s): %s", code or "error", model_id, request_id or "-", message)
    return error


def _mapped(code: str, message: str, model_id: str, region: str | None, request_id: str | None) -> ImageGenError:
    where = f"{model_id} in {region}" if region else model_id
    reference = f" (Bedrock request id {request_id})" if request_id else ""
    if code in ("ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"):
        return ThrottledError(f"Bedrock is throttling {where}: {message}", retry_after=RETRY_AFTER_SECONDS)
    if code == "ModelTimeoutException":
        return UpstreamTimeoutError(f"{model_id}: {TIMEOUT_HINT} ({message})")
    if code == "ValidationException":
        if _CONTENT_FILTER.search(message):
            return ContentFilteredError(f"{model_id} blocked the request: {message}")
        return InvalidRequestError(f"Bedrock rejected the request for {model_id}: {message}")
    if code == "AccessDeniedException":
        return UpstreamError(
            f"access to {where} was denied: enable model access for {model_id} in the Bedrock console of that "
            f"region, and check that the function's role may call bedrock:InvokeModel on it{reference}"
        )
    if code == "ResourceNotFoundException":
        return UpstreamError(
            f"{where} is unknown or retired in that region: choose a region that offers it or set "
            f"a successor with the model-id override ({message})"
        )
    if code == "ModelNotReadyException":
        return UpstreamError(f"{model_id} is not ready yet; retry shortly ({message})")
    return UpstreamError(f"{model_id} failed: {code or 'error'}: {message}{reference}")
