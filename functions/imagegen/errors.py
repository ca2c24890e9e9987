"""Typed errors: one base class, one subclass per row of the HTTP contract's error table.

Handlers (Lambda and Cloud Function alike) render any ``ImageGenError`` with ``body()``
and ``headers()``; nothing else decides an HTTP status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class ImageGenError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    @classmethod
    def from_details(cls, details: list[dict[str, str]]) -> ImageGenError:
        """One error for several fields; the message lists them all."""
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

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UpstreamTimeoutError(ImageGenError):
    status = 504
    code = "upstream_timeout"


class UpstreamError(ImageGenError):
    status = 502
    code = "upstream_error"


class NotFoundError(ImageGenError):
    status = 404
    code = "not_found"


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
