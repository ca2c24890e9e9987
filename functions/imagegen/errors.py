"""Typed errors: one base class, one subclass per row of the HTTP contract's error table.

Handlers (Lambda and Cloud Function alike) render any ``ImageGenError`` with ``body()``
and ``headers()``; nothing else decides an HTTP status.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class ImageGenError(Exception):
    """Base of every error the API renders; a bare ``ImageGenError`` is an internal error."""

    status = 500
    code = "internal"

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = _capped(details or [])

    @classmethod
    def from_details(cls, details: list[dict[str, str]]) -> ImageGenError:
        """One error for several fields; the message lists them (the first MAX_DETAILS)."""
        details = _capped(details)
        return cls("; ".join(f"{d['field']}: {d['message']}" for d in details), details)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def headers(self) -> dict[str, str]:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, details={self.details!r})"


class InvalidRequestError(ImageGenError):
    status = 400
    code = "invalid_request"

    @classmethod
    def for_field(cls, field: str, message: str) -> InvalidRequestError:
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class UnsupportedError(ImageGenError):
    status = 400
    code = "unsupported"

    @classmethod
    def for_field(cls, field: str, message: str) -> UnsupportedError:
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class PayloadTooLargeError(ImageGenError):
    status = 413
    code = "payload_too_large"


class ContentFilteredError(ImageGenError):
    status = 422
    code = "content_filtered"


class ThrottledError(ImageGenError):
    status = 429
    code = "throttled"

    def __init__(self, message: str, retry_after: int | None = 5) -> None:
        """``retry_after``: seconds; None when no wait can be named (a daily quota)."""
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class UpstreamTimeoutError(ImageGenError):
    status = 504
    code = "upstream_timeout"


class UpstreamError(ImageGenError):
    status = 502
    code = "upstream_error"


class NotFoundError(ImageGenError):
    status = 404
    code = "not_found"


class UnauthorizedError(ImageGenError):
    """A missing or wrong API key, answered as OpenAI answers one: 401 ``invalid_api_key``.

    API Gateway's own answers are per API, not per route, so one body serves both error shapes:
    the native contract's ``code`` and ``message``, and OpenAI's ``type`` and ``param`` besides
    (its clients raise ``AuthenticationError`` for the 401 and read ``code`` from the body).
    """

    status = 401
    code = "invalid_api_key"
    type = "invalid_request_error"

    @classmethod
    def missing(cls) -> UnauthorizedError:
        return cls("no API key: send it as the x-api-key header or as Authorization: Bearer <key>")

    @classmethod
    def wrong(cls) -> UnauthorizedError:
        return cls("incorrect API key provided: it is not a key of this API")

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"].update(type=self.type, param=None)
        return body


class ForbiddenError(ImageGenError):
    """A valid API key that may not do what was asked (API Gateway's ACCESS_DENIED)."""

    status = 403
    code = "forbidden"


class BudgetExceededError(ImageGenError):
    """The request's estimated cost would take the caller's team over its monthly budget."""

    status = 402
    code = "budget_exceeded"


class IdempotencyKeyReusedError(ImageGenError):
    """An Idempotency-Key sent again with a different request."""

    status = 422
    code = "idempotency_key_reused"


class IdempotencyInProgressError(ImageGenError):
    """An Idempotency-Key whose first request has no answer yet."""

    status = 409
    code = "idempotency_in_progress"

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class MethodNotAllowedError(ImageGenError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, allow: str) -> None:
        super().__init__(message)
        self.allow = allow

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow}


class InternalError(ImageGenError):
    """A fault of ours; its message names the request id, never the cause."""

    status = 500
    code = "internal"

    @classmethod
    def for_request(cls, request_id: str) -> InternalError:
        return cls(f"internal error; request id {request_id}")


# What a provider's message may reveal about the deployment: role and resource ARNs, account
# ids (and Google project numbers), service-account e-mails and project paths.
_REVEALING = (
    (re.compile(r"arn:aws[\w-]*:[^\s\"'`,;()\[\]]*"), "<arn>"),
    (re.compile(r"[\w.+-]+@[\w-]+\.iam\.gserviceaccount\.com"), "<service-account>"),
    (re.compile(r"projects/[^/\s\"']+"), "projects/<project>"),
    (re.compile(r"(?<!\d)\d{12}(?!\d)"), "<account>"),
)


# What of a provider's message may be shown: one short line, no markup, no JSON.
_PLAIN = re.compile(r"[^<>{}\x00-\x1f\x7f]{1,400}")


def shown(message: str) -> str | None:
    """A provider's message fit for a caller (redacted), or None when it is not one short line
    of plain text (an HTML error page, a JSON document, a stack trace)."""
    message = message.strip()
    return redact(message) if _PLAIN.fullmatch(message) else None


def redact(message: str) -> str:
    """A provider's message, fit to pass on to a caller: identifiers of the deployment removed."""
    for pattern, replacement in _REVEALING:
        message = pattern.sub(replacement, message)
    return message


# An error names at most this many fields: a body of a million unknown keys must not become an
# answer larger than Lambda may send, or a log line of megabytes.
MAX_DETAILS = 10


def _capped(details: list[dict[str, str]]) -> list[dict[str, str]]:
    """The first MAX_DETAILS, then one line for the rest (a capped list is left as it is)."""
    if len(details) <= MAX_DETAILS + 1:
        return details
    more = len(details) - MAX_DETAILS
    return [*details[:MAX_DETAILS], {"field": "body", "message": f"and {more:,} more fields with errors"}]


def field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location as the user wrote it: ``images[1]``, ``parameters.seed``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def from_validation_error(exc: ValidationError) -> InvalidRequestError:
    details = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        # PlainValidator messages arrive as "Value error, <ours>": keep ours only.
        message = message.removeprefix("Value error, ")
        details.append({"field": field_path(err["loc"]) or "body", "message": message})
    return InvalidRequestError.from_details(details)


# API Gateway's answer for a key over its usage plan's daily quota (QUOTA_EXCEEDED), and the local
# gateway's. API Gateway's own answers carry only static headers or the request's own values
# ("The parameter values can take any incoming request parameter value or a static custom value",
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.gatewayResponse.html),
# so no Retry-After could say when it resets: a fixed one would send clients back within seconds all day.
QUOTA_EXHAUSTED = ThrottledError(
    "this API key's daily request quota is used up; it resets when the day ends (UTC). Ask the operator to "
    "raise this key's quota",
    retry_after=None,
)
