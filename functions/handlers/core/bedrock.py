"""Bedrock ``InvokeModel``: one call, its errors mapped to the HTTP contract's error codes.

The same table maps the errors Step Functions reports for its ``bedrock:invokeModel`` task
(``Bedrock.ThrottlingException``...), so a job fails with the code a sync call would have.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from imagegen.errors import (
    ContentFilteredError,
    ImageGenError,
    InvalidRequestError,
    ThrottledError,
    UpstreamError,
    UpstreamTimeoutError,
    shown,
)
from imagegen.logs import get_logger

log = get_logger()

# Bedrock rejects filtered input with a ValidationException whose message says so.
_CONTENT_FILTER = re.compile(r"content filter|responsible ai|\bRAI\b", re.IGNORECASE)
# ...and a model id it does not serve where it is called (the deployment's doing, not the
# caller's): "The provided model identifier is invalid.", "Invocation of model ID ... with
# on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference
# profile that contains this model."
_MODEL_OR_REGION = re.compile(
    r"model identifier|invocation of model id|on-demand throughput|inference profile"
    r"|(?:not|isn't) (?:available|supported) in (?:this|the) region",
    re.IGNORECASE,
)
TIMEOUT_HINT = 'the model did not finish in time; send the request with "mode": "async" to let it run longer'
RETRY_AFTER_SECONDS = 10

# When the model calls under way must have ended (a ``time.monotonic()`` value; None: no bound).
# Fan-out threads run in a copy of the context and see it too.
_DEADLINE: ContextVar[float | None] = ContextVar("imagegen_bedrock_deadline", default=None)


@contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """No model call is retried in the block unless another whole attempt can end by ``at``."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def guard_retries(client: Any) -> None:
    """Keep botocore's retries on ``client`` (throttling, 5xx, refused connections) from paying twice.

    A read timeout comes after the request was sent: the model may have made the images and
    billed them, so a retry would be a second paid generation. And no attempt is started that
    could not finish, at the client's read timeout, before the deadline of the block it runs in.
    """
    event = f"needs-retry.{client.meta.service_model.service_id.hyphenize()}.InvokeModel"
    client.meta.events.register_first(event, partial(_refuse_unsafe_retry, client.meta.config.read_timeout))


def _refuse_unsafe_retry(
    read_timeout: float, response: Any = None, caught_exception: Exception | None = None, **_: Any
) -> None:
    """Raise what the attempt met, so botocore retries nothing, when a retry would be unsafe."""
    if isinstance(caught_exception, ReadTimeoutError):
        raise caught_exception
    limit = _DEADLINE.get()
    if limit is None or time.monotonic() + read_timeout <= limit:
        return  # botocore's own retry handler decides
    if caught_exception is not None:
        raise caught_exception
    if response is not None and response[0].status_code >= 300:
        raise ClientError(response[1], "InvokeModel")


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

    A caller reads our words, Bedrock's error code and its request id. Bedrock's own message is
    logged whole, and reaches the caller only where it is about the caller's input (a refused
    field, a content filter's reason), only as one short line of plain text, and with the
    deployment's identifiers (role ARNs, account ids) removed: an HTML error page never does.
    """
    code = code.removeprefix("Bedrock.")
    error = _mapped(code, message, model_id, region, request_id)
    level = logging.INFO if error.status < 429 else logging.WARNING
    log.log(level, "Bedrock %s for %s (request %s): %s", code or "error", model_id, request_id or "-", message)
    return error


def _mapped(code: str, message: str, model_id: str, region: str | None, request_id: str | None) -> ImageGenError:
    where = f"{model_id} in {region}" if region else model_id
    reference = f"Bedrock {code or 'error'}" + (f", request id {request_id}" if request_id else "")
    if code in ("ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"):
        return ThrottledError(f"Bedrock is throttling {where} ({reference})", retry_after=RETRY_AFTER_SECONDS)
    if code == "ModelTimeoutException":
        return UpstreamTimeoutError(f"{model_id}: {TIMEOUT_HINT} ({reference})")
    if code == "ValidationException":
        reason = shown(message)
        if _CONTENT_FILTER.search(message):
            return ContentFilteredError(f"{model_id} blocked the request: {reason or 'a content filter'} ({reference})")
        if _MODEL_OR_REGION.search(message):
            return UpstreamError(
                f"Bedrock does not serve {where} as this deployment calls it ({reference}): the operator must "
                "deploy where the model is offered or set its model id to the inference profile that serves it "
                "(GET /v1/models lists each model's regions)"
            )
        return InvalidRequestError(
            f"Bedrock refused the request for {model_id} as invalid: {reason or 'the reason is in the logs'} "
            f"({reference})"
        )
    if code == "AccessDeniedException":
        return UpstreamError(
            f"Bedrock denied access to {where} ({reference}). A third-party model subscribes the account through "
            "AWS Marketplace on its first call, which needs a payment method and the caller's "
            "aws-marketplace:Subscribe, Unsubscribe and ViewSubscriptions: the operator runs `make deploy` "
            f"(its preflight checks {model_id} and, with --accept-agreements, accepts its offer) and checks "
            "that the function's role may call bedrock:InvokeModel on it"
        )
    if code == "ResourceNotFoundException":
        return UpstreamError(
            f"{where} is unknown or retired in that region ({reference}): choose a region that offers it or "
            "set a successor with the model-id override"
        )
    if code == "ModelNotReadyException":
        return UpstreamError(f"{model_id} is not ready yet; retry shortly ({reference})")
    return UpstreamError(f"{model_id} failed ({reference})")
