"""Gemini image models on Vertex AI (shared/specs/gemini-image-on-vertex.txt): the successors of
Imagen 3 customization, and the translation of an Imagen customization body into their
``generateContent`` requests.

Gemini has no reference-image fields: each reference becomes an image part introduced by a
text part that says which image it is and what it is for, and the prompt's ``[n]`` markers are
rewritten to name those images (sec.7). What Gemini cannot do (compute a mask or a control
image) is refused by name; what it can ignore harmlessly is a warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .errors import InvalidRequestError, UnsupportedError
from .specs import Lifecycle, ModelSpec, PixelBounds, Price, Range, RatioChoices, count

# Sec.1: each inline image at most 7 MB (the safe reading of "MB").
_MAX_INLINE_BYTES = 7_000_000
_SAMPLES = Range(1, 4, default=4)  # the Imagen body's sampleCount: one call per sample
# Our bound, as for Imagen (Google publishes no pixel limit).
_BOUNDS = PixelBounds(max_side=8192, max_pixels=33_554_432)
_FORMATS = ("png", "jpeg", "webp")
_THREE_X_RATIOS = ("1:1", "3:2", "2:3", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


def _gemini(name: str, title: str, max_images: int, ratios: tuple[str, ...], regions: tuple[str, ...],
            lifecycle: Lifecycle, price: Price) -> ModelSpec:  # fmt: skip
    return ModelSpec(
        name=name,
        model_id=name,
        family="gemini",
        title=title,
        tasks=("customization",),
        limits={"referenceImages": count(1, max_images), "sampleCount": _SAMPLES},
        sizes=RatioChoices(ratios),
        lifecycle=lifecycle,
        max_input_bytes=_MAX_INLINE_BYTES,
        input_bounds=_BOUNDS,
        input_formats=_FORMATS,
        regions=regions,
        input_rules=("PNG, JPEG or WebP", "at most 7 MB per image, sent inline"),
        price=price,
    )


# Per output image at 1K (billed as image tokens: $30, $120, $60 per 1M), as pydantic/genai-prices
# (prices checked 2026-07-22) and LiteLLM list them; larger images cost more.
def _tokens(usd: float, note: str) -> Price:
    return Price(usd, source="Vertex AI pricing via pydantic/genai-prices and LiteLLM", as_of=date(2026, 7, 22),
                 note=note)  # fmt: skip


GEMINI_MODELS: tuple[ModelSpec, ...] = (
    _gemini(
        "gemini-3.1-flash-image",
        "Google Gemini 3.1 Flash Image",
        14,
        (*_THREE_X_RATIOS, "1:4", "4:1", "1:8", "8:1", "9:21"),
        ("global",),  # the only location listed
        Lifecycle("active", launched=date(2026, 5, 28), source="Vertex model page (V-31FI)"),
        _tokens(0.067, "0.045 at 0.5K, 0.101 at 2K, 0.151 at 4K"),
    ),
    _gemini(
        "gemini-3-pro-image",
        "Google Gemini 3 Pro Image",
        14,
        _THREE_X_RATIOS,
        ("global", "us-central1", "us-east1"),  # the rest of the US list is UNCONFIRMED
        Lifecycle("active", launched=date(2026, 5, 28), source="Vertex model page (V-3PI)"),
        _tokens(0.134, "0.24 at 4K"),
    ),
    _gemini(
        "gemini-2.5-flash-image",
        "Google Gemini 2.5 Flash Image",
        3,
        _THREE_X_RATIOS,
        ("global", "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west4",
         "europe-central2", "europe-north1", "europe-southwest1", "europe-west1", "europe-west4", "europe-west8"),
        Lifecycle(
            "active",
            launched=date(2025, 10, 2),
            successor="gemini-3.1-flash-image",
            source="Vertex model page (V-25FI); ai.google.dev deprecations",
            note="retires 2026-10-02 on the Gemini API; the Vertex date is UNCONFIRMED",
        ),
        _tokens(0.039, "1,290 image tokens at $30 per 1M"),
    ),
)  # fmt: skip

_COMPUTED_MASK_MODES = ("MASK_MODE_BACKGROUND", "MASK_MODE_FOREGROUND", "MASK_MODE_SEMANTIC")
_SUBJECT_KINDS = {
    "SUBJECT_TYPE_PERSON": "person",
    "SUBJECT_TYPE_ANIMAL": "animal",
    "SUBJECT_TYPE_PRODUCT": "product",
    "SUBJECT_TYPE_DEFAULT": "subject",
}
_CONTROL_KINDS = {
    "CONTROL_TYPE_CANNY": "edge map",
    "CONTROL_TYPE_SCRIBBLE": "scribble",
    "CONTROL_TYPE_FACE_MESH": "face mesh",
}
_MARKER = re.compile(r"\[(\d+)\]")
# The one-word languages Gemini reads as written; any other setting changes nothing either.
_PLAIN_LANGUAGES = ("auto", "en")


@dataclass(frozen=True)
class GeminiRequest:
    """The ``generateContent`` bodies for one customization request (one per sample)."""

    bodies: list[dict[str, Any]]
    warnings: list[str]


def gemini_request(body: Mapping[str, Any], spec: ModelSpec) -> GeminiRequest:
    """Translate a validated Imagen customization body (``build_customization_request``'s) for ``spec``."""
    instance = body["instances"][0]
    parameters = body.get("parameters") or {}
    references = sorted(enumerate(instance["referenceImages"]), key=lambda item: item[1]["referenceId"])
    _refuse_what_gemini_cannot_do(references, parameters, spec)

    parts: list[dict[str, Any]] = []
    numbers: dict[int, list[int]] = {}
    for number, (_, reference) in enumerate(references, start=1):
        numbers.setdefault(reference["referenceId"], []).append(number)
        parts.append({"text": _introduce(number, reference)})
        data = reference["referenceImage"]["bytesBase64Encoded"]
        parts.append({"inlineData": {"mimeType": _mime_type(data), "data": data}})
    prompt = _MARKER.sub(lambda match: _name_images(numbers.get(int(match[1]))) or match[0], instance["prompt"])
    if parameters.get("negativePrompt"):
        prompt += f"\nAvoid: {parameters['negativePrompt']}."
    parts.append({"text": prompt})

    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"], "candidateCount": 1}
    if parameters.get("aspectRatio"):
        config["imageConfig"] = {"aspectRatio": parameters["aspectRatio"]}
    samples = parameters.get("sampleCount") or int(_SAMPLES.default or 1)
    seed = parameters.get("seed")
    bodies = []
    for index in range(samples):
        generation = config if seed is None else {**config, "seed": _sample_seed(seed, index)}
        bodies.append({"contents": [{"role": "user", "parts": parts}], "generationConfig": generation})
    return GeminiRequest(bodies, _warnings(references, parameters))


def _sample_seed(seed: int, index: int) -> int:
    """Sample ``index``'s seed: ``seed + index``, wrapping to 0 past the largest seed rather than
    overflowing generationConfig.seed's int32 (a request's seeds stay distinct and repeatable)."""
    from .customization import SEED

    return (seed + index) % (int(SEED.max) + 1)


def _refuse_what_gemini_cannot_do(references: list[tuple[int, dict]], parameters: Mapping[str, Any],
                                  spec: ModelSpec) -> None:  # fmt: skip
    details = []
    for index, reference in references:
        path = f"instances[0].referenceImages[{index}]"
        mask = reference.get("maskImageConfig") or {}
        if mask.get("maskMode") in _COMPUTED_MASK_MODES:
            details.append({"field": f"{path}.maskImageConfig.maskMode",
                            "message": f"{spec.name} cannot compute a mask: send the mask image "
                                       "(MASK_MODE_USER_PROVIDED)"})  # fmt: skip
        control = reference.get("controlImageConfig") or {}
        if control.get("enableControlImageComputation"):
            details.append({"field": f"{path}.controlImageConfig.enableControlImageComputation",
                            "message": f"{spec.name} cannot compute a control image: send it"})  # fmt: skip
    if details:
        raise UnsupportedError.from_details(details)
    ratio = parameters.get("aspectRatio")
    if ratio and isinstance(spec.sizes, RatioChoices) and ratio not in spec.sizes.ratios:
        raise InvalidRequestError.for_field(
            "parameters.aspectRatio", f"must be one of {', '.join(spec.sizes.ratios)} for {spec.name}"
        )


def _introduce(number: int, reference: Mapping[str, Any]) -> str:
    kind = reference["referenceType"]
    if kind == "REFERENCE_TYPE_SUBJECT":
        config = reference.get("subjectImageConfig") or {}
        what = _SUBJECT_KINDS.get(config.get("subjectType", ""), "subject")
        return (f"Image {number} shows the {what} to depict: {config.get('subjectDescription', '')}. "
                "Keep its features unchanged.")  # fmt: skip
    if kind == "REFERENCE_TYPE_STYLE":
        description = (reference.get("styleImageConfig") or {}).get("styleDescription")
        return f"Image {number} is a style reference{f' ({description})' if description else ''}: render in its style."
    if kind == "REFERENCE_TYPE_CONTROL":
        control = _CONTROL_KINDS.get((reference.get("controlImageConfig") or {}).get("controlType", ""), "control")
        return f"Image {number} is a {control} image: keep its layout and shapes."
    if kind == "REFERENCE_TYPE_MASK":
        return f"Image {number} is a mask: the white area of image {number} marks the region to change."
    return f"Image {number} is the image to edit."


def _name_images(numbers: list[int] | None) -> str:
    if not numbers:
        return ""
    if len(numbers) == 1:
        return f"(image {numbers[0]})"
    return f"(images {', '.join(map(str, numbers[:-1]))} and {numbers[-1]})"


def _mime_type(data: str) -> str:
    from .images import MIME_TYPES, decode_base64_image

    return MIME_TYPES[decode_base64_image(data, _MAX_INLINE_BYTES).info.format]


def _warnings(references: list[tuple[int, dict]], parameters: Mapping[str, Any]) -> list[str]:
    warnings = []
    if parameters.get("language") not in (None, *_PLAIN_LANGUAGES):
        warnings.append("language is not sent: Gemini reads the prompt in the language it is written in")
    if any((reference.get("maskImageConfig") or {}).get("dilation") is not None for _, reference in references):
        warnings.append("maskImageConfig.dilation is ignored: Gemini edits the region the mask shows")
    return warnings
