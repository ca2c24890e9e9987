"""Each model family's native response -> images, seeds, filtered count and warnings."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import ContentFilteredError, UpstreamError
from .images import MIME_TYPES, sniff_format
from .registry import MODELS

# A Stability model's finish reason for a call that failed rather than being filtered
# ("Filter reason: prompt | input image | output image" are filters).
_STABILITY_INFERENCE_ERROR = "Inference error"


@dataclass(frozen=True)
class ParsedResponse:
    images: list[bytes] = field(repr=False)
    mime_types: list[str]
    seeds: list[int | None]
    filtered: int
    warnings: list[str] = field(default_factory=list)
    # Gemini's token counts (usageMetadata), summed over a fan-out.
    usage: dict[str, int] = field(default_factory=dict)
    # Each image as the model sent it, strict base64 (checked by the decode): an answer that
    # carries the images inline takes these as they are instead of encoding them again.
    encoded: list[str] = field(default_factory=list, repr=False)


def parse_response(model: str, native: Any, requested: int) -> ParsedResponse:
    """Parse one native response. ``model`` is a registry name (``nova-canvas``, ...).

    Raises ``ContentFilteredError`` (with the model's reason) when no image survives and
    ``UpstreamError`` when the response is not what the model documents.
    """
    result = parse_images(model, native, requested)
    if not result.images:
        raise filtered_error(model, result)
    return result


def parse_images(model: str, native: Any, requested: int) -> ParsedResponse:
    """Like ``parse_response``, but a fully filtered response is a result with no images
    (one call of a fan-out may be filtered while the others are not)."""
    spec = MODELS.get(model)
    if spec is None:
        raise ValueError(f"unknown model {model!r}")
    if not isinstance(native, dict):
        raise UpstreamError(f"{model} returned a response that is not a JSON object")
    if spec.family == "stability":
        return _stability(model, native, requested)
    if spec.family == "imagen":
        return _vertex(native, requested)
    if spec.family == "gemini":
        return _gemini(native, requested)
    return _task_type(native, requested)


class OutputsFilteredError(ContentFilteredError):
    """The model answered, and its filter withheld every image it made (billed as made)."""


def filtered_error(model: str, result: ParsedResponse) -> ContentFilteredError:
    reason = "; ".join(result.warnings) or "the model returned no images"
    return OutputsFilteredError(f"{model} blocked the request: {reason}")


def combine(parts: Iterable[ParsedResponse], requested: int) -> ParsedResponse:
    """Merge the responses of a fan-out into one result."""
    images: list[bytes] = []
    mimes: list[str] = []
    seeds: list[int | None] = []
    warnings: list[str] = []
    usage: dict[str, int] = {}
    encoded: list[str] | None = []
    for part in parts:
        encoded = encoded + part.encoded if encoded is not None and len(part.encoded) == len(part.images) else None
        images += part.images
        mimes += part.mime_types
        seeds += part.seeds
        warnings += [w for w in part.warnings if w not in warnings]
        for name, tokens in part.usage.items():
            usage[name] = usage.get(name, 0) + tokens
    return ParsedResponse(images, mimes, seeds, max(requested - len(images), 0), warnings, usage, encoded or [])


def _decode(value: Any, where: str) -> tuple[bytes, str, str]:
    """The image, its MIME type, and its base64 as sent (strict: only the base64 alphabet)."""
    if not isinstance(value, str):
        raise UpstreamError(f"{where} is not a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise UpstreamError(f"{where} is not valid base64") from None
    kind = sniff_format(data)
    if kind is None:
        raise UpstreamError(f"{where} is not a PNG, JPEG or WebP image")
    return data, MIME_TYPES[kind], value


def _task_type(native: dict[str, Any], requested: int) -> ParsedResponse:
    """Nova Canvas / Titan: ``{"images": [...], "error": "..."}``."""
    raw = native.get("images") or []
    if not isinstance(raw, list):
        raise UpstreamError("images is not a list")
    decoded = [_decode(value, f"images[{index}]") for index, value in enumerate(raw)]
    error = native.get("error")
    return _unseeded(decoded, requested, [error] if isinstance(error, str) and error else [])


def _unseeded(
    decoded: list[tuple[bytes, str, str]], requested: int, warnings: list[str], usage: dict[str, int] | None = None
) -> ParsedResponse:
    """A result whose images report no seed: what was asked for and not returned is filtered."""
    return ParsedResponse(
        images=[data for data, _, _ in decoded],
        mime_types=[mime for _, mime, _ in decoded],
        encoded=[text for _, _, text in decoded],
        seeds=[None] * len(decoded),
        filtered=max(requested - len(decoded), 0),
        warnings=warnings,
        usage=usage or {},
    )


def _stability(model: str, native: dict[str, Any], requested: int) -> ParsedResponse:
    """Every Stability model: parallel ``seeds``, ``finish_reasons`` and ``images`` lists."""
    images, reasons, seeds = native.get("images") or [], native.get("finish_reasons") or [], native.get("seeds") or []
    if not all(isinstance(x, list) for x in (images, reasons, seeds)):
        raise UpstreamError("images, finish_reasons and seeds must be lists")
    if _STABILITY_INFERENCE_ERROR in reasons:
        raise UpstreamError(f"{model} reported an inference error; retry the request")
    kept: list[tuple[bytes, str, int | None, str]] = []
    warnings: list[str] = []
    for index, value in enumerate(images):
        reason = reasons[index] if index < len(reasons) else None
        if reason is not None:
            warnings.append(str(reason))
            continue
        data, mime, text = _decode(value, f"images[{index}]")
        seed = seeds[index] if index < len(seeds) and isinstance(seeds[index], int) else None
        kept.append((data, mime, seed, text))
    # A filtered call may return no image at all, only its reason.
    warnings += [str(r) for r in reasons[len(images) :] if r is not None]
    return ParsedResponse(
        images=[k[0] for k in kept],
        mime_types=[k[1] for k in kept],
        seeds=[k[2] for k in kept],
        filtered=max(requested - len(kept), 0),
        warnings=warnings,
        encoded=[k[3] for k in kept],
    )


def _vertex(native: dict[str, Any], requested: int) -> ParsedResponse:
    """Vertex AI ``{"predictions": [{"bytesBase64Encoded", "mimeType"}]}``; filtered ones lack bytes."""
    predictions = native.get("predictions") or []
    if not isinstance(predictions, list):
        raise UpstreamError("predictions is not a list")
    kept: list[tuple[bytes, str, str]] = []
    warnings: list[str] = []
    for index, prediction in enumerate(predictions):
        if not isinstance(prediction, dict):
            raise UpstreamError(f"predictions[{index}] is not an object")
        if "bytesBase64Encoded" not in prediction:
            reason = prediction.get("raiFilteredReason")
            if reason:
                warnings.append(str(reason))
            continue
        kept.append(_decode(prediction["bytesBase64Encoded"], f"predictions[{index}]"))
    if len(kept) < requested and not warnings:
        warnings.append(f"{requested - len(kept)} of {requested} images were filtered by responsible AI")
    return _unseeded(kept, requested, warnings)


# Sec.6: a candidate that ended for one of these reasons carries no usable image.
_GEMINI_FILTERED = frozenset({
    "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "IMAGE_OTHER", "NO_IMAGE", "SAFETY",
    "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION",
})  # fmt: skip
_GEMINI_USAGE = ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")


def _gemini(native: dict[str, Any], requested: int) -> ParsedResponse:
    """``generateContent``: image parts of each candidate (text parts may come first); a
    candidate without one, or stopped by a filter, is filtered with its reason or text."""
    candidates = native.get("candidates") or []
    if not isinstance(candidates, list):
        raise UpstreamError("candidates is not a list")
    usage = {name: int(value) for name, value in (native.get("usageMetadata") or {}).items() if name in _GEMINI_USAGE}
    kept: list[tuple[bytes, str, str]] = []
    warnings: list[str] = []
    if not candidates:
        feedback = native.get("promptFeedback") or {}
        reason = feedback.get("blockReason")
        if not reason:
            raise UpstreamError("the model returned neither candidates nor a reason")
        message = feedback.get("blockReasonMessage")
        warnings.append(f"prompt blocked: {reason}" + (f" ({message})" if message else ""))
    for index, candidate in enumerate(candidates):
        parts = ((candidate or {}).get("content") or {}).get("parts") or []
        # Gemini 3 models may send interim "thought" images before the answer: not results.
        images = [
            part["inlineData"]
            for part in parts
            if isinstance(part, dict) and "inlineData" in part and not part.get("thought")
        ]
        texts = [str(part["text"]) for part in parts if isinstance(part, dict) and part.get("text")]
        reason = (candidate or {}).get("finishReason")
        if reason in _GEMINI_FILTERED or not images:
            warnings.append(" ".join(texts) or f"candidate {index} finished with {reason or 'no image'}")
            continue
        kept += [_decode(image.get("data"), f"candidates[{index}] image") for image in images]
    return _unseeded(kept, requested, warnings, usage)
