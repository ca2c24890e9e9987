"""Validated request -> the exact native InvokeModel bodies of each model family.

Only fields the caller set are sent: the model applies its own documented defaults, and the
bodies match the spec examples byte for byte.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic.alias_generators import to_camel

from .images import InlineImage, S3Image, inverted_mask
from .schema import TaskRequest
from .specs import ModelSpec

# taskType and the name of its parameter object (Nova Canvas and Titan share the format).
TASK_TYPES = {
    "text-to-image": ("TEXT_IMAGE", "textToImageParams"),
    "color-guided": ("COLOR_GUIDED_GENERATION", "colorGuidedGenerationParams"),
    "image-variation": ("IMAGE_VARIATION", "imageVariationParams"),
    "inpainting": ("INPAINTING", "inPaintingParams"),
    "outpainting": ("OUTPAINTING", "outPaintingParams"),
    "background-removal": ("BACKGROUND_REMOVAL", "backgroundRemovalParams"),
}
_GENERATION_CONFIG = ("number_of_images", "width", "height", "quality", "cfg_scale", "seed")
_SERVICE_FIELDS = ("model", "mode", "response_format", "webhook")
_TASK_TYPE_NAMES = {"prompt": "text", "negative_prompt": "negativeText"}


def _complement(value: float) -> float:
    # SD3.5's strength runs the other way from similarityStrength (1 ignores the input).
    return round(1 - value, 6)


# The conversions a Stability native body names (specs.NativeBody.convert).
CONVERTERS = {
    "first": lambda images: images[0],
    "complement": _complement,
    "invert_mask": lambda mask: inverted_mask(mask),
}


def _set_fields(request: TaskRequest) -> list[tuple[str, Any]]:
    """(name, value) of the model-facing fields the caller set, in declaration order."""
    return [
        (name, getattr(request, name))
        for name in type(request).model_fields
        if name in request.model_fields_set and name not in _SERVICE_FIELDS and getattr(request, name) is not None
    ]


def _native(value: Any) -> Any:
    if isinstance(value, InlineImage):
        return value.b64
    if isinstance(value, S3Image):
        raise ValueError(f"{value.uri} must be resolved before the body is built")
    if isinstance(value, list):
        return [_native(item) for item in value]
    return value


def task_type_body(task: str, request: TaskRequest) -> dict[str, Any]:
    """Nova Canvas / Titan: ``{"taskType", "<task>Params", "imageGenerationConfig"}``."""
    task_type, params_key = TASK_TYPES[task]
    params: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for name, value in _set_fields(request):
        target = config if name in _GENERATION_CONFIG else params
        target[_TASK_TYPE_NAMES.get(name, to_camel(name))] = _native(value)
    body: dict[str, Any] = {"taskType": task_type, params_key: params}
    if config:
        body["imageGenerationConfig"] = config
    return body


def stability_bodies(task: str, request: TaskRequest, spec: ModelSpec) -> list[dict[str, Any]]:
    """Exactly the native body's fields: Bedrock refuses any other key. A Stability model makes
    one image per call, so ``numberOfImages`` fans out into calls with distinct seeds."""
    native = spec.native[task]
    given = {to_camel(name): value for name, value in _set_fields(request)}
    body: dict[str, Any] = dict(native.constants)
    for field, name in native.fields.items():
        value = given.get(field)
        if value is None and field in native.always:
            value = spec.limits[field].default
        if value is None:
            continue
        converter = native.convert.get(field)
        body[name] = _native(CONVERTERS[converter](value) if converter else value)
    count = getattr(request, "number_of_images", None) or 1
    if count == 1:
        return [body]
    seeds = fanout_seeds(getattr(request, "seed", None), count, int(spec.limits["seed"].max))
    return [{**body, "seed": seed} for seed in seeds]


def fanout_seeds(seed: int | None, count: int, seed_max: int) -> list[int]:
    """``count`` distinct seeds in 1..seed_max, consecutive from ``seed``.

    Seed 0 means "random" to the model, so it is never sent in a fan-out: identical calls
    would not be reproducible, and distinct explicit seeds are.
    """
    start = seed if seed else 1 + secrets.randbelow(seed_max)
    return [(start - 1 + offset) % seed_max + 1 for offset in range(count)]


def native_bodies(task: str, request: TaskRequest, spec: ModelSpec) -> list[dict[str, Any]]:
    if task in spec.native:
        return stability_bodies(task, request, spec)
    return [task_type_body(task, request)]
