"""imagegen: validated payload builders and response parsers for image-generation models.

Pure: no I/O, no cloud SDKs. ``import imagegen`` is free; pydantic and the schemas load on
first use of a builder, so a Lambda cold start pays only for what it calls.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .customization import VertexRequest, build_customization_request
    from .errors import (
        ContentFilteredError,
        ImageGenError,
        InvalidRequestError,
        NotFoundError,
        PayloadTooLargeError,
        ThrottledError,
        UnsupportedError,
        UpstreamError,
        UpstreamTimeoutError,
    )
    from .parsers import ParsedResponse, combine, parse_response
    from .registry import MODELS, TASKS, describe_models
    from .request import BuiltRequest, build_request

_EXPORTS = {
    "build_request": "request",
    "BuiltRequest": "request",
    "parse_response": "parsers",
    "combine": "parsers",
    "ParsedResponse": "parsers",
    "build_customization_request": "customization",
    "VertexRequest": "customization",
    "describe_models": "registry",
    "MODELS": "registry",
    "TASKS": "registry",
    "ImageGenError": "errors",
    "InvalidRequestError": "errors",
    "UnsupportedError": "errors",
    "PayloadTooLargeError": "errors",
    "ContentFilteredError": "errors",
    "ThrottledError": "errors",
    "UpstreamTimeoutError": "errors",
    "UpstreamError": "errors",
    "NotFoundError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'imagegen' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value
